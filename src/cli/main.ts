#!/usr/bin/env node
/**
 * The cyclesparse command line. Thin: every command parses its options, calls library functions
 * and prints what they return. Each command lives in commands/<name>.ts; this file is the program
 * around them (see README-split.txt).
 *
 * Exit codes: 0 success; 1 claims not met (gate, reproduce: a gating claim contradicted, missing or
 * diverged, or a --write-baseline refused); 2 bad input (configuration, options, data files,
 * unavailable backend); 3 runtime failure (a run failed); 4 runs left unfinished because another
 * process is running them (3, then 4, come before 1 and 5); 5 gate inconclusive (no gating claim
 * contradicted, missing or diverged, some undecided; `--inconclusive pass|fail` or the suite's
 * `inconclusive:` makes it 0 or 1); 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (128 +
 * the signal's number; a re-run continues).
 */

import { Command } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import { CyclesparseError } from '../core/errors.js';
import { DatasetFileError } from '../data/files.js';
import { BackendUnavailableError } from '../engine/engine.js';
import { register as analyze } from './commands/analyze.js';
import { register as download } from './commands/download.js';
import { register as exportRuns } from './commands/export.js';
import { register as gate } from './commands/gate.js';
import { register as methods } from './commands/methods.js';
import { register as presets } from './commands/presets.js';
import { register as query } from './commands/query.js';
import { register as report } from './commands/report.js';
import { register as reproduce } from './commands/reproduce.js';
import { register as run } from './commands/run.js';
import { register as schema } from './commands/schema.js';
import { register as selfCheck } from './commands/self-check.js';
import { register as status } from './commands/status.js';
import { register as sweep } from './commands/sweep.js';
import { register as verify } from './commands/verify.js';
import { register as worker } from './commands/worker.js';
import { EXIT } from './shared.js';

export { EXIT, exitCodeOf } from './shared.js';

// `cyclesparse … | head -1`: the reader is gone, so what is left to print has nowhere to go.
// Stop quietly, as other command-line tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit();
  });

// package.json sits two folders up from both src/cli/main.ts and dist/cli/main.js.
const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

const program = new Command()
  .name('cyclesparse')
  .description('Cyclic sparse training (arXiv 2406.02773): methods, verification and statistics')
  .version(version, '-V, --version', 'print the cyclesparse version')
  // A mistake gets its one-line reason and a pointer to the help, not the whole help.
  .showHelpAfterError('(see `cyclesparse --help`)')
  // Before any .command(): subcommands inherit it, so their parse errors exit 2 (bad input),
  // not commander's own exit 1, which here means "claims not met".
  .exitOverride()
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 claims not met (a gating claim contradicted, missing or diverged; a --write-baseline refused), 2 bad input, 3 runtime failure, 4 runs left to another process that is running them (3, then 4, before 1 and 5), 5 gate inconclusive (--inconclusive pass|fail makes it 0|1), 130 interrupted (Ctrl-C; 143 SIGTERM, 129 SIGHUP).',
  );

for (const register of [
  run,
  sweep,
  gate,
  reproduce,
  report,
  analyze,
  download,
  worker,
  status,
  exportRuns,
  query,
  schema,
  presets,
  methods,
  verify,
  selfCheck,
])
  register(program);
for (const command of program.commands)
  command.showHelpAfterError(`(see \`cyclesparse ${command.name()} --help\`)`);

try {
  await program.parseAsync();
} catch (error) {
  const code = (error as { code?: string }).code;
  if (
    code === 'commander.helpDisplayed' ||
    code === 'commander.version' ||
    code === 'commander.help'
  ) {
    process.exitCode = EXIT.ok;
  } else if (typeof code === 'string' && code.startsWith('commander.')) {
    process.exitCode = EXIT.badInput; // commander printed the message already
  } else if (
    // ConfigError, ArtifactError and InvalidArgumentError are CyclesparseErrors.
    error instanceof CyclesparseError ||
    error instanceof DatasetFileError ||
    error instanceof BackendUnavailableError
  ) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = EXIT.badInput;
  } else {
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT.runtimeFailure;
  }
}
