/**
 * A task of the local sweep pool (tinypool loads this file in each pool process): executes one
 * cell in that process (a crashed or leaking run cannot take the sweep down, and each process
 * has its own wasm heap) and returns how it ended.
 */

import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../config/schema.js';
import { createSinks } from '../sinks/open.js';
import type { SinkSpec } from '../sinks/sink.js';
import { Store } from '../store/store.js';
import { executeRun, type ExecuteOutcome } from './execute.js';

// Training blocks this process's event loop, so it would not notice its sweep dying (kill -9):
// a watchdog thread sees it re-parented within half a second and kills it, as the queue's cell
// process does; its run resumes from the checkpoint next time. Only in a pool process (forked
// with an IPC channel), not where this module is merely imported.
if (process.send !== undefined)
  new Worker(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => { if (process.ppid !== workerData.parent) process.kill(workerData.pid, 'SIGKILL'); }, 500);`,
    { eval: true, workerData: { parent: process.ppid, pid: process.pid } },
  ).unref();

export interface CellTask {
  readonly config: RunConfig;
  readonly store: string;
  /** `--log` sinks: each cell process streams its own run's metrics to them. */
  readonly log?: readonly SinkSpec[];
}

/** What goes back to the parent: the outcome without the (large) result. */
export type CellOutcome =
  | {
      readonly state: 'finished' | 'diverged';
      readonly id: string;
      readonly resumed: boolean;
      readonly skipped: boolean;
    }
  /** Running elsewhere, or failed (with whether the input or the runtime was at fault). */
  | Exclude<ExecuteOutcome, { state: 'finished' | 'diverged' }>
  /** Stopped by Ctrl-C (set by the pool, never by a task): the store resumes it next time. */
  | { readonly state: 'interrupted'; readonly id: string };

export function summarize(outcome: ExecuteOutcome): CellOutcome {
  if (outcome.state === 'finished' || outcome.state === 'diverged') {
    return {
      state: outcome.state,
      id: outcome.id,
      resumed: outcome.resumed,
      skipped: outcome.skipped,
    };
  }
  return outcome;
}

export default async function runCell(task: CellTask): Promise<CellOutcome> {
  const sinks = createSinks(task.log ?? []);
  return summarize(
    await executeRun(new Store(task.store), task.config, undefined, {
      ...(sinks === undefined ? {} : { sinks }),
    }),
  );
}
