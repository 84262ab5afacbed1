#!/usr/bin/env node
'use strict';
// The `secr` command installed by npm: runs the platform's secr binary,
// forwards signals, and exits with its status (128+N if signal N killed it).

const { spawn } = require('child_process');
const os = require('os');
const { resolveBinary } = require('../lib/resolve');

let bin;
try {
  bin = resolveBinary();
} catch (err) {
  process.stderr.write(err.message + '\n');
  process.exit(1);
}

const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit' });

// On a terminal, Ctrl-C and Ctrl-\ reach the whole foreground process group,
// the binary included: forwarding those too would deliver them twice.
const fromTerminal = process.stdin.isTTY ? new Set(['SIGINT', 'SIGQUIT']) : new Set();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']) {
  try {
    process.on(sig, () => {
      if (!fromTerminal.has(sig) && child.exitCode === null) {
        child.kill(sig);
      }
    });
  } catch {
    // Not every signal exists on every platform (Windows).
  }
}

child.on('error', (err) => {
  process.stderr.write(`secr: error: cannot start ${bin}: ${err.message}\n`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (signal) {
    process.exit(128 + (os.constants.signals[signal] || 0));
  }
  process.exit(code === null ? 1 : code);
});
