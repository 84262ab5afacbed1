#!/usr/bin/env node
'use strict';
// secr-vercel: writes .env.local (mode 0600) from the environment of the
// service token in SECR_TOKEN, in the encoding Next.js reads back exactly.
// Use it before the build: "build": "secr-vercel && next build".
// All decryption happens in the secr binary; this only runs it.

const { spawnSync } = require('child_process');

if (!process.env.SECR_TOKEN && !process.env.SECR_TOKEN_FILE) {
  process.stderr.write(
    'secr-vercel: error: SECR_TOKEN is not set\n' +
      "secr-vercel: hint: create one with 'secr tokens create --env production' and add it in Vercel's\n" +
      'secr-vercel: hint: Project Settings → Environment Variables as SECR_TOKEN (and SECR_API_URL)\n',
  );
  process.exit(1);
}

let bin;
try {
  bin = require('@secr/cli').resolveBinary();
} catch (err) {
  process.stderr.write(err.message + '\n');
  process.exit(1);
}

const output = process.argv[2] || '.env.local';
const r = spawnSync(bin, ['secrets', 'export', '--format', 'nextjs', '--output', output], { stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`secr-vercel: error: cannot start ${bin}: ${r.error.message}\n`);
  process.exit(1);
}
if (r.status === 0) {
  process.stderr.write(`secr-vercel: wrote ${output} (mode 0600)\n`);
}
process.exit(r.status === null ? 1 : r.status);
