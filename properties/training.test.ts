/**
 * Invariants of masked training, over random small models (MLPs, conv nets with or without
 * BatchNorm, residual blocks with identity or projection shortcuts), random masks and seeds.
 * Exact properties are checked bit for bit; backend agreement within a stated tolerance.
 */

import * as tf from '@tensorflow/tfjs-core';
import { fc, test } from '@fast-check/vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect } from 'vitest';
import { CIFAR_STEP_WARMUP, LrSchedule } from '../src/core/lr-schedule.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { Batcher } from '../src/data/batches.js';
import { syntheticDataset } from '../src/data/dataset.js';
import { useBackend, type BackendName } from '../src/engine/backend.js';
import { Network } from '../src/engine/network.js';
import { MaskedSgd } from '../src/engine/sgd.js';
import { prunableLayers, type ModelSpec } from '../src/models/spec.js';
import { smallModel } from './models.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { Trainer } from '../src/train/trainer.js';

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
});

const maskFor = (spec: ModelSpec, seed: number, density: number): Mask => {
  const stream = randomStream(seed, 'maskSampling');
  const layers = prunableLayers(spec);
  return Mask.fromArrays(
    layers,
    Object.fromEntries(
      layers.map((l) => [
        l.name,
        Array.from({ length: l.shape.reduce((a, b) => a * b, 1) }, () =>
          stream.float() < density ? 1 : 0,
        ),
      ]),
    ),
  );
};

interface RunOptions {
  readonly seed: number;
  /** Seed of the synthetic data (default: `seed`). */
  readonly dataSeed?: number;
  readonly mask?: Mask | null;
  readonly nesterov?: boolean;
  readonly weightDecay?: number;
  readonly augment?: boolean;
}

/** A trainer over synthetic data: 10 images, batch 4 (3 steps an epoch), 2 cycles of 2 epochs. */
function setUp(spec: ModelSpec, options: RunOptions): Trainer {
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: 10,
    stream: randomStream(options.dataSeed ?? options.seed, 'data'),
  });
  const network = Network.initialize(spec, options.seed);
  const sgd = new MaskedSgd(network, {
    momentum: 0.9,
    nesterov: options.nesterov ?? false,
    weightDecay: options.weightDecay ?? 5e-4,
  });
  if (options.mask !== undefined) sgd.setMask(options.mask);
  const normalization = {
    mean: new Array<number>(spec.input[2]).fill(0.5),
    std: new Array<number>(spec.input[2]).fill(0.25),
  };
  const batcher = new Batcher(
    data,
    4,
    normalization,
    options.augment ? { cropPadding: 1, horizontalFlip: true } : undefined,
  );
  const schedule = new LrSchedule({
    peak: 0.05,
    shape: CIFAR_STEP_WARMUP,
    granularity: 'step',
    stepsPerEpoch: batcher.batchesPerEpoch,
    cycleEpochs: [2, 2],
  });
  return new Trainer(network, sgd, batcher, schedule, { seed: options.seed });
}

/** Every parameter, buffer and momentum value of a trainer. */
function trainingState(trainer: Trainer): Map<string, Float32Array> {
  const momentum = [...trainer.optimizer.snapshot()].map(([k, v]) => [`momentum:${k}`, v] as const);
  return new Map([...trainer.network.snapshot(), ...momentum]);
}

/** The trainer's final state; frees its tensors. */
function finish(trainer: Trainer): Map<string, Float32Array> {
  const state = trainingState(trainer);
  trainer.optimizer.dispose();
  trainer.network.dispose();
  return state;
}

const seed = fc.integer({ min: 0, max: 1000 });
const steps = fc.integer({ min: 1, max: 9 });

describe('masked training', () => {
  test.prop(
    [
      smallModel,
      seed,
      fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      fc.boolean(),
      fc.double({ min: 0, max: 0.05, noNaN: true }),
    ],
    { numRuns: 20 },
  )(
    'pruned weights and their momentum stay exactly 0 after every step, with momentum and weight decay',
    (spec, s, density, nesterov, weightDecay) => {
      const mask = maskFor(spec, s, density);
      const trainer = setUp(spec, { seed: s, mask, nesterov, weightDecay });
      for (let step = 0; step < 5; step++) {
        trainer.trainStep();
        for (const layer of mask.layers) {
          const kept = mask.toArray(layer.name);
          const weight = trainer.network.param(`${layer.name}.weight`).dataSync();
          const momentum = trainer.optimizer.momentum.get(`${layer.name}.weight`)!.dataSync();
          kept.forEach((k, i) => {
            if (k === 0 && (weight[i] !== 0 || momentum[i] !== 0)) {
              throw new Error(
                `step ${step}: ${layer.name}[${i}] weight ${weight[i]}, momentum ${momentum[i]}`,
              );
            }
          });
        }
      }
      finish(trainer);
    },
  );

  test.prop([smallModel, seed, steps], { numRuns: 15 })(
    'an all-ones mask gives the same trajectory as no mask, bit for bit',
    (spec, s, k) => {
      const masked = setUp(spec, { seed: s, mask: Mask.dense(prunableLayers(spec)) });
      const plain = setUp(spec, { seed: s });
      for (let i = 0; i < k; i++) {
        masked.trainStep();
        plain.trainStep();
      }
      expect(finish(masked)).toEqual(finish(plain));
    },
  );

  test.prop([smallModel, seed, steps, fc.boolean()], { numRuns: 15 })(
    'the same seed gives bit-identical weights after k steps',
    (spec, s, k, augment) => {
      const run = () => {
        const trainer = setUp(spec, { seed: s, augment });
        for (let i = 0; i < k; i++) trainer.trainStep();
        return finish(trainer);
      };
      expect(run()).toEqual(run());
    },
  );

  test.prop(
    [
      smallModel,
      seed,
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 1, max: 5 }),
      fc.boolean(),
    ],
    { numRuns: 15 },
  )(
    'checkpoint and resume continue exactly as the uninterrupted run',
    (spec, s, before, after, augment) => {
      const mask = maskFor(spec, s, 0.6);
      const straight = setUp(spec, { seed: s, mask, augment });
      for (let i = 0; i < before + after; i++) straight.trainStep();

      const first = setUp(spec, { seed: s, mask, augment });
      for (let i = 0; i < before; i++) first.trainStep();
      const dir = join(mkdtempSync(join(tmpdir(), 'ckpt-')), 'checkpoint');
      saveCheckpoint(dir, first);
      const saved = finish(first);
      // Another seed for weights, mask and streams: all of it must come from the checkpoint.
      const resumed = setUp(spec, { seed: s + 1, dataSeed: s, augment });
      restoreCheckpoint(loadCheckpoint(dir), resumed);
      expect(resumed.position.step).toBe(before);
      expect(trainingState(resumed)).toEqual(saved);
      for (let i = 0; i < after; i++) resumed.trainStep();
      expect(finish(resumed)).toEqual(finish(straight));
    },
  );

  test.prop([smallModel, seed], { numRuns: 10 })(
    'a training step leaves no tensor behind',
    (spec, s) => {
      const trainer = setUp(spec, { seed: s, mask: maskFor(spec, s, 0.5) });
      trainer.trainStep();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) trainer.trainStep();
      expect(tf.memory().numTensors).toBe(before);
      finish(trainer);
    },
  );
});

/** Logits and gradients of one training-mode forward pass on `backend`, as plain arrays. */
async function forwardAndGradients(
  backend: BackendName,
  spec: ModelSpec,
  s: number,
): Promise<Map<string, Float32Array>> {
  await useBackend(backend);
  const network = Network.initialize(spec, s);
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: 4,
    stream: randomStream(s, 'data'),
  });
  const batch = new Batcher(data, 4, {
    mean: new Array<number>(spec.input[2]).fill(0.5),
    std: new Array<number>(spec.input[2]).fill(0.25),
  }).fill(0, undefined);
  const out = new Map<string, Float32Array>();
  tf.tidy(() => {
    const images = tf.tensor4d(batch.images, [4, ...spec.input]);
    const oneHot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), spec.classes);
    const params = [...network.params];
    const { grads } = tf.variableGrads(
      () => {
        const { logits, statistics } = network.forward(images, 'train');
        statistics.forEach((st) => tf.dispose([st.mean, st.variance]));
        out.set('logits', logits.dataSync() as Float32Array);
        return tf.losses.softmaxCrossEntropy(oneHot, logits);
      },
      params.map(([, v]) => v),
    );
    for (const [name, v] of params) out.set(name, grads[v.name]!.dataSync() as Float32Array);
  });
  network.dispose();
  return out;
}

describe('backends', () => {
  test.prop([smallModel, seed], { numRuns: 12 })(
    'wasm (with our kernels) and cpu agree on logits and gradients within 1e-4 of each tensor’s scale + 1e-6',
    async (spec, s) => {
      const onCpu = await forwardAndGradients('cpu', spec, s);
      const onWasm = await forwardAndGradients('wasm', spec, s);
      // A 1×1 convolution of one input channel straight into BatchNorm: each output channel is
      // w·x, normalised, so the loss does not depend on w at all and its gradient is 0 in exact
      // arithmetic. What float32 computes there is cancellation noise (seen at 0.015 with batch
      // 4), which no two backends need to share.
      const exactlyZero = new Set(
        spec.nodes.flatMap((node, i) =>
          node.op === 'conv' && node.kernel === 1 && node.in === 1 && spec.nodes[i + 1]?.op === 'bn'
            ? [`${node.name}.weight`]
            : [],
        ),
      );
      for (const [name, expected] of onCpu) {
        if (exactlyZero.has(name)) continue;
        const actual = onWasm.get(name)!;
        // Relative to the tensor's largest value, plus an absolute floor for gradients that are 0
        // in exact arithmetic (a 1×1 conv on one channel before BatchNorm) and float noise here.
        const scale = Math.max(...Array.from(expected, Math.abs));
        actual.forEach((v, i) => {
          if (Math.abs(v - expected[i]!) > 1e-4 * scale + 1e-6)
            throw new Error(`${name}[${i}]: wasm ${v}, cpu ${expected[i]} (scale ${scale})`);
        });
      }
    },
  );
});
