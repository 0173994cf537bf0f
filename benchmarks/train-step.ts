/**
 * One training-step benchmark in its own process (so peak RSS belongs to one model and one
 * backend): `tsx benchmarks/train-step.ts <backend> <model> <stem|-> <batch> <steps> [sparsity] [warmup]`.
 * Prints one JSON line: step latency statistics (tinybench), images/s, peak RSS, and the share
 * of a step spent enforcing the mask (the gradient × mask products MaskedSgd does).
 */

import * as tf from '@tensorflow/tfjs-core';
import { Bench } from 'tinybench';
import { CONSTANT, LrSchedule } from '../src/core/lr-schedule.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { Batcher, CIFAR_AUGMENTATION, NO_AUGMENTATION } from '../src/data/batches.js';
import { syntheticDataset } from '../src/data/dataset.js';
import { useBackend, type BackendName } from '../src/engine/backend.js';
import { Network } from '../src/engine/network.js';
import { MaskedSgd } from '../src/engine/sgd.js';
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
const backend = await useBackend(backendName as BackendName);
const spec = modelSpec(
  model as ModelName,
  stem === '-' ? {} : { stem: stem as 'cifar' | 'imagenet' },
);
const network = Network.initialize(spec, 0);
const sgd = new MaskedSgd(network);
// A random mask at `sparsity` (default 90%): the work of a sparse run. Every backend here
// computes densely, so the step time should not depend on it; the peer benchmark measures that.
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
sgd.setMask(mask);
const data = syntheticDataset({
  shape: spec.input,
  classes: spec.classes,
  count: batch,
  stream: randomStream(0, 'data'),
});
const normalization = {
  mean: new Array<number>(spec.input[2]).fill(0.5),
  std: new Array<number>(spec.input[2]).fill(0.25),
};
// CIFAR-shaped models train with crop + flip, as their presets do; the data share below includes it.
const augmentation = spec.input[2] === 3 ? CIFAR_AUGMENTATION : NO_AUGMENTATION;
const batcher = new Batcher(data, batch, normalization, augmentation);
const schedule = new LrSchedule({
  peak: 0.01,
  shape: CONSTANT,
  granularity: 'step',
  stepsPerEpoch: 1,
  cycleEpochs: [steps + warmup + 10],
});
const trainer = new Trainer(network, sgd, batcher, schedule, { seed: 0 });

const bench = new Bench({
  name: 'step',
  iterations: steps,
  time: 0,
  warmupIterations: warmup,
  warmupTime: 0,
  retainSamples: true,
});
bench.add('step', () => {
  trainer.trainStep();
});
await bench.run();
const result = bench.tasks[0]!.result;
if (result.state !== 'completed') throw new Error(`benchmark ${result.state}`);

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

// Data loading: filling one batch (normalisation lookup, augmentation) as trainStep does.
const order = Array.from({ length: batch }, (_, i) => i);
const augmentationStream = randomStream(0, 'augmentation');
// Steady state, as in training: V8 optimises the per-pixel loop after some calls.
const loading = new Bench({ iterations: 200, time: 0, warmupIterations: 50, warmupTime: 0 });
loading.add('fill', () => {
  batcher.fill(0, order, augmentationStream);
});
await loading.run();
const fill = loading.tasks[0]!.result;
if (fill.state !== 'completed') throw new Error(`data benchmark ${fill.state}`);

console.log(
  JSON.stringify({
    backend: backend.name,
    threads: backend.threads,
    model: spec.name,
    batch,
    sparsity,
    steps: result.latency.samplesCount,
    samplesMs: [...(result.latency.samples ?? [])],
    medianMs: result.latency.p50,
    minMs: result.latency.min,
    maxMs: result.latency.max,
    imagesPerSecond: (batch * 1000) / result.latency.p50,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    maskShare: enforcement.latency.p50 / result.latency.p50,
    dataShare: fill.latency.p50 / result.latency.p50,
  }),
);
