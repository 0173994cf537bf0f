/**
 * Sweeps on BullMQ workers over Redis (the local process pool stays the default).
 *
 * - `enqueueSweep`: one job per cell, job id = run id, so submitting a sweep twice adds nothing;
 *   cells already finished in the coordinator's store are not enqueued at all. Attempts with
 *   exponential backoff; a per-job timeout travels in the job data.
 * - `startWorker`: runs jobs, each in a child process through the worker's own store (a retried
 *   job resumes from its checkpoint there). Input errors (bad config, missing data, unavailable
 *   backend) fail the job for good (`UnrecoverableError`); anything else is retried. A job
 *   whose run is locked in the worker's store (running elsewhere) waits, delayed, without
 *   spending an attempt. Results are signed with the queue key (`signing.ts`). A worker
 *   killed mid-job leaves its job locked until the lock expires; BullMQ then sees it stalled and
 *   hands it to another worker.
 * - `collectResults`: the coordinator writes each completed job's run (config, metrics, result,
 *   carried in the job's return value) into its store, exactly once (`Store.importRun`) — only
 *   when the worker's HMAC signature over it matches and it passes the store's schemas
 *   (`signing.ts`); anything else is reported as rejected and not imported.
 * - `waitForSweep`: the same as cells end; a job that vanished from the queue (Redis restarted
 *   without persistence) is enqueued again, a bounded number of times.
 */

import { fork } from 'node:child_process';
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import { DelayedError, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { z } from 'zod';
import { runConfigSchema, type RunConfig } from '../config/schema.js';
import {
  canonicalJson,
  runId,
  withEngine,
  withoutDefaults,
  type EngineOverride,
} from '../config/resolve.js';
import type { PlannedRun } from '../harness/plan.js';
import type { EpochRecord, PipelineResult } from '../methods/runner.js';
import { epochSchema, resultSchema } from '../store/records.js';
import { Store, type ImportOutcome, type StoredEpoch, type StoredResult } from '../store/store.js';
import type { CellReply, CellRequest } from './cell-process.js';
import { DEFAULT_QUEUE_NAME, redisOptions } from './connection.js';
import { copyNetworks, networkDigests, type NetworkDigests } from './networks.js';
import { jobSignatureMatches, signatureMatches, signJob, signResult } from './signing.js';

export interface CellJobData {
  readonly id: string;
  readonly config: RunConfig;
  /** Kill the job's process and retry after this long (resuming from its checkpoint); 0 = never. */
  readonly timeoutMs: number;
  /** The coordinator's HMAC of the job (`signing.ts signJob`): workers train nothing without it. */
  readonly signature?: string;
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
  /**
   * HMAC-SHA256 with the queue key over the run id, the job configuration's canonical JSON, the
   * result and the metrics (`signing.ts`); the coordinator imports nothing without it.
   */
  readonly signature: string;
  /** The SHA-256 of each file of the run's networks in the worker's store (`networks.ts`). */
  readonly networks?: NetworkDigests;
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
  /** Replace cells that failed for good with fresh jobs (new attempts, these options). */
  readonly retryFailed?: boolean;
  /** The queue key: each job is signed with it. */
  readonly key: Buffer;
}

export interface EnqueueSummary {
  readonly added: string[];
  /** Already in the queue under the same id (waiting, active, completed or failed). */
  readonly alreadyQueued: string[];
  readonly alreadyStored: string[];
  /** Failed jobs replaced by fresh ones (`retryFailed`); also in `added`. */
  readonly retried: string[];
  /** Failed jobs left as they are (without `retryFailed`); also in `alreadyQueued`. */
  readonly failed: string[];
}

/** The job of a planned cell. */
function cellJob(run: PlannedRun, options: EnqueueOptions) {
  return {
    name: 'cell',
    data: {
      id: run.id,
      config: run.config,
      timeoutMs: options.timeoutMs ?? 0,
      signature: signJob(options.key, {
        id: run.id,
        canonical: canonicalJson(withoutDefaults(run.config)),
        timeoutMs: options.timeoutMs ?? 0,
      }),
    },
    opts: {
      jobId: run.id,
      ...(options.priority ? { priority: options.priority } : {}),
      attempts: options.attempts ?? 3,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 5000 },
      // Results live in the completed job until collected; failed jobs keep their error.
      removeOnComplete: false,
      removeOnFail: false,
    },
  };
}

export async function enqueueSweep(
  queue: Queue<CellJobData, CellJobResult>,
  plan: readonly PlannedRun[],
  options: EnqueueOptions,
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
  const states = await Promise.all(existing.map(async (job) => job?.getState()));
  const failed = candidates.filter((_, i) => states[i] === 'failed').map((run) => run.id);
  const retried: string[] = [];
  if (options.retryFailed) {
    // A failed job keeps its id, so adding the cell again would be a no-op: remove it first.
    for (const [i, run] of candidates.entries()) {
      if (states[i] !== 'failed') continue;
      await existing[i]!.remove();
      existing[i] = undefined;
      retried.push(run.id);
    }
  }
  const fresh = candidates.filter((_, i) => existing[i] === undefined);
  await queue.addBulk(fresh.map((run) => cellJob(run, options)));
  return {
    added: fresh.map((run) => run.id),
    alreadyQueued: candidates.filter((_, i) => existing[i] !== undefined).map((run) => run.id),
    alreadyStored,
    retried,
    failed: options.retryFailed ? [] : failed,
  };
}

export interface WorkerOptions extends QueueAddress {
  readonly store: string;
  /** The queue key (`signing.ts loadQueueKey`): every result is signed with it. */
  readonly key: Buffer;
  readonly concurrency?: number;
  /** Run every job on this engine instead of the one its config names. */
  readonly engine?: EngineOverride;
  /** How long a job's lock lasts without renewal: a killed worker's job is retried after it. */
  readonly lockDurationMs?: number;
  /** How often the worker checks for stalled jobs. */
  readonly stalledIntervalMs?: number;
  /** How long a job whose run is locked in the worker store waits before it looks again. */
  readonly lockedRetryMs?: number;
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
    async (job, token) => {
      const parsed = runConfigSchema.safeParse(job.data.config);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UnrecoverableError(
          `invalid configuration: ${issue.path.join('.')}: ${issue.message}`,
        );
      }
      if (runId(parsed.data) !== job.data.id)
        throw new UnrecoverableError(
          `the job id ${job.data.id} is not its configuration's run id ${runId(parsed.data)}`,
        );
      const signedJob = {
        id: job.data.id,
        canonical: canonicalJson(withoutDefaults(parsed.data)),
        timeoutMs: job.data.timeoutMs,
      };
      if (!jobSignatureMatches(options.key, signedJob, job.data.signature))
        throw new UnrecoverableError(
          "the job is not signed with this worker's queue key: enqueued without the key, altered in Redis, or the worker has another key",
        );
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
        case 'diverged': {
          log(
            `${job.id}: ${reply.state}${reply.resumed ? ' (resumed)' : ''}${reply.skipped ? ' (already in the worker store)' : ''}`,
          );
          const networks = networkDigests(new Store(options.store).dir(reply.id));
          return {
            id: job.data.id,
            state: reply.state,
            config,
            result: reply.result,
            metrics: reply.metrics,
            worker: name,
            resumed: reply.resumed,
            skipped: reply.skipped,
            networks,
            signature: signResult(options.key, {
              id: job.data.id,
              canonical: canonicalJson(withoutDefaults(parsed.data)),
              result: reply.result,
              metrics: reply.metrics,
              networks,
            }),
          };
        }
        case 'running-elsewhere': {
          // The run's lock in the worker store is held: by a live process (which finishes the
          // run; this job then finds it finished), or by one that died on another host (its
          // lease expires, then the lock is taken over). Wait for either without spending an
          // attempt: attempts are for failures, and this is not one.
          const waitMs = options.lockedRetryMs ?? 10_000;
          log(
            `${job.id}: running in another process on this store; trying again in ${(waitMs / 1000).toFixed(0)} s`,
          );
          await job.moveToDelayed(Date.now() + waitMs, token);
          throw new DelayedError();
        }
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
  /** Completed jobs whose result was not imported: bad signature or schema (the reason says). */
  readonly rejected: { id: string; reason: string }[];
  /** Imported without (some of) their networks: `workerStore` was given but a copy failed. */
  readonly withoutNetworks: { id: string; reason: string }[];
}

export type CheckedResult =
  | {
      readonly ok: true;
      readonly config: RunConfig;
      readonly result: StoredResult;
      readonly metrics: StoredEpoch[];
      readonly networks: NetworkDigests;
    }
  | { readonly ok: false; readonly reason: string };

const metricsSchema = z.array(epochSchema);

function firstIssue(error: z.ZodError, root: string): string {
  const issue = error.issues[0]!;
  return `${[root, ...issue.path.map(String)].join('.')}: ${issue.message}`;
}

/**
 * A completed job's result as the coordinator may import it: signed with `key` over the run id,
 * the configuration (the planned one when given, else the job's) and the result and metrics as
 * they are in Redis, and valid under the store's schemas. Anything else is a reason.
 */
export function checkResult(
  job: Job<CellJobData, CellJobResult>,
  key: Buffer,
  planned?: RunConfig,
): CheckedResult {
  const value = job.returnvalue as Partial<CellJobResult> | null | undefined;
  if (value === null || typeof value !== 'object') return { ok: false, reason: 'no result' };
  if (typeof value.signature !== 'string')
    return { ok: false, reason: 'unsigned result (a worker without a queue key, or forged)' };
  let config = planned;
  if (config === undefined) {
    const parsed = runConfigSchema.safeParse(job.data?.config);
    if (!parsed.success)
      return {
        ok: false,
        reason: `invalid job configuration: ${firstIssue(parsed.error, 'config')}`,
      };
    config = parsed.data;
  }
  const id = runId(config);
  if (id !== job.id) return { ok: false, reason: `the job id is not its configuration's (${id})` };
  const signed = {
    id,
    canonical: canonicalJson(withoutDefaults(config)),
    result: value.result,
    metrics: value.metrics,
    networks: value.networks,
  };
  if (!signatureMatches(key, signed, value.signature))
    return {
      ok: false,
      reason:
        'the signature does not match: the result was altered or forged in the queue, or signed with another queue key',
    };
  const result = resultSchema.safeParse(value.result);
  if (!result.success)
    return { ok: false, reason: `signed but invalid: ${firstIssue(result.error, 'result')}` };
  const metrics = metricsSchema.safeParse(value.metrics);
  if (!metrics.success)
    return { ok: false, reason: `signed but invalid: ${firstIssue(metrics.error, 'metrics')}` };
  const networks = z.record(z.string(), z.string()).safeParse(value.networks ?? {});
  if (!networks.success)
    return { ok: false, reason: `signed but invalid: ${firstIssue(networks.error, 'networks')}` };
  return { ok: true, config, result: result.data, metrics: metrics.data, networks: networks.data };
}

type Collected =
  { outcome: ImportOutcome; withoutNetworks?: string } | { rejected: string } | undefined;

/**
 * Stores a completed job's run in `store` (under the job's config, whatever backend the worker
 * used) if its result checks out; undefined when the job has no result (not finished, or failed).
 */
function importCompleted(
  job: Job<CellJobData, CellJobResult>,
  store: Store,
  key: Buffer,
  planned?: RunConfig,
  workerStore?: string,
): Collected {
  const value = job.returnvalue;
  if (job.finishedOn === undefined || value === null || value === undefined) return undefined;
  const checked = checkResult(job, key, planned);
  if (!checked.ok) return { rejected: checked.reason };
  let withoutNetworks: string | undefined;
  if (workerStore !== undefined) {
    const id = String(job.id);
    try {
      // Before result.json: a run is finished only once its networks are in place.
      copyNetworks(new Store(workerStore).dir(id), store.dir(id), checked.networks);
    } catch (error) {
      withoutNetworks = (error as Error).message;
    }
  }
  const outcome = store.importRun(checked.config, checked.result, checked.metrics);
  return { outcome, ...(withoutNetworks === undefined ? {} : { withoutNetworks }) };
}

/** Writes every completed job's run into `store`, each once; rejected results are listed. */
export async function collectResults(
  queue: Queue<CellJobData, CellJobResult>,
  store: string,
  key: Buffer,
  /** The workers' store as this machine sees it: networks are copied from it. */
  workerStore?: string,
): Promise<CollectSummary> {
  const target = new Store(store);
  const summary: Record<ImportOutcome, string[]> = {
    imported: [],
    'already-finished': [],
    busy: [],
  };
  const rejected: CollectSummary['rejected'] = [];
  const withoutNetworks: CollectSummary['withoutNetworks'] = [];
  for (const job of await queue.getJobs(['completed'])) {
    const collected = importCompleted(job, target, key, undefined, workerStore);
    if (collected === undefined) continue;
    const id = String(job.id);
    if ('rejected' in collected) {
      rejected.push({ id, reason: collected.rejected });
      continue;
    }
    summary[collected.outcome].push(id);
    if (collected.withoutNetworks !== undefined)
      withoutNetworks.push({ id, reason: collected.withoutNetworks });
  }
  return {
    imported: summary.imported,
    alreadyStored: summary['already-finished'],
    busy: summary.busy,
    rejected,
    withoutNetworks,
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

export interface WaitOptions extends EnqueueOptions {
  readonly store: string;
  /** The queue key: results are imported only with a matching signature. */
  readonly key: Buffer;
  /** The workers' store as this machine sees it: each run's networks are copied from it. */
  readonly workerStore?: string;
  /** Called as cells end. */
  readonly onCell?: (id: string, state: 'completed' | 'failed', detail: string) => void;
  /** Called with what the wait did on its own (a vanished job enqueued again, Redis away). */
  readonly onNotice?: (line: string) => void;
  readonly pollMs?: number;
  /** How many times a job that vanished from the queue is enqueued again before it fails. */
  readonly maxRequeues?: number;
}

/**
 * Waits until every cell of `plan` has completed or failed for good, importing each completed
 * run into the store as it ends (a result that fails its signature or schema check fails the
 * cell, with the reason). Events make it prompt; a poll makes it robust to events missed while
 * Redis was away. A job missing from the queue whose run is not in the store (Redis restarted
 * without persistence, the queue cleared) is enqueued again, up to `maxRequeues` times (default
 * 3), then fails with the reason: the wait never hangs on a job that no longer exists.
 */
export async function waitForSweep(
  address: QueueAddress,
  queue: Queue<CellJobData, CellJobResult>,
  plan: readonly PlannedRun[],
  options: WaitOptions,
): Promise<{ completed: string[]; failed: { id: string; error: string }[] }> {
  const store = new Store(options.store);
  const configs = new Map(plan.map((run) => [run.id, run]));
  const pending = new Set(configs.keys());
  const requeued = new Map<string, number>();
  const maxRequeues = options.maxRequeues ?? 3;
  const completed: string[] = [];
  const failed: { id: string; error: string }[] = [];
  const fail = (id: string, error: string) => {
    pending.delete(id);
    failed.push({ id, error });
    options.onCell?.(id, 'failed', error);
  };
  const events = new QueueEvents(address.name ?? DEFAULT_QUEUE_NAME, {
    connection: redisOptions(address.url),
  });
  events.on('error', () => {});
  let wake: () => void = () => {};
  events.on('completed', () => wake());
  events.on('failed', () => wake());
  let away: string | undefined;
  try {
    while (pending.size > 0) {
      for (const id of [...pending]) {
        try {
          await check(id);
          if (away !== undefined) options.onNotice?.('the queue answers again');
          away = undefined;
        } catch (error) {
          if (away === undefined)
            options.onNotice?.(
              `the queue does not answer (${(error as Error).message}); waiting for it`,
            );
          away = (error as Error).message;
          break; // Redis is away: try again on the next round
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

  /** One round for one cell: import it, fail it, enqueue it again, or leave it running. */
  async function check(id: string): Promise<void> {
    const run = configs.get(id)!;
    const job = await queue.getJob(id);
    if (job === undefined) {
      const state = store.status(id).state;
      if (state === 'finished' || state === 'diverged') {
        pending.delete(id);
        completed.push(id);
        options.onCell?.(id, 'completed', `${state} (already in ${options.store})`);
        return;
      }
      const times = requeued.get(id) ?? 0;
      if (times >= maxRequeues) {
        fail(
          id,
          `the job vanished from the queue ${times + 1} times (Redis restarted without persistence, or the queue was cleared)`,
        );
        return;
      }
      requeued.set(id, times + 1);
      const { name, data, opts } = cellJob(run, options);
      await queue.add(name, data, opts);
      options.onNotice?.(
        `${id}: the job vanished from the queue (Redis restarted without persistence?); enqueued again`,
      );
      return;
    }
    const collected = importCompleted(job, store, options.key, run.config, options.workerStore);
    if (collected === undefined) {
      if (job.finishedOn !== undefined && job.failedReason && (await job.isFailed()))
        fail(id, job.failedReason);
    } else if ('rejected' in collected) {
      fail(id, `result rejected, not imported: ${collected.rejected}`);
    } else if (collected.outcome !== 'busy') {
      const value = job.returnvalue;
      pending.delete(id);
      completed.push(id);
      options.onCell?.(
        id,
        'completed',
        `${value.state} on ${value.worker}${value.resumed ? ' (resumed)' : ''}` +
          (collected.withoutNetworks === undefined
            ? ''
            : ` (imported without networks: ${collected.withoutNetworks})`),
      );
    }
  }
}
