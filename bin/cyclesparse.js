#!/usr/bin/env node
// Launcher. In a repository checkout (src/ and tsx present) it runs the TypeScript source through
// tsx, so `npx cyclesparse` never runs a stale build; an installed package has no src/ and runs
// dist/, built by `npm run build` (the `prepare` script: on `npm pack` and installs from git).
//
// The source runs in this process: tsx's loader is registered here, then the CLI is imported.
// There is no child process, so Ctrl-C, SIGTERM and kill -9 reach the CLI itself, and its exit
// code is the command's. Processes the CLI starts (the sweep's pool, a queue job's cell) inherit
// `process.execArgv`: the loader is added there so they load TypeScript the same way.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

/** tsx, resolved from this package (not the working directory), or undefined without it. */
function tsxLoader() {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined; // a checkout installed without devDependencies: run dist/ if it is there
  }
}

const loader = existsSync(fileURLToPath(source)) ? tsxLoader() : undefined;
if (loader !== undefined) {
  await import(loader);
  process.execArgv.push('--import', loader);
  await import(source.href);
} else if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  process.stderr.write(
    `cyclesparse: ${fileURLToPath(new URL('..', import.meta.url))} has neither dist/ nor tsx to run src/: run \`npm install\` (or \`npm run build\`) there\n`,
  );
  process.exitCode = 2;
}
