#!/usr/bin/env node
// Launcher. In a repository checkout (src/ present) it runs the TypeScript source through tsx, so
// `npx cyclesparse` never runs a stale build; in the published package it runs dist/.
//
// The source runs in this process: tsx's loader is registered here, then the CLI is imported.
// There is no child process, so Ctrl-C, SIGTERM and kill -9 reach the CLI itself, and its exit
// code is the command's. Processes the CLI starts (the sweep's pool, a queue job's cell) inherit
// `process.execArgv`: the loader is added there so they load TypeScript the same way.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  // Resolved from here, not from the working directory: works wherever the command is run.
  const loader = import.meta.resolve('tsx');
  await import(loader);
  process.execArgv.push('--import', loader);
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
