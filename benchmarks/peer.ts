/**
 * `npm run bench:peer [-- options]`: cyclesparse against PyTorch on the same CPU, same models,
 * same batch and the same number of threads, alternating the two in every repetition so drift
 * (thermal, other load) hits both. Prints a table and writes `reports/benchmarks/peer.json`.
 *
 * Each measurement is its own process (train-step.ts / torch_step.py), so peak RSS belongs to
 * one model. Ratios are cyclesparse ÷ PyTorch of median step times over all repetitions' samples.
 * PyTorch runs only when Debian's python3-torch imports; the benchmark installs nothing and says
 * what is missing. With torch, cyclesparse's own PyTorch engine (backend `torch`, device cpu) is
 * one of the rows: its ratio is the engine's overhead over raw PyTorch on the same threads. The native backend runs when its addon is built (scripts/build-native.mjs);
 * `tensorflow` (@tensorflow/tfjs-node, TF.js's official fast path) whenever it is installed.
 *
 *   --models lenet-300-100,lenet-5,conv-4,resnet-20   --backends native,wasm[,tensorflow]   --reps 3
 *   --threads <cores>   --batch 128   --sparse-models lenet-300-100,resnet-20   --quick
 *   --out reports/benchmarks/peer.json
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadNative } from '../src/engine/native.js';
import { layerMacs } from '../src/models/spec.js';
import { MODEL_NAMES, modelSpec, type ModelName } from '../src/models/zoo.js';
import { runJson } from './training.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet-300-100,lenet-5,conv-4,resnet-20' },
    backends: { type: 'string' },
    reps: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    batch: { type: 'string', default: '128' },
    'sparse-models': { type: 'string', default: 'lenet-300-100,resnet-20' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'reports/benchmarks/peer.json' },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    fail(`--${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

function modelList(flag: string, text: string): ModelName[] {
  const names = text.split(',').filter((name) => name.length > 0);
  for (const name of names) {
    if (!(MODEL_NAMES as readonly string[]).includes(name)) {
      fail(
        `--${flag}: unknown model ${JSON.stringify(name)}; expected some of ${MODEL_NAMES.join(', ')}`,
      );
    }
  }
  return names as ModelName[];
}

const TORCH_MODELS = new Set([
  'lenet-300-100',
  'lenet-5',
  'conv-2',
  'conv-4',
  'resnet-20',
  'resnet-56',
]);
const BACKEND_CHOICES = ['native', 'wasm', 'tensorflow', 'torch'] as const;
type Backend = (typeof BACKEND_CHOICES)[number];

const reps = positiveInteger('reps', values.reps);
const threads = positiveInteger('threads', values.threads);
const batch = positiveInteger('batch', values.batch);
const models = modelList('models', values.models);
const sparseModels = modelList('sparse-models', values['sparse-models']);
const native = loadNative();
/** TF.js's own fast path (libtensorflow), compared against whenever it is installed. */
function tfjsNodeInstalled(): boolean {
  for (const name of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      import.meta.resolve(name);
      return true;
    } catch {
      // not installed
    }
  }
  return false;
}
const torchMissing = torchProblem();
const defaultBackends = [
  ...(native.addon ? ['native'] : []),
  'wasm',
  ...(tfjsNodeInstalled() ? ['tensorflow'] : []),
  // cyclesparse's PyTorch engine on this CPU, against raw PyTorch on the same threads.
  ...(torchMissing === undefined ? ['torch'] : []),
].join(',');
if (!tfjsNodeInstalled()) {
  console.log('tensorflow (@tensorflow/tfjs-node): not installed; not compared');
}
const backends: Backend[] = (values.backends ?? defaultBackends).split(',').map((name) => {
  if (!(BACKEND_CHOICES as readonly string[]).includes(name)) {
    fail(`--backends: expected some of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(name)}`);
  }
  if (name === 'tensorflow' && !tfjsNodeInstalled()) {
    fail(
      '--backends tensorflow: @tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node)',
    );
  }
  if (name === 'torch' && torchMissing !== undefined) {
    fail(`--backends torch: the PyTorch engine needs torch (${torchMissing})`);
  }
  if (name === 'native' && native.addon === undefined) {
    fail(`--backends native: the native addon is not available (${native.reason})`);
  }
  return name as Backend;
});
if (native.addon === undefined) console.log(`native kernels: not available (${native.reason})`);

/** Steps per measurement: enough samples for a median, few enough that slow models stay minutes. */
function stepsFor(model: ModelName, backend: Backend | 'pytorch'): number {
  const heavy = model === 'conv-4' || model.startsWith('resnet') || model.startsWith('vgg');
  const steps = heavy ? (backend === 'wasm' ? 4 : 8) : 30;
  return values.quick ? Math.max(2, Math.floor(steps / 4)) : steps;
}

/**
 * Untimed steps before measuring, the same for both sides. Small models need tens: V8 tiers
 * TF.js's per-op engine code up over the first ~50 steps, and a training run is thousands of
 * steps.
 */
function warmupFor(model: ModelName): number {
  const heavy = model === 'conv-4' || model.startsWith('resnet') || model.startsWith('vgg');
  return heavy || values.quick ? 2 : 60;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

interface Sample {
  readonly samplesMs: number[];
  readonly peakRssMb: number;
  readonly dataShare?: number;
}

function ours(backend: Backend, model: ModelName, sparsity: number): Sample {
  return runJson<Sample>(
    process.execPath,
    [
      '--import',
      'tsx',
      here('./train-step.ts'),
      backend,
      model,
      '-',
      String(batch),
      String(stepsFor(model, backend)),
      String(sparsity),
      String(warmupFor(model)),
    ],
    {
      ...process.env,
      CYCLESPARSE_THREADS: String(threads),
      // The PyTorch engine on this CPU uses Debian's python3, as the raw PyTorch side does.
      CYCLESPARSE_PYTHON: process.env.CYCLESPARSE_PYTHON ?? '/usr/bin/python3',
      CYCLESPARSE_DEVICE: 'cpu',
    },
  );
}

function torch(model: ModelName, sparsity: number): Sample {
  return runJson<Sample>(
    '/usr/bin/python3',
    [
      here('./torch_step.py'),
      model,
      String(batch),
      String(stepsFor(model, 'pytorch')),
      String(threads),
      String(sparsity),
      String(warmupFor(model)),
    ],
    // Debian's torch needs OpenBLAS's pthread build held at one thread (research/feasibility.md 3.1).
    { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  );
}

function torchProblem(): string | undefined {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], {
    encoding: 'utf8',
  });
  if (probe.error !== undefined) return `/usr/bin/python3 not found: apt-get install python3`;
  if (probe.status !== 0)
    return 'python3 cannot import torch: apt-get install python3-torch libopenblas0-pthread';
  return undefined;
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Summary {
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly repMediansMs: number[];
  readonly samples: number;
  readonly peakRssMb: number;
  readonly imagesPerSecond: number;
  readonly gflops: number;
  readonly shareOfPeak: number | null;
  readonly dataShare?: number;
}

/** A training step's floating-point work: forward, input gradient and weight gradient, 2 per MAC. */
function flopsPerStep(model: ModelName): number {
  const macs = [...layerMacs(modelSpec(model)).values()].reduce((a, b) => a + b, 0);
  return 6 * macs * batch;
}

/**
 * The machine's attainable fp32 peak at `threads`: a 2048³ SGEMM through oneDNN, the best a
 * kernel here reaches (measured, not a datasheet figure). Unknown without the native addon.
 */
function measuredPeakGflops(): number | null {
  const addon = native.addon;
  if (addon === undefined) return null;
  addon.setThreads(threads);
  const n = 2048;
  const memory = new Float32Array(3 * n * n).fill(0.5);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    addon.matmul(memory.buffer, 1, 1, n, n, n, false, false, 0, n * n, 2 * n * n);
    best = Math.min(best, performance.now() - start);
  }
  return (2 * n ** 3) / (best * 1e6);
}

function summarize(model: ModelName, runs: Sample[], peak: number | null): Summary {
  const all = runs.flatMap((r) => r.samplesMs);
  const medianMs = median(all);
  const gflops = flopsPerStep(model) / (medianMs * 1e6);
  const shares = runs.map((r) => r.dataShare).filter((x): x is number => x !== undefined);
  return {
    medianMs,
    minMs: Math.min(...all),
    maxMs: Math.max(...all),
    repMediansMs: runs.map((r) => median(r.samplesMs)),
    samples: all.length,
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    imagesPerSecond: (batch * 1000) / medianMs,
    gflops,
    shareOfPeak: peak === null ? null : gflops / peak,
    ...(shares.length > 0 ? { dataShare: median(shares) } : {}),
  };
}

if (torchMissing !== undefined) console.log(`PyTorch: not run (${torchMissing}); no ratios`);
const peak = measuredPeakGflops();
console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}; ` +
    `${threads} thread(s), batch ${batch}, ${reps} repetition(s); measured SGEMM peak ` +
    (peak === null ? 'unknown (no native addon)' : `${peak.toFixed(0)} GFLOP/s`),
);

// Dense comparison: 90%-sparse masks as in a sparse run; every implementation computes densely.
const comparison = [];
for (const model of models) {
  const runs = new Map<string, Sample[]>();
  const record = (key: string, sample: Sample) => runs.set(key, [...(runs.get(key) ?? []), sample]);
  const withTorch = torchMissing === undefined && TORCH_MODELS.has(model);
  for (let rep = 0; rep < reps; rep++) {
    // Alternate who goes first so a slow drift does not favour one side.
    const order: (Backend | 'pytorch')[] = withTorch ? [...backends, 'pytorch'] : [...backends];
    if (rep % 2 === 1) order.reverse();
    for (const who of order) {
      process.stderr.write(`  ${model} ${who} (repetition ${rep + 1}/${reps})\n`);
      record(who, who === 'pytorch' ? torch(model, 0.9) : ours(who, model, 0.9));
    }
  }
  const torchSummary = withTorch ? summarize(model, runs.get('pytorch')!, peak) : undefined;
  const cyclesparse = Object.fromEntries(
    backends.map((backend) => {
      const summary = summarize(model, runs.get(backend)!, peak);
      return [
        backend,
        {
          ...summary,
          // wasm runs one thread under Node whatever --threads says.
          threads: backend === 'wasm' ? 1 : threads,
          ratioToTorch: torchSummary ? summary.medianMs / torchSummary.medianMs : null,
          rssRatioToTorch: torchSummary ? summary.peakRssMb / torchSummary.peakRssMb : null,
        },
      ];
    }),
  );
  comparison.push({
    model,
    flopsPerStep: flopsPerStep(model),
    cyclesparse,
    torch: torchSummary ?? null,
  });
}

console.log(
  `\ntraining step, batch ${batch}, ${threads} thread(s) (ratio = cyclesparse ÷ PyTorch)`,
);
console.table(
  comparison.flatMap((row) =>
    Object.entries(row.cyclesparse).map(([backend, s]) => ({
      model: row.model,
      backend: `${backend} (${s.threads}T)`,
      'median ms': s.medianMs.toFixed(1),
      'min–max ms': `${s.minMs.toFixed(1)}–${s.maxMs.toFixed(1)}`,
      'torch ms': row.torch ? row.torch.medianMs.toFixed(1) : '-',
      ratio: s.ratioToTorch === null ? '-' : s.ratioToTorch.toFixed(2),
      'images/s': s.imagesPerSecond.toFixed(0),
      'GFLOP/s': s.gflops.toFixed(1),
      '% peak': s.shareOfPeak === null ? '-' : (100 * s.shareOfPeak).toFixed(1),
      'torch GFLOP/s': row.torch ? row.torch.gflops.toFixed(1) : '-',
      'RSS MB': s.peakRssMb.toFixed(0),
      'torch RSS MB': row.torch ? row.torch.peakRssMb.toFixed(0) : '-',
      'data %': s.dataShare === undefined ? '-' : (100 * s.dataShare).toFixed(2),
    })),
  ),
);

// Sparse against dense on the fastest backend here: step time as the mask gets sparser.
const SPARSITIES = [0, 0.5, 0.9, 0.95, 0.98];
const sparseBackend = backends[0]!;
const sparse = sparseModels.map((model) => {
  const rows = SPARSITIES.map((sparsity) => {
    process.stderr.write(`  sparse ${model} ${sparseBackend} at ${sparsity}\n`);
    return { sparsity, medianMs: median(ours(sparseBackend, model, sparsity).samplesMs) };
  });
  const dense = rows[0]!.medianMs;
  return {
    model,
    backend: sparseBackend,
    rows: rows.map((r) => ({ ...r, speedupOverDense: dense / r.medianMs })),
  };
});
console.log(
  `\nsparse vs dense step (${sparseBackend}): masked weights are still computed densely — ` +
    'no sparse kernel is implemented yet, so speed-ups near 1.0 are the honest result',
);
console.table(
  sparse.flatMap((m) =>
    m.rows.map((r) => ({
      model: m.model,
      sparsity: r.sparsity,
      'median ms': r.medianMs.toFixed(1),
      'dense ÷ sparse': r.speedupOverDense.toFixed(2),
    })),
  ),
);

const report = {
  date: new Date().toISOString(),
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    node: process.version,
  },
  settings: { batch, threads, reps, backends, quick: values.quick },
  nativeKernels: native.addon ? native.addon.version() : `not available: ${native.reason}`,
  torch: torchMissing ?? 'ran (OPENBLAS_NUM_THREADS=1)',
  measuredPeakGflops: peak,
  comparison,
  sparseVsDense: sparse,
};
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${values.out}`);
