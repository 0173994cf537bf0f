/**
 * One training-step benchmark in its own process (so peak RSS belongs to one model and one
 * engine): `tsx benchmarks/train-step.ts <backend> <model> <stem|-> <batch> <steps> [sparsity] [warmup]`.
 * `backend` is a TF.js backend or `torch` (device from CYCLESPARSE_DEVICE, default cpu; precision
 * from CYCLESPARSE_PRECISION, default fp32).
 *
 * Steps run as training does: an epoch's steps in one request to the engine. The synthetic data
 * set holds `chunk` batches (50, or fewer when fewer steps are asked for), each timed sample is
 * one such epoch divided by its steps, so the PyTorch process's round trip is paid once per epoch as
 * in a real run. Prints one JSON line: per-step times (tinybench), images/s, peak RSS (of this
 * process; the PyTorch process's is `workerPeakRssMb`), and on TF.js the shares of a step spent
 * enforcing the mask and filling a batch.
 *
 * On `native`, masked layers at most half dense train on the sparse kernels unless
 * CYCLESPARSE_SPARSE=off (engine/sparse.ts); the line then names the mode and every product's
 * choice (`sparseDecisions`, made during the untimed warm-up: the first use times both kernels).
 */

import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { CONSTANT, LrSchedule } from '../src/core/lr-schedule.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { CIFAR_AUGMENTATION, drawAugmentation, NO_AUGMENTATION } from '../src/data/batches.js';
import { syntheticDataset } from '../src/data/dataset.js';
import type { BackendName, Precision } from '../src/engine/engine.js';
import { closeEngines, openEngine } from '../src/engine/open.js';
import { sparseMode } from '../src/engine/sparse.js';
import { TfjsModel } from '../src/engine/tfjs-engine.js';
import { batcherFor } from '../src/engine/tfjs-engine.js';
import { TorchEngine } from '../src/engine/torch/engine.js';
import { initialValues } from '../src/models/init.js';
import { prunableLayers } from '../src/models/spec.js';
import { modelSpec, type ModelName } from '../src/models/zoo.js';
import { Trainer } from '../src/train/trainer.js';

const [backendName, model, stem, batchText, stepsText, sparsityText, warmupText] =
  process.argv.slice(2);
const batch = Number(batchText);
const steps = Number(stepsText);
const sparsity = sparsityText === undefined ? 0.9 : Number(sparsityText);
// Untimed steps first: V8 tiers TF.js's engine code up over the first tens of small steps.
const warmup = warmupText === undefined ? 2 : Number(warmupText);
const chunk = Math.max(1, Math.min(50, steps));
const engine = await openEngine({
  backend: backendName as BackendName,
  ...(backendName === 'torch'
    ? {
        device: process.env.CYCLESPARSE_DEVICE ?? 'cpu',
        precision: (process.env.CYCLESPARSE_PRECISION ?? 'fp32') as Precision,
      }
    : {}),
});
const spec = modelSpec(
  model as ModelName,
  stem === '-' ? {} : { stem: stem as 'cifar' | 'imagenet' },
);
const trained = await engine.model(spec, initialValues(spec, 0));
// A random mask at `sparsity` (default 90%): the work of a sparse run. Only the native backend's
// sparse kernels (engine/sparse.ts) make the step time depend on it; the peer benchmark measures that.
const stream = randomStream(0, 'maskSampling');
const layers = prunableLayers(spec);
const mask = Mask.fromArrays(
  layers,
  Object.fromEntries(
    layers.map((l) => [
      l.name,
      Array.from({ length: l.shape.reduce((a, b) => a * b, 1) }, () =>
        stream.float() < 1 - sparsity ? 1 : 0,
      ),
    ]),
  ),
);
await trained.setMask(mask);
const data = syntheticDataset({
  shape: spec.input,
  classes: spec.classes,
  count: batch * chunk,
  stream: randomStream(0, 'data'),
});
const normalization = {
  mean: new Array<number>(spec.input[2]).fill(0.5),
  std: new Array<number>(spec.input[2]).fill(0.25),
};
// CIFAR-shaped models train with crop + flip, as their presets do; the data share below includes it.
const augmentation = spec.input[2] === 3 ? CIFAR_AUGMENTATION : NO_AUGMENTATION;
const epochs = Math.ceil(steps / chunk) + Math.ceil(warmup / chunk) + 2;
const schedule = new LrSchedule({
  peak: 0.01,
  shape: CONSTANT,
  granularity: 'step',
  stepsPerEpoch: chunk,
  cycleEpochs: [epochs],
});
const trainer = new Trainer(
  trained,
  { dataset: data, normalization, augmentation, batchSize: batch },
  schedule,
  { seed: 0 },
);

const bench = new Bench({
  name: 'epoch',
  iterations: Math.ceil(steps / chunk),
  time: 0,
  warmupIterations: Math.ceil(warmup / chunk),
  warmupTime: 0,
  retainSamples: true,
});
bench.add('epoch', async () => {
  await trainer.run({ untilStep: trainer.position.step + chunk });
});
await bench.run();
const result = bench.tasks[0]!.result;
if (result.state !== 'completed') throw new Error(`benchmark ${result.state}`);
const samplesMs = [...(result.latency.samples ?? [])].map((ms) => ms / chunk);
const sorted = [...samplesMs].sort((a, b) => a - b);
const medianMs = sorted[sorted.length >> 1]!;

/** TF.js only: what enforcing the mask and filling a batch cost, as shares of a step. */
async function tfjsShares(): Promise<{ maskShare: number; dataShare: number }> {
  // The enforcement MaskedSgd adds to a step: one gradient × mask product per masked weight.
  const masks = layers.map((l) => tf.tensor(Float32Array.from(mask.toArray(l.name)), [...l.shape]));
  const grads = layers.map((l) => tf.randomNormal([...l.shape]));
  const enforce = new Bench({ iterations: 20, time: 0 });
  enforce.add('mask', () => {
    // wasm and cpu run kernels synchronously, so no read-back is needed to time them.
    tf.tidy(() => masks.forEach((m, i) => tf.mul(grads[i]!, m)));
  });
  await enforce.run();
  const enforcement = enforce.tasks[0]!.result;
  if (enforcement.state !== 'completed') throw new Error(`mask benchmark ${enforcement.state}`);
  // Data loading: filling one batch (normalisation lookup, augmentation) as a step does.
  const batcher = batcherFor(data, normalization);
  const indices = Uint32Array.from({ length: batch }, (_, i) => i);
  const augmentationStream = randomStream(0, 'augmentation');
  // Steady state, as in training: V8 optimises the per-pixel loop after some calls.
  const loading = new Bench({ iterations: 200, time: 0, warmupIterations: 50, warmupTime: 0 });
  loading.add('fill', () => {
    batcher.fill(indices, drawAugmentation(augmentation, data, indices, augmentationStream));
  });
  await loading.run();
  const fill = loading.tasks[0]!.result;
  if (fill.state !== 'completed') throw new Error(`data benchmark ${fill.state}`);
  return {
    maskShare: enforcement.latency.p50 / medianMs,
    dataShare: fill.latency.p50 / medianMs,
  };
}

/** The PyTorch process's peak RSS (Linux), read before it exits. */
function workerPeakRssMb(): number | null {
  if (!(engine instanceof TorchEngine) || engine.process.pid === undefined) return null;
  try {
    const status = readFileSync(`/proc/${engine.process.pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

const shares = engine.info.name === 'torch' ? {} : await tfjsShares();
// Read before dispose: the choices belong to the mask's patterns, freed with the model.
const sparse =
  engine.info.name === 'native' && trained instanceof TfjsModel
    ? {
        sparseMode: sparseMode(),
        sparseDecisions: (trained.sparseLayers?.decisions() ?? []).map((d) => ({
          layer: d.layer,
          product: d.product,
          choice: d.choice,
          ...(d.denseMs === undefined ? {} : { denseMs: d.denseMs, sparseMs: d.sparseMs }),
        })),
      }
    : {};
const workerRss = workerPeakRssMb();
await trained.dispose();
await closeEngines();

console.log(
  JSON.stringify({
    backend: engine.info.name,
    ...(engine.info.torch ? { device: engine.info.torch.device, torch: engine.info.torch } : {}),
    threads: engine.info.threads,
    model: spec.name,
    batch,
    sparsity,
    steps: samplesMs.length * chunk,
    stepsPerSample: chunk,
    samplesMs,
    medianMs,
    minMs: sorted[0],
    maxMs: sorted.at(-1),
    imagesPerSecond: (batch * 1000) / medianMs,
    // The whole cost of a run on this engine: this process, plus the PyTorch process's.
    peakRssMb: process.resourceUsage().maxRSS / 1024 + (workerRss ?? 0),
    workerPeakRssMb: workerRss,
    ...shares,
    ...sparse,
  }),
);
