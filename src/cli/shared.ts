/**
 * What the command modules share: exit codes, the stop-on-signal wrapper, option parsers and help
 * texts. Loaded by `--help`, so it imports only light modules; heavy ones are imported inside
 * functions (see README-split.txt).
 */

import { InvalidArgumentError } from '@commander-js/extra-typings';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import type { InconclusivePolicy } from '../claims/claims.js';
import type { EngineOverride } from '../config/resolve.js';
// commander's InvalidArgumentError is for option parsers; this one is an exit-2 error of ours.
import { InvalidArgumentError as BadArgumentError } from '../core/errors.js';
import { type BACKENDS, type PRECISIONS, TORCH_DEVICE_PATTERN } from '../engine/engine.js';
import type { StopSignal } from '../harness/sweep.js';
import { QUEUE_KEY_ENV } from '../queue/defaults.js';

export const EXIT = {
  ok: 0,
  claimsNotMet: 1,
  badInput: 2,
  runtimeFailure: 3,
  /** Runs left unfinished because another process holds them: run the command again later. */
  runningElsewhere: 4,
  /**
   * No gating claim contradicted or missing, but some could not be decided either way (under the
   * `inconclusive: exit-code` policy; `pass` exits 0 instead, `fail` 1).
   */
  inconclusive: 5,
  interrupted: 130, // the shell's code for a process stopped by Ctrl-C
} as const;

/**
 * What an inconclusive gate exits with (suite field `inconclusive`, CLI `--inconclusive`):
 * `exit-code` its own code ({@link EXIT}.inconclusive), `pass` 0, `fail` 1. The claims module's
 * list, repeated because `--help` must not load that module; `satisfies` keeps the two in step.
 */
export const INCONCLUSIVE_POLICIES = [
  'exit-code',
  'pass',
  'fail',
] as const satisfies readonly InconclusivePolicy[];

/**
 * The exit code of a gate: a run that failed is a runtime failure (3) and runs left to another
 * process mean "run again later" (4), before what the verdict says — fail 1, pass 0, inconclusive
 * per the policy.
 */
export function gateExitCode(gate: {
  readonly outcome: 'pass' | 'fail' | 'inconclusive';
  readonly policy: InconclusivePolicy;
  readonly runFailed: boolean;
  readonly runningElsewhere: boolean;
}): number {
  if (gate.runFailed) return EXIT.runtimeFailure;
  if (gate.runningElsewhere) return EXIT.runningElsewhere;
  if (gate.outcome === 'pass') return EXIT.ok;
  if (gate.outcome === 'fail') return EXIT.claimsNotMet;
  switch (gate.policy) {
    case 'exit-code':
      return EXIT.inconclusive;
    case 'pass':
      return EXIT.ok;
    case 'fail':
      return EXIT.claimsNotMet;
  }
}

/** The exit code of a command stopped by `signal`: 128 + its number (130 Ctrl-C, 143 SIGTERM). */
export function exitCodeOf(signal: StopSignal): number {
  return 128 + os.constants.signals[signal];
}

/**
 * Runs `body` with SIGINT (Ctrl-C), SIGTERM and SIGHUP stopping the command: `message` goes to
 * stderr and the process exits with {@link exitCodeOf} the signal. Training gives the event loop a
 * turn after every epoch, so a run stops at the end of the epoch it is in; everything stored
 * (checkpoint, metrics) stays, and the same command resumes it (as after kill -9, which is
 * what to send for an immediate stop).
 */
export async function stoppable<T>(message: string, body: () => Promise<T>): Promise<T> {
  const { STOP_SIGNALS } = await import('../harness/sweep.js');
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal === 'SIGINT' ? 'interrupted' : signal}: ${message}\n`);
    process.exit(exitCodeOf(signal as StopSignal));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  try {
    return await body();
  } finally {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, stop);
  }
}

export function parseSparsity(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value < 1)) {
    throw new InvalidArgumentError('expected a sparsity in [0, 1), such as 0.9.');
  }
  return value;
}

export function parseCount(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError('expected an integer >= 0.');
  }
  return value;
}

export function parsePositive(text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value))
    throw new InvalidArgumentError('expected a positive number.');
  return value;
}

/**
 * --alpha: each claim's test is one-sided at it, so it lies in (0, 0.5); at 0.5 or above the
 * 1 − 2α intervals turn inside out and a claim and its opposite could both be significant.
 */
export function parseAlpha(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value > 0 && value < 0.5))
    throw new InvalidArgumentError(
      'expected a level in (0, 0.5), such as 0.05 (each test is one-sided at it).',
    );
  return value;
}

export function parseDevice(text: string): string {
  if (!TORCH_DEVICE_PATTERN.test(text))
    throw new InvalidArgumentError('expected cpu, cuda, cuda:N or mps.');
  return text;
}

/** --backend, --device and --precision as an engine override for every run of a command. */
export function engineOverride(options: {
  backend?: (typeof BACKENDS)[number];
  device?: string;
  precision?: (typeof PRECISIONS)[number];
}): EngineOverride {
  return { backend: options.backend, device: options.device, precision: options.precision };
}

/**
 * Before a command does its work: a file it will write at the end can be written — its folder is
 * made if missing, and a probe file is created and removed beside it (permission bits alone would
 * not say: root passes them on a folder it still cannot write). `flag` names the option in the
 * error (exit 2).
 */
export function checkOutputFile(file: string, flag: string): void {
  const probe = `${file}.${process.pid}.probe`;
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true)
      throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(probe, '');
  } catch (error) {
    throw new BadArgumentError(
      flag,
      'a file in a writable directory',
      file,
      `${flag} ${file}: cannot write there (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  rmSync(probe, { force: true });
}

export const print = (text: string) => process.stdout.write(`${text}\n`);

export const QUEUE_KEY_HELP = `file holding the queue key that signs results (default: $${QUEUE_KEY_ENV}); the same on the coordinator and every worker`;

export const WORKER_STORE_HELP =
  "the workers' shared store as this machine mounts it: copy each run's networks from it (checked against the worker's signed digests); without it, runs come without networks";
