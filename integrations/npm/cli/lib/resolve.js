'use strict';
// Finds the secr binary of the platform package that npm installed beside
// this launcher. The packages ship the binary itself: no install script and
// no download, so installs work offline, behind proxies and with npm's
// default of not running dependency scripts.

const PLATFORMS = {
  'linux x64': '@secr/cli-linux-x64',
  'linux arm64': '@secr/cli-linux-arm64',
  'darwin x64': '@secr/cli-darwin-x64',
  'darwin arm64': '@secr/cli-darwin-arm64',
  'win32 x64': '@secr/cli-win32-x64',
};

const version = require('../package.json').version;

function platformPackage() {
  return PLATFORMS[`${process.platform} ${process.arch}`];
}

// resolveBinary returns the path of the secr binary, or throws an Error
// whose message says what to install and why.
function resolveBinary() {
  if (process.env.SECR_BINARY_PATH) {
    return process.env.SECR_BINARY_PATH;
  }
  const pkg = platformPackage();
  if (!pkg) {
    throw new Error(
      `secr: error: no secr binary is published for ${process.platform}/${process.arch}\n` +
        `secr: hint: supported: ${Object.keys(PLATFORMS).join(', ')}; or build secr from source and set SECR_BINARY_PATH`,
    );
  }
  const exe = process.platform === 'win32' ? 'secr.exe' : 'secr';
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch {
    const install = isGlobalInstall() ? `npm install -g ${pkg}@${version}` : `npm install ${pkg}@${version}`;
    throw new Error(
      `secr: error: the package ${pkg}, which holds the secr binary for this platform, is not installed\n` +
        `secr: hint: it is an optional dependency of @secr/cli; npm leaves it out with --omit=optional, or when the\n` +
        `secr: hint: lockfile was made on another platform. Install it: ${install}`,
    );
  }
}

// isGlobalInstall reports whether this launcher was installed with
// `npm install -g`: a project's node_modules sits beside the project's
// package.json, the global one (<prefix>/lib/node_modules, or
// %APPDATA%\npm\node_modules on Windows) has none beside it.
function isGlobalInstall() {
  const path = require('path');
  const fs = require('fs');
  // __dirname is <node_modules>/@secr/cli/lib.
  const nodeModules = path.resolve(__dirname, '..', '..', '..');
  if (path.basename(nodeModules) !== 'node_modules') {
    return false;
  }
  return !fs.existsSync(path.join(path.dirname(nodeModules), 'package.json'));
}

module.exports = { resolveBinary, platformPackage, isGlobalInstall, PLATFORMS };
