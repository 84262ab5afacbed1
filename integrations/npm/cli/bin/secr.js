#!/usr/bin/env node
'use strict';
// The `secr` command installed by npm: runs the platform's secr binary,
// forwards signals (each reaches the binary once), and exits with its
// status (128+N if signal N killed it).

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

// hasTerminal reports whether this process has a controlling terminal (on
// Windows: a console on stdin, where Ctrl-C reaches every process on it).
function hasTerminal() {
  if (process.platform === 'win32') {
    return Boolean(process.stdin.isTTY);
  }
  const fs = require('fs');
  try {
    fs.closeSync(fs.openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

// Without a terminal (CI, containers, GNU timeout, services) the binary runs
// in a process group of its own, so a signal to the launcher's whole group
// (`kill -TERM -- -PGID`, a CI runner ending the job) reaches it once: from
// the launcher, which forwards every signal it gets. On a terminal the
// binary stays in the terminal's foreground process group, as a program
// with a controlling terminal must: Ctrl-C and Ctrl-\ reach the whole group,
// the binary included, so forwarding those too would deliver them twice.
const terminal = hasTerminal();
const detached = !terminal && process.platform !== 'win32';
const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit', detached });

const fromTerminal = terminal ? new Set(['SIGINT', 'SIGQUIT']) : new Set();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']) {
  try {
    process.on(sig, () => {
      if (!fromTerminal.has(sig) && child.exitCode === null && child.signalCode === null) {
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
