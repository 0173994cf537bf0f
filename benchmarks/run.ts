/**
 * `npm run bench [-- --skip-slow] [-- --only selection|training|verify|queue]`: runs the benchmarks and
 * prints one table per group. Numbers are machine-dependent and never asserted in tests; quote
 * them with the machine they came from.
 * - selection: global "prune k of n" on ResNet-20 and ResNet-50 layer lists, fast vs reference;
 * - training: step time, images/s, peak RSS and mask-enforcement share per model at batch 128 on
 *   wasm and cpu, and the ratio to PyTorch on the same CPU when python3-torch is installed;
 * - verify: `cyclesparse verify` on a ResNet-50-sized artifact (3 levels, 0.93 GiB of .npz; 3.9 s median here).
 * - queue: BullMQ overhead per job and tiny cells per minute with 1 and 2 workers (needs
 *   redis-server), beside the local pool.
 * The side-by-side comparison with PyTorch is `npm run bench:peer`.
 * `--skip-slow` leaves out runs that take minutes (the 25.6M-weight reference sort, VGG-16 and
 * ResNet-18 on wasm, ResNet-20 on cpu).
 */

import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Bench } from 'tinybench';
import { selectionBenches } from './selection.js';
import { BATCH, torchAvailable, torchSteps, trainingSteps } from './training.js';
import { verifyBench } from './verify.js';
import { queueBench } from './queue.js';

const GROUPS = ['selection', 'training', 'verify', 'queue'] as const;
const { values } = parseArgs({
  options: {
    'skip-slow': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const only = values.only;
if (only !== undefined && !(GROUPS as readonly string[]).includes(only)) {
  console.error(`--only: expected one of ${GROUPS.join(', ')}, got ${JSON.stringify(only)}`);
  process.exit(2);
}
const skipSlow = values['skip-slow'];

function report(bench: Bench): void {
  console.log(`\n${bench.name ?? 'bench'}`);
  const rows = bench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== 'completed') return { task: task.name, state: result.state };
    const { latency } = result;
    return {
      task: task.name,
      'median ms': latency.p50.toFixed(1),
      'mean ms': latency.mean.toFixed(1),
      'min ms': latency.min.toFixed(1),
      'max ms': latency.max.toFixed(1),
      samples: latency.samplesCount,
    };
  });
  console.table(rows);
  // Fast against reference on the same scores: the ratio of medians.
  for (const task of bench.tasks) {
    const twin = bench.tasks.find((t) => t.name === task.name.replace(/^fast/, 'reference'));
    if (!task.name.startsWith('fast') || twin === undefined) continue;
    if (task.result.state === 'completed' && twin.result.state === 'completed') {
      const ratio = twin.result.latency.p50 / task.result.latency.p50;
      console.log(
        `  ${task.name.replace(/^fast, /, '')}: fast is ${ratio.toFixed(0)}× the reference`,
      );
    }
  }
}

console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}`,
);
if (only === undefined || only === 'selection') {
  for (const bench of await selectionBenches({ skipSlow })) report(bench);
}
if (only === undefined || only === 'training') {
  const steps = trainingSteps({ skipSlow });
  const torch = torchAvailable() ? torchSteps() : [];
  const torchMs = (model: string, threads: number) =>
    torch.find((r) => r.model === model && r.threads === threads)?.medianMs;
  console.log(
    `\ntraining step (90%-sparse mask; wasm on one core, native on all; PyTorch at batch ${BATCH}, 1 and 2 threads)`,
  );
  console.table(
    steps.map((row) => {
      // PyTorch ran at the default batch; no ratio for rows measured at another one.
      const one = row.batch === BATCH ? torchMs(row.model, 1) : undefined;
      const two = row.batch === BATCH ? torchMs(row.model, 2) : undefined;
      return {
        model: row.model,
        backend: row.backend,
        batch: row.batch,
        'median ms': row.medianMs.toFixed(1),
        'images/s': row.imagesPerSecond.toFixed(0),
        'peak RSS MB': row.peakRssMb.toFixed(0),
        'mask share': `${(100 * row.maskShare).toFixed(3)}%`,
        'torch 1T ms': one?.toFixed(1) ?? '-',
        'torch 2T ms': two?.toFixed(1) ?? '-',
        '÷ torch 1T': one === undefined ? '-' : (row.medianMs / one).toFixed(1),
        '÷ torch 2T': two === undefined ? '-' : (row.medianMs / two).toFixed(1),
      };
    }),
  );
  if (torch.length === 0) {
    console.log(
      '  PyTorch columns empty: apt-get install python3-torch libopenblas0-pthread to fill them',
    );
  } else {
    console.log(
      `  PyTorch ${torch[0]!.torch} (Debian), OPENBLAS_NUM_THREADS=1; ratios are cyclesparse ÷ PyTorch`,
    );
  }
}
if (only === undefined || only === 'verify') report(await verifyBench());
if (only === undefined || only === 'queue') {
  const rows = await queueBench();
  if (rows.length > 0) {
    console.log('\nqueue (BullMQ on a local redis-server)');
    console.table(rows);
  }
}
