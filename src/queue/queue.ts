/**
 * Sweeps on BullMQ workers over Redis (the local process pool stays the default).
 *
 * - `enqueueSweep`: one job per cell, job id = run id, so submitting a sweep twice adds nothing;
 *   cells already finished in the coordinator's store are not enqueued at all. Attempts with
 *   exponential backoff; a per-job timeout travels in the job data.
 * - `startWorker`: runs jobs, each in a child process through the worker's own store (a retried
 *   job resumes from its checkpoint there). Input errors (bad config, missing data, unavailable
 *   backend) fail the job for good (`UnrecoverableError`); anything else is retried. A worker
 *   killed mid-job leaves its job locked until the lock expires; BullMQ then sees it stalled and
 *   hands it to another worker.
 * - `collectResults`: the coordinator writes each completed job's run (config, metrics, result,
 *   carried in the job's return value) into its store, exactly once (`Store.importRun`).
 */

import { fork } from 'node:child_process';
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import { Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { runConfigSchema, type RunConfig } from '../config/schema.js';
import { withEngine, type EngineOverride } from '../config/resolve.js';
import type { PlannedRun } from '../harness/plan.js';
import type { EpochRecord, PipelineResult } from '../methods/runner.js';
import { Store, type ImportOutcome } from '../store/store.js';
import type { CellReply, CellRequest } from './cell-process.js';
import { DEFAULT_QUEUE_NAME, redisOptions } from './connection.js';

export interface CellJobData {
  readonly id: string;
  readonly config: RunConfig;
  /** Kill the job's process and retry after this long (resuming from its checkpoint); 0 = never. */
  readonly timeoutMs: number;
}

export interface CellJobResult {
  readonly id: string;
  readonly state: 'finished' | 'diverged';
  /** The config the worker ran: the job's, with the worker's --backend override applied. */
  readonly config: RunConfig;
  readonly result: PipelineResult;
  readonly metrics: EpochRecord[];
  readonly worker: string;
  /** Continued from a checkpoint an earlier attempt left in the worker's store. */
  readonly resumed: boolean;
  /** Found already finished in the worker's store (an earlier attempt completed it). */
  readonly skipped: boolean;
}

export interface QueueAddress {
  readonly url: string;
  readonly name?: string;
}

export function openQueue(address: QueueAddress): Queue<CellJobData, CellJobResult> {
  const queue = new Queue<CellJobData, CellJobResult>(address.name ?? DEFAULT_QUEUE_NAME, {
    connection: redisOptions(address.url),
  });
  // Connection errors are retried by ioredis; report them instead of crashing on 'error'.
  queue.on('error', () => {});
  return queue;
}

export interface EnqueueOptions {
  /** BullMQ priority: 1 is the highest; 0 (default) = no priority, first in first out. */
  readonly priority?: number;
  readonly attempts?: number;
  /** First backoff delay; doubles with each attempt. */
  readonly backoffMs?: number;
  readonly timeoutMs?: number;
  /** The coordinator's store: cells finished there are not enqueued. */
  readonly store?: string;
}

export interface EnqueueSummary {
  readonly added: string[];
  /** Already in the queue under the same id (waiting, active, completed or failed). */
  readonly alreadyQueued: string[];
  readonly alreadyStored: string[];
}

export async function enqueueSweep(
  queue: Queue<CellJobData, CellJobResult>,
  plan: readonly PlannedRun[],
  options: EnqueueOptions = {},
): Promise<EnqueueSummary> {
  const store = options.store === undefined ? undefined : new Store(options.store);
  const alreadyStored: string[] = [];
  const candidates: PlannedRun[] = [];
  for (const run of plan) {
    const state = store?.status(run.id).state;
    if (state === 'finished' || state === 'diverged') alreadyStored.push(run.id);
    else candidates.push(run);
  }
  const existing = await Promise.all(candidates.map((run) => queue.getJob(run.id)));
  const fresh = candidates.filter((_, i) => existing[i] === undefined);
  await queue.addBulk(
    fresh.map((run) => ({
      name: 'cell',
      data: { id: run.id, config: run.config, timeoutMs: options.timeoutMs ?? 0 },
      opts: {
        jobId: run.id,
        ...(options.priority ? { priority: options.priority } : {}),
        attempts: options.attempts ?? 3,
        backoff: { type: 'exponential', delay: options.backoffMs ?? 5000 },
        // Results live in the completed job until collected; failed jobs keep their error.
        removeOnComplete: false,
        removeOnFail: false,
      },
    })),
  );
  return {
    added: fresh.map((run) => run.id),
    alreadyQueued: candidates.filter((_, i) => existing[i] !== undefined).map((run) => run.id),
    alreadyStored,
  };
}

export interface WorkerOptions extends QueueAddress {
  readonly store: string;
  readonly concurrency?: number;
  /** Run every job on this engine instead of the one its config names. */
  readonly engine?: EngineOverride;
  /** How long a job's lock lasts without renewal: a killed worker's job is retried after it. */
  readonly lockDurationMs?: number;
  /** How often the worker checks for stalled jobs. */
  readonly stalledIntervalMs?: number;
  readonly log?: (line: string) => void;
}

const cellProcess = new URL(
  import.meta.url.endsWith('.ts') ? './cell-process.ts' : './cell-process.js',
  import.meta.url,
);

/** Runs one cell in a child process; rejects on a crash or a timeout. */
function runInChild(
  request: CellRequest,
  timeoutMs: number,
  children: Set<ReturnType<typeof fork>>,
): Promise<CellReply> {
  return new Promise((resolve, reject) => {
    // In a checkout the child is TypeScript: load it through tsx unless the parent already does.
    const execArgv =
      cellProcess.pathname.endsWith('.ts') && !process.execArgv.some((arg) => arg.includes('tsx'))
        ? [...process.execArgv, '--import', 'tsx']
        : process.execArgv;
    const child = fork(cellProcess, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
    });
    children.add(child);
    let reply: CellReply | undefined;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            child.kill('SIGKILL');
            reject(
              new Error(
                `timed out after ${(timeoutMs / 1000).toFixed(0)} s (the retry resumes from the checkpoint)`,
              ),
            );
          }, timeoutMs)
        : undefined;
    child.on('message', (message) => {
      reply = message as CellReply;
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (timer !== undefined) clearTimeout(timer);
      if (reply !== undefined) resolve(reply);
      else
        reject(
          new Error(`the training process ended without a result (${signal ?? `exit ${code}`})`),
        );
    });
    child.send(request);
  });
}

export interface RunningWorker {
  readonly worker: Worker<CellJobData, CellJobResult>;
  /** Stops taking jobs; with `force`, kills the running ones (the queue retries them). */
  close(force?: boolean): Promise<void>;
}

export function startWorker(options: WorkerOptions): RunningWorker {
  const log = options.log ?? (() => {});
  // Recorded on every job it processes (job.processedBy) and in the result.
  const name = `${hostname()}:${process.pid}`;
  const children = new Set<ReturnType<typeof fork>>();
  const worker = new Worker<CellJobData, CellJobResult>(
    options.name ?? DEFAULT_QUEUE_NAME,
    async (job) => {
      const parsed = runConfigSchema.safeParse(job.data.config);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UnrecoverableError(
          `invalid configuration: ${issue.path.join('.')}: ${issue.message}`,
        );
      }
      let config: RunConfig;
      try {
        config = withEngine(parsed.data, options.engine ?? {});
      } catch (error) {
        throw new UnrecoverableError((error as Error).message);
      }
      log(`${job.id}: attempt ${job.attemptsMade + 1} on ${name}`);
      const reply = await runInChild(
        { config, store: options.store },
        job.data.timeoutMs,
        children,
      );
      switch (reply.state) {
        case 'finished':
        case 'diverged':
          log(
            `${job.id}: ${reply.state}${reply.resumed ? ' (resumed)' : ''}${reply.skipped ? ' (already in the worker store)' : ''}`,
          );
          return {
            id: job.data.id,
            state: reply.state,
            config,
            result: reply.result,
            metrics: reply.metrics,
            worker: name,
            resumed: reply.resumed,
            skipped: reply.skipped,
          };
        case 'running-elsewhere':
          // The run's lock in the worker store is held (e.g. by a process that has not yet
          // noticed its worker died): retry later.
          throw new Error(`${reply.id} is running in another process on this store`);
        case 'failed':
          if (reply.kind === 'input') throw new UnrecoverableError(reply.error);
          throw new Error(reply.error);
      }
    },
    {
      connection: redisOptions(options.url),
      name,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      // A job whose worker died is retried; one that keeps stalling is failed after three.
      maxStalledCount: 3,
    },
  );
  worker.on('error', (error) => log(`queue connection: ${error.message}`));
  worker.on('failed', (job, error) => {
    if (job !== undefined) log(`${job.id}: attempt ${job.attemptsMade} failed: ${error.message}`);
  });
  return {
    worker,
    close: async (force = false) => {
      if (force) for (const child of children) child.kill('SIGKILL');
      await worker.close(force);
    },
  };
}

export interface CollectSummary {
  readonly imported: string[];
  readonly alreadyStored: string[];
  readonly busy: string[];
}

/**
 * Stores a completed job's run in `store` (under the job's config, whatever backend the worker
 * used); undefined when the job has no result (not finished, or failed).
 */
function importCompleted(
  job: Job<CellJobData, CellJobResult>,
  store: Store,
): ImportOutcome | undefined {
  const value = job.returnvalue;
  if (job.finishedOn === undefined || value === null || value === undefined) return undefined;
  return store.importRun(job.data.config, value.result, value.metrics);
}

/** Writes every completed job's run into `store`, each once. */
export async function collectResults(
  queue: Queue<CellJobData, CellJobResult>,
  store: string,
): Promise<CollectSummary> {
  const target = new Store(store);
  const summary: Record<ImportOutcome, string[]> = {
    imported: [],
    'already-finished': [],
    busy: [],
  };
  for (const job of await queue.getJobs(['completed'])) {
    const outcome = importCompleted(job, target);
    if (outcome !== undefined) summary[outcome].push(job.data.id);
  }
  return {
    imported: summary.imported,
    alreadyStored: summary['already-finished'],
    busy: summary.busy,
  };
}

export const JOB_STATES = [
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'completed',
  'failed',
] as const;

export interface QueueStatus {
  readonly counts: Record<(typeof JOB_STATES)[number], number>;
  readonly cells: { id: string; state: string; attempts: number; error?: string }[];
}

export async function queueStatus(queue: Queue<CellJobData, CellJobResult>): Promise<QueueStatus> {
  const counts = (await queue.getJobCounts(...JOB_STATES)) as QueueStatus['counts'];
  const cells: QueueStatus['cells'] = [];
  for (const state of JOB_STATES) {
    for (const job of await queue.getJobs([state])) {
      if (job === undefined || job.id === undefined) continue;
      cells.push({
        id: job.id,
        state,
        attempts: job.attemptsMade,
        ...(job.failedReason ? { error: job.failedReason } : {}),
      });
    }
  }
  cells.sort((a, b) => a.id.localeCompare(b.id));
  return { counts, cells };
}

export interface WaitOptions {
  readonly store: string;
  /** Called as cells end. */
  readonly onCell?: (id: string, state: 'completed' | 'failed', detail: string) => void;
  readonly pollMs?: number;
}

/**
 * Waits until every job of `ids` has completed or failed for good, importing each completed
 * run into the store as it ends. Events make it prompt; a poll makes it robust to events missed
 * while Redis was away.
 */
export async function waitForSweep(
  address: QueueAddress,
  queue: Queue<CellJobData, CellJobResult>,
  ids: readonly string[],
  options: WaitOptions,
): Promise<{ completed: string[]; failed: { id: string; error: string }[] }> {
  const store = new Store(options.store);
  const pending = new Set(ids);
  const completed: string[] = [];
  const failed: { id: string; error: string }[] = [];
  const events = new QueueEvents(address.name ?? DEFAULT_QUEUE_NAME, {
    connection: redisOptions(address.url),
  });
  events.on('error', () => {});
  let wake: () => void = () => {};
  events.on('completed', () => wake());
  events.on('failed', () => wake());
  try {
    while (pending.size > 0) {
      for (const id of [...pending]) {
        let job: Job<CellJobData, CellJobResult> | undefined;
        try {
          job = await queue.getJob(id);
        } catch {
          break; // Redis is away: try again on the next round
        }
        if (job === undefined) continue;
        const outcome = importCompleted(job, store);
        if (outcome === 'busy') continue;
        if (outcome !== undefined) {
          const value = job.returnvalue;
          pending.delete(id);
          completed.push(id);
          options.onCell?.(
            id,
            'completed',
            `${value.state} on ${value.worker}${value.resumed ? ' (resumed)' : ''}`,
          );
        } else if (job.finishedOn !== undefined && job.failedReason && (await job.isFailed())) {
          pending.delete(id);
          failed.push({ id, error: job.failedReason });
          options.onCell?.(id, 'failed', job.failedReason);
        }
      }
      if (pending.size === 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs ?? 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    await events.close();
  }
  return { completed, failed };
}
