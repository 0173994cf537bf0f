/**
 * One queue job's training, in a child process of the worker (forked with an IPC channel): a
 * timed-out job can be killed without taking the worker down, and each run has its own wasm
 * heap. The run goes through the worker's store, so a retried job resumes from its checkpoint.
 * If the worker dies (SIGKILL), this process exits with it: no orphan keeps training a job that
 * the queue hands to another worker.
 */

import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../config/schema.js';
import { executeRun, type ExecuteOutcome } from '../harness/execute.js';
import { Store } from '../store/store.js';
import type { EpochRecord } from '../methods/runner.js';

export interface CellRequest {
  readonly config: RunConfig;
  readonly store: string;
}

export type CellReply =
  | (Extract<ExecuteOutcome, { state: 'finished' | 'diverged' }> & {
      readonly metrics: EpochRecord[];
    })
  | Exclude<ExecuteOutcome, { state: 'finished' | 'diverged' }>;

process.on('disconnect', () => process.exit(1));
// Training blocks this thread's event loop (TF.js kernels run synchronously), so 'disconnect'
// would only be seen after the run. A watchdog thread notices the worker's death (this
// process is re-parented) within half a second and kills the process; the run's lock goes
// stale with it and the job's next worker resumes from the checkpoint.
new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData.parent) process.kill(workerData.pid, 'SIGKILL'); }, 500);`,
  { eval: true, workerData: { parent: process.ppid, pid: process.pid } },
).unref();
process.once('message', (message) => {
  const request = message as CellRequest;
  const store = new Store(request.store);
  void executeRun(store, request.config).then(
    (outcome) => {
      let reply: CellReply;
      if (outcome.state === 'finished' || outcome.state === 'diverged') {
        reply = { ...outcome, metrics: store.metrics(outcome.id) };
      } else {
        // Not finished or diverged (TS cannot narrow a union discriminant in the else branch).
        reply = outcome as Exclude<ExecuteOutcome, { state: 'finished' | 'diverged' }>;
      }
      process.send!(reply, () => process.exit(0));
    },
    (error: unknown) => {
      process.send!(
        {
          state: 'failed',
          id: '',
          error: (error as Error).message,
          kind: 'runtime',
        } satisfies CellReply,
        () => process.exit(0),
      );
    },
  );
});
