/**
 * `npm run bench:peer [-- options]`: cyclesparse against PyTorch on the same CPU, same models,
 * same batch and the same number of threads, alternating the two in every repetition so drift
 * (thermal, other load) hits both; then what the native backend's sparse kernels
 * (engine/sparse.ts) gain. Prints four tables and writes `reports/benchmarks/peer.json`:
 *
 * 1. Dense step against PyTorch (`comparison`): 90%-sparse masks as in a sparse run, every
 *    implementation multiplying densely — cyclesparse's side runs with CYCLESPARSE_SPARSE=off,
 *    so this stays a comparison of dense kernels. Ratios are cyclesparse ÷ PyTorch of median
 *    step times over all repetitions' samples. PyTorch runs only when Debian's python3-torch
 *    imports; the benchmark installs nothing and says what is missing. With torch, cyclesparse's
 *    own PyTorch engine (backend `torch`, device cpu) is one of the rows: its ratio is the
 *    engine's overhead over raw PyTorch on the same threads. The native backend runs when its
 *    addon is built (scripts/build-native.mjs); `tensorflow` (@tensorflow/tfjs-node, TF.js's
 *    official fast path) whenever it is installed.
 * 2. Sparse against dense step (`sparseVsDense`, native only): the `--sparse-models` at each of
 *    `--sparsities`, with sparse kernels (CYCLESPARSE_SPARSE=auto, the default: each product of
 *    each layer at most half dense chosen by measured cost on first use) and without (`off`),
 *    alternating the two in each repetition; speed-up = off ÷ auto at that sparsity, and the
 *    dense step (off at sparsity 0) ÷ auto, the issue's target. The JSON has every product's
 *    choice per repetition.
 * 3. Per layer kind (`sparseLayers`, benchmarks/sparse-layers.ts in a process of its own): the
 *    models' layer shapes at batch `--batch`, dense native kernel against the sparse kernel per
 *    product (forward; backward = input and filter gradients) and their sum, minimum of
 *    `--layer-reps` calls each, at the nonzero `--sparsities`.
 * 4. End to end (`endToEnd`, benchmarks/sparse-run.ts): the wall time and final test accuracy
 *    of an LRR run to 95% on LeNet-300-100 (MNIST) and a cyclic run at 95% from a random ERK
 *    mask on ResNet-20 (the real 4,000-image CIFAR-10 subset in ../shared/data), with sparse
 *    kernels auto and off, same seed, scaled down by the --lrr-* and --erk-* flags (printed).
 *
 * Each measurement is its own process (train-step.ts / torch_step.py / sparse-layers.ts /
 * sparse-run.ts), so peak RSS belongs to one model.
 *
 * Options [default; under --quick]:
 *   --models lenet-300-100,lenet-5,conv-4,resnet-20 [lenet-300-100]
 *   --backends native,wasm[,tensorflow][,torch]   --reps 3 [1]   --threads <cores>   --batch 128
 *   --sparse-models lenet-300-100,resnet-20   --sparsities 0,0.8,0.9,0.95,0.98 [0,0.95] (the
 *   layer table takes the nonzero ones)   --layer-reps 10 [3]   --skip-layers
 *   --e2e lrr-lenet,erk-resnet   --lrr-epochs 2 [1] (per cycle)   --lrr-train-per-class 5000 [100]
 *   --lrr-test-per-class 500 [50]   --erk-epochs 4 [1] (per cycle)   --erk-cycles 4 [2]
 *   --erk-train 3000 [384]   --erk-test 1000 [200] (images of the 4,000)
 *   --out reports/benchmarks/peer.json   --quick
 *
 * An empty list (`--models ''`, `--sparse-models ''`, `--e2e ''`) leaves that table out.
 * `--quick`: one model in the comparison, two sparsities, fewer steps and repetitions and a tiny
 * end-to-end scale: a smoke run of every table (meant to take under two minutes on an idle 2-core
 * machine); its numbers mean nothing.
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
    models: { type: 'string' },
    backends: { type: 'string' },
    reps: { type: 'string' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    batch: { type: 'string', default: '128' },
    'sparse-models': { type: 'string', default: 'lenet-300-100,resnet-20' },
    sparsities: { type: 'string' },
    'layer-reps': { type: 'string' },
    'skip-layers': { type: 'boolean', default: false },
    e2e: { type: 'string', default: 'lrr-lenet,erk-resnet' },
    // End-to-end scale: defaults below, smaller under --quick.
    'lrr-epochs': { type: 'string' },
    'lrr-train-per-class': { type: 'string' },
    'lrr-test-per-class': { type: 'string' },
    'erk-epochs': { type: 'string' },
    'erk-cycles': { type: 'string' },
    'erk-train': { type: 'string' },
    'erk-test': { type: 'string' },
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

const reps = positiveInteger('reps', values.reps ?? (values.quick ? '1' : '3'));
const threads = positiveInteger('threads', values.threads);
const batch = positiveInteger('batch', values.batch);
// --quick keeps one model of the comparison and two sparsities, so a smoke run stays minutes.
const models = modelList(
  'models',
  values.models ?? (values.quick ? 'lenet-300-100' : 'lenet-300-100,lenet-5,conv-4,resnet-20'),
);
const sparseModels = modelList('sparse-models', values['sparse-models']);
const sparsities = (values.sparsities ?? (values.quick ? '0,0.95' : '0,0.8,0.9,0.95,0.98'))
  .split(',')
  .map((text) => {
    const value = Number(text);
    if (text.trim() === '' || !(value >= 0 && value < 1))
      fail(`--sparsities: expected numbers in [0, 1), got ${JSON.stringify(text)}`);
    return value;
  });
const layerReps = positiveInteger(
  'layer-reps',
  values['layer-reps'] ?? (values.quick ? '3' : '10'),
);
const E2E_RUNS = ['lrr-lenet', 'erk-resnet'] as const;
type EndToEndRun = (typeof E2E_RUNS)[number];
const e2eRuns = values.e2e
  .split(',')
  .filter((name) => name.length > 0)
  .map((name) => {
    if (!(E2E_RUNS as readonly string[]).includes(name))
      fail(`--e2e: expected some of ${E2E_RUNS.join(', ')}, got ${JSON.stringify(name)}`);
    return name as EndToEndRun;
  });
/** Each end-to-end run's flags for sparse-run.ts: the given ones, else the (quick) defaults. */
const e2eScale: Record<EndToEndRun, Record<string, number>> = {
  'lrr-lenet': {
    epochs: positiveInteger('lrr-epochs', values['lrr-epochs'] ?? (values.quick ? '1' : '2')),
    'train-per-class': positiveInteger(
      'lrr-train-per-class',
      values['lrr-train-per-class'] ?? (values.quick ? '100' : '5000'),
    ),
    'test-per-class': positiveInteger(
      'lrr-test-per-class',
      values['lrr-test-per-class'] ?? (values.quick ? '50' : '500'),
    ),
  },
  'erk-resnet': {
    epochs: positiveInteger('erk-epochs', values['erk-epochs'] ?? (values.quick ? '1' : '4')),
    cycles: positiveInteger('erk-cycles', values['erk-cycles'] ?? (values.quick ? '2' : '4')),
    train: positiveInteger('erk-train', values['erk-train'] ?? (values.quick ? '384' : '3000')),
    test: positiveInteger('erk-test', values['erk-test'] ?? (values.quick ? '200' : '1000')),
  },
};
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

type SparseMode = 'auto' | 'off';

interface Decision {
  readonly layer: string;
  readonly product: string;
  readonly choice: 'dense' | 'sparse';
  readonly denseMs?: number;
  readonly sparseMs?: number;
}

/** One step measurement; `sparse` is CYCLESPARSE_SPARSE for the process (native only). */
function ours(
  backend: Backend,
  model: ModelName,
  sparsity: number,
  sparse: SparseMode,
): Sample & { sparseDecisions?: Decision[] } {
  return runJson<Sample & { sparseDecisions?: Decision[] }>(
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
      CYCLESPARSE_SPARSE: sparse,
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

// Dense comparison: 90%-sparse masks as in a sparse run; every implementation computes densely
// (cyclesparse with CYCLESPARSE_SPARSE=off: 90% would put the native backend's layers on the
// sparse kernels, and this table compares dense kernels).
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
      record(who, who === 'pytorch' ? torch(model, 0.9) : ours(who, model, 0.9, 'off'));
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

if (comparison.length > 0) {
  console.log(
    `\ndense training step, batch ${batch}, ${threads} thread(s), 90%-sparse masks computed densely ` +
      '(cyclesparse with CYCLESPARSE_SPARSE=off; ratio = cyclesparse ÷ PyTorch)',
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
}

// Sparse against dense on the native backend: the same model and mask with the sparse kernels
// (auto) and without (off), alternating which goes first in each repetition.
const sparseBackendReady = native.addon !== undefined;
if (!sparseBackendReady && sparseModels.length > 0)
  console.log(`sparse vs dense: not run (the native addon: ${native.reason})`);
const sparse = (sparseBackendReady ? sparseModels : []).map((model) => {
  const rows = sparsities.map((sparsity) => {
    const samples: Record<SparseMode, number[]> = { auto: [], off: [] };
    const decisions: Decision[][] = [];
    for (let rep = 0; rep < reps; rep++) {
      const order: SparseMode[] = rep % 2 === 0 ? ['auto', 'off'] : ['off', 'auto'];
      for (const mode of order) {
        process.stderr.write(
          `  sparse ${model} at ${sparsity}, ${mode} (repetition ${rep + 1}/${reps})\n`,
        );
        const sample = ours('native', model, sparsity, mode);
        samples[mode].push(...sample.samplesMs);
        if (mode === 'auto') decisions.push(sample.sparseDecisions ?? []);
      }
    }
    const medianMs = median(samples.auto);
    const medianMsOff = median(samples.off);
    return {
      sparsity,
      medianMs,
      medianMsOff,
      speedupOverOff: medianMsOff / medianMs,
      /** Per repetition: the products that chose the sparse kernel, of those decided. */
      sparseProducts: decisions.map((d) => d.filter((x) => x.choice === 'sparse').length),
      decidedProducts: decisions.map((d) => d.length),
      decisions,
    };
  });
  // The model's dense step: no sparse kernels, sparsity 0 (or the least sparse measured).
  const dense = rows[0]!.medianMsOff;
  return {
    model,
    backend: 'native' as const,
    denseStepMs: dense,
    denseStepSparsity: rows[0]!.sparsity,
    rows: rows.map((r) => ({ ...r, speedupOverDense: dense / r.medianMs })),
  };
});
if (sparse.length > 0) {
  console.log(
    `\nsparse vs dense step (native, batch ${batch}, ${threads} thread(s), medians of ${reps} ` +
      'repetition(s)): auto = sparse kernels where measured faster (CYCLESPARSE_SPARSE=auto), ' +
      'off = dense kernels only; dense step = off at the first sparsity; sparse products = ' +
      'products on the sparse kernel / products decided, per repetition',
  );
  console.table(
    sparse.flatMap((m) =>
      m.rows.map((r) => ({
        model: m.model,
        sparsity: r.sparsity,
        'auto ms': r.medianMs.toFixed(1),
        'off ms': r.medianMsOff.toFixed(1),
        'off ÷ auto': r.speedupOverOff.toFixed(2),
        'dense step ÷ auto': r.speedupOverDense.toFixed(2),
        'sparse products': r.sparseProducts.map((k, i) => `${k}/${r.decidedProducts[i]}`).join(' '),
      })),
    ),
  );
}

// Per layer kind: dense native kernel against sparse kernel, product by product.
interface LayerRow {
  readonly kind: string;
  readonly layer: string;
  readonly backward: 'input and filter gradients' | 'filter gradient';
  readonly sparsity: number;
  readonly kept: number;
  readonly weights: number;
  readonly products: Record<string, { denseMs: number; sparseMs: number; speedup: number }>;
  readonly sum: { denseMs: number; sparseMs: number; bestMs: number; speedup: number };
}
const layerSparsities = sparsities.filter((x) => x > 0);
let layers: {
  threads: number;
  batch: number;
  reps: number;
  timing: string;
  rows: LayerRow[];
} | null = null;
if (values['skip-layers'] || layerSparsities.length === 0) {
  // left out on request
} else if (native.addon === undefined) {
  console.log(`sparse layers: not run (the native addon: ${native.reason})`);
} else {
  process.stderr.write('  sparse layers\n');
  layers = runJson(
    process.execPath,
    [
      '--import',
      'tsx',
      here('./sparse-layers.ts'),
      '--reps',
      String(layerReps),
      '--batch',
      String(batch),
      '--sparsities',
      layerSparsities.join(','),
    ],
    { ...process.env, CYCLESPARSE_THREADS: String(threads) },
  );
  const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);
  const product = (p: { denseMs: number; sparseMs: number; speedup: number } | undefined) =>
    p === undefined ? '-' : `${ms(p.denseMs)} / ${ms(p.sparseMs)} (${p.speedup.toFixed(2)})`;
  console.log(
    `\nper layer kind (batch ${layers!.batch}, ${layers!.threads} thread(s), ${layers!.timing}): ` +
      'dense native kernel / sparse kernel ms (dense ÷ sparse); backward = input and filter ' +
      "gradients (the filter's alone for a model's first layer: ¹); best = the faster of each " +
      "product, what auto's choice reaches",
  );
  console.table(
    layers!.rows.map((r) => ({
      layer: r.backward === 'filter gradient' ? `${r.kind} ¹` : r.kind,
      sparsity: r.sparsity,
      forward: product(r.products.forward),
      backward: product(r.products.backward),
      'total dense / sparse / best': `${ms(r.sum.denseMs)} / ${ms(r.sum.sparseMs)} / ${ms(r.sum.bestMs)}`,
      'dense ÷ sparse': r.sum.speedup.toFixed(2),
      'dense ÷ best': (r.sum.denseMs / r.sum.bestMs).toFixed(2),
    })),
  );
}

// End to end: whole runs with the sparse kernels and without, same seed.
interface RunResult {
  readonly wallSeconds: number;
  readonly cyclesSeconds: number;
  readonly steps: number;
  readonly finalSparsity: number | null;
  readonly finalTestAccuracy: number | null;
  readonly bestTestAccuracy: number | null;
  readonly scale: Record<string, number>;
  readonly cycles: unknown[];
}
if (e2eRuns.length > 0 && native.addon === undefined)
  console.log(`end to end: not run (the native addon: ${native.reason})`);
const endToEnd = (native.addon === undefined ? [] : e2eRuns).map((run) => {
  const flags = Object.entries(e2eScale[run]).flatMap(([flag, value]) => [
    `--${flag}`,
    String(value),
  ]);
  const modes = {} as Record<SparseMode, RunResult>;
  for (const mode of ['auto', 'off'] as const) {
    process.stderr.write(`  end to end ${run}, ${mode} (${flags.join(' ')})\n`);
    modes[mode] = runJson<RunResult>(
      process.execPath,
      ['--import', 'tsx', here('./sparse-run.ts'), run, ...flags, '--batch', String(batch)],
      { ...process.env, CYCLESPARSE_THREADS: String(threads), CYCLESPARSE_SPARSE: mode },
    );
  }
  const { auto, off } = modes;
  return {
    run,
    scale: auto.scale,
    steps: auto.steps,
    finalSparsity: auto.finalSparsity,
    auto,
    off,
    speedup: off.wallSeconds / auto.wallSeconds,
    cyclesSpeedup: off.cyclesSeconds / auto.cyclesSeconds,
    accuracyDifference:
      auto.finalTestAccuracy === null || off.finalTestAccuracy === null
        ? null
        : auto.finalTestAccuracy - off.finalTestAccuracy,
  };
});
if (endToEnd.length > 0) {
  console.log(
    `\nend to end (native, ${threads} thread(s), seed 0): wall time of the whole run ` +
      "(model set-up, training, pruning, every epoch's evaluation; no store), sparse kernels " +
      'auto and off; accuracy = final test accuracy. lrr-lenet: LRR to 95% on LeNet-300-100, ' +
      'MNIST; erk-resnet: cyclic from a random ERK mask at 95% on ResNet-20, the CIFAR-10 subset',
  );
  for (const e of endToEnd)
    console.log(
      `  ${e.run} scale: ${Object.entries(e.scale)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; ${e.steps} steps`,
    );
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
  console.table(
    endToEnd.map((e) => ({
      run: e.run,
      'auto s': e.auto.wallSeconds.toFixed(1),
      'off s': e.off.wallSeconds.toFixed(1),
      'off ÷ auto': e.speedup.toFixed(2),
      'cycles off ÷ auto': e.cyclesSpeedup.toFixed(2),
      'auto accuracy': pct(e.auto.finalTestAccuracy),
      'off accuracy': pct(e.off.finalTestAccuracy),
      'auto − off (points)':
        e.accuracyDifference === null ? '-' : (100 * e.accuracyDifference).toFixed(2),
    })),
  );
}

const report = {
  date: new Date().toISOString(),
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    node: process.version,
  },
  settings: {
    batch,
    threads,
    reps,
    backends,
    quick: values.quick,
    // The comparison's cyclesparse side: dense kernels only.
    comparisonSparseMode: 'off',
    sparsities,
    layerReps,
    endToEndScale: Object.fromEntries(e2eRuns.map((run) => [run, e2eScale[run]])),
  },
  nativeKernels: native.addon ? native.addon.version() : `not available: ${native.reason}`,
  torch: torchMissing ?? 'ran (OPENBLAS_NUM_THREADS=1)',
  measuredPeakGflops: peak,
  comparison,
  sparseVsDense: sparse,
  sparseLayers: layers,
  endToEnd,
};
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${values.out}`);
