'use strict';
// @secr/netlify-plugin: before the build, fetch the secr environment that
// matches Netlify's CONTEXT and put every value into the build's
// environment. Values are decrypted by the secr binary and never printed.

const { execFile } = require('child_process');

const CONTEXTS = ['production', 'deploy-preview', 'branch-deploy', 'dev'];

function runSecr(bin, args, env) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        // secr's stderr says what went wrong and never holds a value.
        const msg = String(stderr).trim() || err.message;
        reject(new Error(msg));
        return;
      }
      resolve(stdout);
    });
  });
}

module.exports = {
  async onPreBuild({ netlifyConfig, inputs, utils }) {
    const context = process.env.CONTEXT || 'dev';
    if (!process.env.SECR_TOKEN && !process.env.SECR_TOKEN_FILE) {
      return utils.build.failBuild(
        'secr: SECR_TOKEN is not set. Create a service token with `secr tokens create --env <env>` and add it in ' +
          'Site configuration → Environment variables as SECR_TOKEN (and SECR_API_URL).',
      );
    }
    const env = CONTEXTS.includes(context) ? inputs[context] : inputs['branch-deploy'];
    let bin;
    try {
      bin = require('@secr/cli').resolveBinary();
    } catch (err) {
      return utils.build.failBuild(`secr: ${err.message}`);
    }
    let values;
    try {
      const childEnv = { ...process.env, SECR_ENV: env };
      const out = await runSecr(bin, ['secrets', 'export', '--format', 'json'], childEnv);
      try {
        values = JSON.parse(out);
      } catch {
        // JSON.parse's message quotes the input, which holds values.
        throw new Error('secr printed something that is not JSON');
      }
    } catch (err) {
      return utils.build.failBuild(`secr: could not load environment "${env}" for Netlify context "${context}": ${err.message}`);
    }
    const names = Object.keys(values);
    for (const name of names) {
      netlifyConfig.build.environment[name] = values[name];
      process.env[name] = values[name];
    }
    console.log(`secr: loaded ${names.length} secrets from environment "${env}" for context "${context}"`);
  },
};
