/**
 * Sweeps on BullMQ against a real redis-server (Debian's), started by the tests on a free
 * loopback port and stopped after; nothing leaves 127.0.0.1. Faults: a worker killed with
 * SIGKILL mid-job (its job is found stalled and finished by the other worker, stored once);
 * Redis restarted mid-sweep (workers reconnect, the sweep completes); jobs that fail
 * deterministically (bad config, missing data) end failed after one attempt. Re-submitting a
 * sweep enqueues nothing twice. Results: a forged or altered return value, or one signed with
 * another key, is refused; a failed cell is retried on request; jobs lost with Redis's data are
 * enqueued again. Connections: a closed port, a wrong password and TLS to a plain port end with
 * an error naming the address within a bounded time.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis as RedisClient } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli/cli-testing.js';
import { planFile } from '../harness/plan.js';
import { Store } from '../store/store.js';
import { canonicalJson, runId, withoutDefaults } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { checkConnection } from './connection.js';
import {
  collectResults,
  enqueueSweep,
  openQueue,
  queueStatus,
  startWorker,
  waitForSweep,
} from './queue.js';
import { signJob, signResult } from './signing.js';

/** A string matching `pattern`, inside toMatchObject. */
const matching = (pattern: RegExp) => expect.stringMatching(pattern) as unknown as string;

/** A result as Redis holds it. */
interface Carried {
  result: { cycles: { testAccuracy: { final: number } }[] } | { accuracy: number };
  metrics: unknown;
  networks?: unknown;
  signature?: string;
}

const KEY = 'test-queue-key-0123456789abcdef';
const key = Buffer.from(KEY);

const redisInstalled = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;

test.skipIf(redisInstalled)(
  'redis-server is not installed (apt-get install redis-server): queue tests skipped',
  () => {},
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

class Redis {
  process: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
    /** More redis-server arguments (e.g. --requirepass). */
    readonly extra: string[] = [],
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  /** Starts redis-server with an append-only file, so a restart keeps the queue. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--dir',
        this.dir,
        ...this.extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    });
  }
  async stop(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

const cellConfig = (epochs: number, seeds: number[]) => `
extends: mini-mnist-lenet300
data: { trainPerClass: 40, testPerClass: 10 }
training: { epochsPerCycle: ${epochs}, batchSize: 20 }
method: { name: pai, criterion: random, sparsity: 0.5 }
sweep:
  seeds: [${seeds.join(', ')}]
`;

/** Temporary folders, removed when the file's tests end (after Redis has stopped). */
const temporary: string[] = [];
function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function workspace(config: string): { dir: string; file: string } {
  const dir = temporaryDir('queue-');
  const file = join(dir, 'sweep.yaml');
  writeFileSync(file, config);
  return { dir, file };
}

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawn(process.execPath, [CLI_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true', CYCLESPARSE_QUEUE_KEY: KEY, ...env },
  });

function exitOf(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs in the store, each with exactly one result and one metrics line per epoch. */
function storedOnce(store: string): string[] {
  const s = new Store(store);
  const runs = s.list();
  for (const run of runs) {
    expect(run.state).toBe('finished');
    expect(run.epochs).toBe(run.result!.cost.epochs);
    expect(
      readdirSync(s.dir(run.id)).filter((f) => f.includes('.partial-') || f === 'lock'),
    ).toEqual([]);
  }
  return runs.map((r) => r.id);
}

describe.runIf(redisInstalled)('sweeps on BullMQ over a real Redis', () => {
  let redis: Redis;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    redis = new Redis(await freePort(), temporaryDir('redis-'));
    await redis.start();
  });
  const clients: RedisClient[] = [];
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    for (const child of children) child.kill('SIGKILL');
    await redis.stop();
  });
  /** A `cyclesparse worker` process on queue `name`, killed after the tests if still running. */
  const workerProcess = (name: string, store: string, lockSeconds: number) => {
    const child = cli([
      'worker',
      '--queue',
      redis.url,
      '--queue-name',
      name,
      '--store',
      store,
      '--lock-duration',
      String(lockSeconds),
    ]);
    children.push(child);
    void exitOf(child);
    return child;
  };
  /** `cyclesparse sweep --queue`, resolving with how it exited. */
  const sweepOnQueue = (file: string, name: string, store: string) =>
    exitOf(cli(['sweep', file, '--queue', redis.url, '--queue-name', name, '--store', store]));

  test('re-submitting a sweep enqueues nothing twice; cells already stored are not enqueued', async () => {
    const { dir, file } = workspace(cellConfig(1, [0, 1, 2]));
    const plan = planFile(file);
    const queue = openQueue({ url: redis.url, name: 'resubmit' });
    try {
      const first = await enqueueSweep(queue, plan, { key, store: join(dir, 'store') });
      expect(first.added).toEqual(plan.map((p) => p.id));
      const second = await enqueueSweep(queue, plan, { key, store: join(dir, 'store') });
      expect(second.added).toEqual([]);
      expect(second.alreadyQueued).toEqual(plan.map((p) => p.id));
      expect((await queueStatus(queue)).counts.waiting).toBe(3);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  test('jobs that fail deterministically end failed with their error after one attempt; unsigned jobs are not run', async () => {
    const { dir, file } = workspace(cellConfig(1, [0]));
    const [cell] = planFile(file);
    const name = 'deterministic';
    const queue = openQueue({ url: redis.url, name });
    const worker = startWorker({ url: redis.url, name, key, store: join(dir, 'worker-store') });
    try {
      const options = { attempts: 3, backoff: { type: 'fixed', delay: 10 } };
      const missingData = {
        ...cell!.config,
        data: { ...cell!.config.data, dataset: 'cifar10', dir: join(dir, 'no-cifar-here') },
        model: { ...cell!.config.model, name: 'conv-2' },
      } as RunConfig;
      const noDataId = runId(missingData);
      await queue.add(
        'cell',
        { id: 'bad-config', config: { nonsense: true } as never, timeoutMs: 0 },
        { ...options, jobId: 'bad-config' },
      );
      const signature = signJob(key, {
        id: noDataId,
        canonical: canonicalJson(withoutDefaults(missingData)),
        timeoutMs: 0,
      });
      await queue.add(
        'cell',
        { id: noDataId, config: missingData, timeoutMs: 0, signature },
        { ...options, jobId: noDataId },
      );
      // A valid cell added by a Redis writer without the queue key, and one signed with it but
      // altered since (a longer timeout).
      await queue.add(
        'cell',
        { id: cell!.id, config: cell!.config, timeoutMs: 0 },
        { ...options, jobId: cell!.id },
      );
      const other = planFile(workspace(cellConfig(1, [1])).file)[0]!;
      const otherSignature = signJob(key, {
        id: other.id,
        canonical: canonicalJson(withoutDefaults(other.config)),
        timeoutMs: 0,
      });
      await queue.add(
        'cell',
        { id: other.id, config: other.config, timeoutMs: 60_000, signature: otherSignature },
        { ...options, jobId: other.id },
      );
      await waitFor(
        async () => (await queue.getJobCounts('failed')).failed === 4,
        60_000,
        'four failed jobs',
      );
      for (const unsigned of [cell!.id, other.id]) {
        const job = (await queue.getJob(unsigned))!;
        expect(job.attemptsMade).toBe(1);
        expect(job.failedReason).toMatch(/not signed with this worker's queue key/);
      }
      expect(existsSync(join(dir, 'worker-store', cell!.id))).toBe(false);
      const badConfig = (await queue.getJob('bad-config'))!;
      expect(badConfig.attemptsMade).toBe(1);
      expect(badConfig.failedReason).toMatch(/^invalid configuration: /);
      const noData = (await queue.getJob(noDataId))!;
      expect(noData.attemptsMade).toBe(1);
      expect(noData.failedReason).toMatch(/no-cifar-here/);
    } finally {
      await worker.close(true);
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  test('a worker killed with SIGKILL mid-job: its job is retried on the other worker and stored once', async () => {
    // Three cells: one for the victim to die in, the rest for the survivor (each is a training).
    const { dir, file } = workspace(cellConfig(6, [0, 1, 2]));
    const name = 'kill';
    const sharedStore = join(dir, 'worker-store');
    const startWorkerProcess = () => workerProcess(name, sharedStore, 2);
    const victim = startWorkerProcess();
    const sweep = sweepOnQueue(file, name, join(dir, 'store'));
    const queue = openQueue({ url: redis.url, name });
    try {
      // Kill the first worker while it has a job, then start the one that must finish it.
      let victimJob: string | undefined;
      await waitFor(
        async () => {
          const active = await queue.getJobs(['active']);
          victimJob = active.find((job) => job.processedBy?.endsWith(`:${victim.pid}`))?.id;
          return victimJob !== undefined;
        },
        60_000,
        'a job active on the first worker',
      );
      // Mid-training: at least one epoch (and its checkpoint) is in the shared worker store.
      await waitFor(
        () => new Store(sharedStore).status(victimJob!).epochs >= 1,
        60_000,
        'a first epoch of the job on the first worker',
      );
      victim.kill('SIGKILL');
      const survivor = startWorkerProcess();
      const { code, stdout } = await sweep;
      expect(code, stdout).toBe(0);
      expect(stdout).toMatch(/3\/3 cells completed and stored/);
      expect(storedOnce(join(dir, 'store'))).toHaveLength(3);
      const retried = (await queue.getJob(victimJob!))!;
      // Finished by the survivor, resuming the killed attempt's checkpoint: the killed worker's
      // training process died with it (an orphan would have finished the run itself).
      expect(retried.returnvalue).toMatchObject({ resumed: true, skipped: false });
      expect(retried.returnvalue.worker).toMatch(new RegExp(`:${survivor.pid}$`));
      // Collecting again changes nothing.
      const again = await exitOf(
        cli([
          'status',
          join(dir, 'store'),
          '--queue',
          redis.url,
          '--queue-name',
          name,
          '--collect',
        ]),
      );
      expect(again.stdout).toMatch(/collected into .*: 0 new, 3 already there/);
      expect(storedOnce(join(dir, 'store'))).toHaveLength(3);
      survivor.kill('SIGTERM');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }, 180_000); // waits out a stalled-job interval, then retrains the cell

  test('Redis restarted mid-sweep: the worker and the coordinator reconnect and the sweep completes', async () => {
    const { dir, file } = workspace(cellConfig(2, [10, 11, 12, 13]));
    const name = 'restart';
    const worker = workerProcess(name, join(dir, 'worker-store'), 5);
    const sweep = sweepOnQueue(file, name, join(dir, 'store'));
    await waitFor(
      () => existsSync(join(dir, 'store')) && readdirSync(join(dir, 'store')).length >= 1,
      60_000,
      'a first stored cell',
    );
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await redis.start();
    const { code, stdout } = await sweep;
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/4\/4 cells completed/);
    expect(storedOnce(join(dir, 'store'))).toHaveLength(4);
    worker.kill('SIGTERM');
  }, 180_000); // training processes and a Redis restart: over a minute when the machine is loaded

  test('a failed cell is retried on request; only results signed with the key and valid are imported; a lost job is enqueued again', async () => {
    const { dir, file } = workspace(cellConfig(1, [20]));
    const plan = planFile(file);
    const id = plan[0]!.id;
    const name = 'forge';
    const store = join(dir, 'store');
    const queue = openQueue({ url: redis.url, name });
    const worker = startWorker({
      url: redis.url,
      name,
      key,
      store: join(dir, 'worker-store'),
      lockedRetryMs: 300,
    });
    try {
      // A timeout too short for any training: the only attempt fails.
      await enqueueSweep(queue, plan, { key, attempts: 1, timeoutMs: 1 });
      await waitFor(
        async () => (await queue.getJobCounts('failed')).failed === 1,
        30_000,
        'a failed job',
      );
      const again = await enqueueSweep(queue, plan, { key, attempts: 1 });
      expect(again).toMatchObject({ added: [], failed: [id], retried: [] });
      // While another process holds the run in the worker store, the job waits for it without
      // spending its only attempt.
      const held = new Store(join(dir, 'worker-store')).run(id);
      expect(held.acquire()).toBe(true);
      const retry = await enqueueSweep(queue, plan, { key, attempts: 1, retryFailed: true });
      expect(retry).toMatchObject({ added: [id], retried: [id], failed: [] });
      await waitFor(
        async () => (await queue.getJobCounts('delayed')).delayed === 1,
        30_000,
        'the job waiting for the lock',
      );
      expect((await queue.getJobCounts('failed')).failed).toBe(0);
      held.release();
      await waitFor(
        async () => (await queue.getJobCounts('completed')).completed === 1,
        60_000,
        'the retried job',
      );

      // A writer with the Redis password but not the queue key.
      const client = new RedisClient({ host: '127.0.0.1', port: redis.port });
      clients.push(client);
      const field = `bull:${name}:${id}`;
      const genuine = (await client.hget(field, 'returnvalue'))!;
      const collect = async (withKey = key) => {
        const summary = await collectResults(queue, store, withKey);
        return { ...summary, stored: new Store(store).list().length };
      };
      // Signed with another key.
      expect(await collect(Buffer.from('another-key-0123456789abcdef'))).toMatchObject({
        imported: [],
        rejected: [{ id, reason: matching(/signature does not match/) }],
        stored: 0,
      });
      // Altered in Redis (what `redis-cli hset` can do): a better accuracy.
      const value = JSON.parse(genuine) as Carried;
      (value.result as { cycles: { testAccuracy: { final: number } }[] }).cycles.at(
        -1,
      )!.testAccuracy.final = 0.9999;
      await client.hset(field, 'returnvalue', JSON.stringify(value));
      expect(await collect()).toMatchObject({
        rejected: [{ id, reason: matching(/signature does not match/) }],
        stored: 0,
      });
      // Unsigned.
      delete value.signature;
      await client.hset(field, 'returnvalue', JSON.stringify(value));
      expect((await collect()).rejected[0]!.reason).toMatch(/unsigned/);
      // Signed with the key, but not a result the store could read.
      const canonical = canonicalJson(withoutDefaults(plan[0]!.config));
      const bogus: Carried = { ...value, result: { accuracy: 0.9999 } };
      bogus.signature = signResult(key, {
        id,
        canonical,
        result: bogus.result,
        metrics: bogus.metrics,
        networks: bogus.networks,
      });
      await client.hset(field, 'returnvalue', JSON.stringify(bogus));
      expect((await collect()).rejected[0]!.reason).toMatch(/signed but invalid: result\./);
      // The worker's own result is imported; its networks come from the workers' store when the
      // coordinator can read it, each file checked against the signed digests.
      await client.hset(field, 'returnvalue', genuine);
      const workerStore = join(dir, 'worker-store');
      const altered = join(dir, 'altered-worker-store');
      cpSync(workerStore, altered, { recursive: true });
      const state = join(altered, id, 'checkpoint', 'state.json');
      writeFileSync(state, readFileSync(state, 'utf8').replace(/}\s*$/, ', "x": 1}'));
      expect(await collectResults(queue, store, key, altered)).toMatchObject({
        imported: [id],
        rejected: [],
        withoutNetworks: [{ id, reason: matching(/not the file the worker signed/) }],
      });
      expect(storedOnce(store)).toEqual([id]);
      const withNetworks = join(dir, 'store-with-networks');
      expect(await collectResults(queue, withNetworks, key, workerStore)).toMatchObject({
        imported: [id],
        withoutNetworks: [],
      });
      const cycles = new Store(workerStore).storedCycles(id);
      expect(cycles.length).toBeGreaterThan(0);
      expect(new Store(withNetworks).storedCycles(id)).toEqual(cycles);
      expect(new Store(withNetworks).network(id).mask).toBeDefined();
      expect(new Store(withNetworks).network(`${id}@${cycles[0]}`).cycle).toBe(cycles[0]);

      // The job lost with Redis's data (a restart without persistence): the waiting coordinator
      // enqueues it again, the worker finds the run finished in its store, and the wait ends.
      await queue.obliterate({ force: true });
      const notices: string[] = [];
      const afterLoss = join(dir, 'store-after-loss');
      const waited = await waitForSweep({ url: redis.url, name }, queue, plan, {
        store: afterLoss,
        key,
        pollMs: 200,
        onNotice: (line) => notices.push(line),
      });
      expect(waited).toEqual({ completed: [id], failed: [] });
      expect(notices.join('\n')).toMatch(/vanished from the queue .*enqueued again/);
      expect(storedOnce(afterLoss)).toEqual([id]);
    } finally {
      await worker.close(true);
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  test('a closed port, a wrong password or TLS to a plain port: a clear error within seconds', async () => {
    const closed = await freePort();
    const guarded = new Redis(await freePort(), temporaryDir('redis-'), [
      '--requirepass',
      'right-password',
    ]);
    await guarded.start();
    // The CLI: no output and no exit was the bug.
    const status = exitOf(cli(['status', '--queue', `redis://:topsecret@127.0.0.1:${closed}`]));
    try {
      const started = Date.now();
      await expect(checkConnection(`redis://:topsecret@127.0.0.1:${closed}`, 3)).rejects.toThrow(
        new RegExp(`queue at redis://:\\*\\*\\*@127.0.0.1:${closed}/?: connection refused`),
      );
      await expect(
        checkConnection(`redis://:wrong-password@127.0.0.1:${guarded.port}`, 3),
      ).rejects.toThrow(/authentication failed/);
      await expect(checkConnection(`redis://127.0.0.1:${guarded.port}`, 3)).rejects.toThrow(
        /requires a password/,
      );
      // A plain-text server never completes the TLS handshake: the deadline ends it.
      await expect(checkConnection(`rediss://127.0.0.1:${guarded.port}`, 1)).rejects.toThrow(
        new RegExp(`queue at rediss://127.0.0.1:${guarded.port}/?: `),
      );
      await checkConnection(`redis://:right-password@127.0.0.1:${guarded.port}`, 3);
      expect(Date.now() - started).toBeLessThan(15_000);
      const cliStatus = await status;
      expect(cliStatus.code).toBe(2);
      expect(cliStatus.stderr).toMatch(
        /cannot use the queue at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: connection refused/,
      );
      expect(cliStatus.stderr + cliStatus.stdout).not.toContain('topsecret');
    } finally {
      await guarded.stop();
    }
  });
});
