/**
 * The queue's cost, against a redis-server started here on a free loopback port:
 * - overhead per job: 200 jobs through a worker whose processor does nothing (add, fetch, lock,
 *   complete, return value) — the target is ≤ 50 ms;
 * - tiny cells per minute (LeNet-300-100, 1 epoch on 200 images, each in its own process) with
 *   one and two queue workers, beside the local process pool at the same concurrency.
 * Needs Debian's redis-server; says so and returns nothing without it.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { planFile } from '../src/harness/plan.js';
import { runSweep } from '../src/harness/sweep.js';
import { redisOptions } from '../src/queue/connection.js';
import { enqueueSweep, openQueue, startWorker, waitForSweep } from '../src/queue/queue.js';

export interface QueueRow {
  readonly measure: string;
  readonly value: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function queueBench(): Promise<QueueRow[]> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.log('queue: redis-server is not installed (apt-get install redis-server); skipped');
    return [];
  }
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', ''],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise<void>((resolve) =>
    redis.stdout.on('data', (c: Buffer) => c.toString().includes('Ready') && resolve()),
  );
  const url = `redis://127.0.0.1:${port}`;
  const rows: QueueRow[] = [];
  try {
    // Overhead: no-op jobs.
    const jobs = 200;
    const noop = new Queue('noop', { connection: redisOptions(url) });
    const done = new Promise<void>((resolve) => {
      let count = 0;
      const worker = new Worker('noop', () => Promise.resolve({ ok: true }), {
        connection: redisOptions(url),
      });
      worker.on('completed', () => {
        if (++count === jobs) void worker.close().then(resolve);
      });
    });
    const started = performance.now();
    await noop.addBulk(
      Array.from({ length: jobs }, (_, i) => ({
        name: 'noop',
        data: { i },
        opts: { jobId: `j${i}` },
      })),
    );
    await done;
    const perJob = (performance.now() - started) / jobs;
    await noop.close();
    rows.push({
      measure: `queue overhead per job (${jobs} no-op jobs, one worker)`,
      value: `${perJob.toFixed(2)} ms`,
    });

    // Tiny cells.
    const dir = mkdtempSync(join(tmpdir(), 'queue-bench-'));
    const cells = 8;
    const file = join(dir, 'sweep.yaml');
    writeFileSync(
      file,
      `extends: mini-mnist-lenet300
data: { trainPerClass: 20, testPerClass: 10 }
training: { epochsPerCycle: 1, batchSize: 50 }
method: { name: pai, criterion: random, sparsity: 0.5 }
sweep:
  seeds: [${Array.from({ length: cells }, (_, i) => i).join(', ')}]
`,
    );
    const plan = planFile(file);
    // Results are signed and checked as in any queue sweep (the cost is part of the overhead).
    const key = Buffer.from('benchmark-queue-key-0123456789');
    for (const workers of [1, 2]) {
      const name = `cells-${workers}`;
      const queue = openQueue({ url, name });
      const running = Array.from({ length: workers }, () =>
        startWorker({ url, name, key, store: join(dir, `worker-store-${workers}`) }),
      );
      const t0 = performance.now();
      const { added } = await enqueueSweep(queue, plan, { key });
      await waitForSweep(
        { url, name },
        queue,
        plan.filter((run) => added.includes(run.id)),
        {
          store: join(dir, `store-${workers}`),
          key,
          pollMs: 100,
        },
      );
      const minutes = (performance.now() - t0) / 60_000;
      rows.push({
        measure: `tiny cells per minute, ${workers} queue worker(s)`,
        value: (cells / minutes).toFixed(1),
      });
      await Promise.all(running.map((w) => w.close()));
      await queue.close();

      const t1 = performance.now();
      await runSweep(plan, {
        store: join(dir, `pool-store-${workers}`),
        concurrency: workers,
        progress: 'lines',
        write: () => {},
      });
      rows.push({
        measure: `tiny cells per minute, local pool, concurrency ${workers}`,
        value: (cells / ((performance.now() - t1) / 60_000)).toFixed(1),
      });
    }
  } finally {
    redis.kill('SIGTERM');
  }
  return rows;
}
