#!/usr/bin/env node
// Launcher. In a repository checkout (src/ present) it runs the TypeScript source through tsx, so
// `npx cyclesparse` never runs a stale build; in the published package it runs dist/. The source
// runs in a child process started with `--import tsx` so the sweep's worker processes, which
// inherit the parent's execArgv, can load TypeScript too.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
if (existsSync(source)) {
  const child = spawn(process.execPath, ['--import', 'tsx', source, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // The terminal sends Ctrl-C to the whole process group; the child handles it and exits.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
} else {
  await import('../dist/cli/main.js');
}
