/**
 * Invariants of masked training, over random small models (MLPs, conv nets with or without
 * BatchNorm, residual blocks with identity or projection shortcuts), random masks and seeds.
 * Exact properties are checked bit for bit; agreement between backends (wasm, cpu) and between
 * engines (TF.js, the PyTorch process) within a stated tolerance.
 */

import * as tf from '@tensorflow/tfjs-core';
import { fc, test } from '@fast-check/vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CIFAR_STEP_WARMUP, LrSchedule } from '../src/core/lr-schedule.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { Batcher, drawAugmentation } from '../src/data/batches.js';
import { syntheticDataset } from '../src/data/dataset.js';
import { useBackend } from '../src/engine/backend.js';
import type { Engine, TfjsBackendName } from '../src/engine/engine.js';
import { Network } from '../src/engine/network.js';
import { TfjsEngine } from '../src/engine/tfjs-engine.js';
import type { TorchEngine } from '../src/engine/torch/engine.js';
import { openTorchCpu, TORCH_PYTHON } from '../src/engine/torch/torch-testing.js';
import { initialValues } from '../src/models/init.js';
import { parameters, prunableLayers, weightName, type ModelSpec } from '../src/models/spec.js';
import { bernoulliMask, smallModel } from './models.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { Trainer } from '../src/train/trainer.js';

let wasm: Engine;
beforeAll(async () => {
  await useBackend('cpu');
  wasm = await TfjsEngine.open('wasm');
});

const maskFor = bernoulliMask;

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
async function setUp(
  spec: ModelSpec,
  options: RunOptions,
  engine: Engine = wasm,
): Promise<Trainer> {
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: 10,
    stream: randomStream(options.dataSeed ?? options.seed, 'data'),
  });
  const model = await engine.model(spec, initialValues(spec, options.seed), {
    momentum: 0.9,
    nesterov: options.nesterov ?? false,
    weightDecay: options.weightDecay ?? 5e-4,
  });
  if (options.mask !== undefined) await model.setMask(options.mask);
  const normalization = {
    mean: new Array<number>(spec.input[2]).fill(0.5),
    std: new Array<number>(spec.input[2]).fill(0.25),
  };
  const schedule = new LrSchedule({
    peak: 0.05,
    shape: CIFAR_STEP_WARMUP,
    granularity: 'step',
    stepsPerEpoch: 3,
    cycleEpochs: [2, 2],
  });
  return new Trainer(
    model,
    {
      dataset: data,
      normalization,
      augmentation: options.augment
        ? { cropPadding: 1, horizontalFlip: true }
        : { cropPadding: 0, horizontalFlip: false },
      batchSize: 4,
    },
    schedule,
    { seed: options.seed },
  );
}

/** Every parameter, buffer and momentum value of a trainer. */
async function trainingState(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const momentum = [...(await trainer.model.readMomentum())].map(
    ([k, v]) => [`momentum:${k}`, v] as const,
  );
  return new Map([...(await trainer.model.read()), ...momentum]);
}

/** The trainer's final state; frees its tensors. */
async function finish(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const state = await trainingState(trainer);
  await trainer.model.dispose();
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
    async (spec, s, density, nesterov, weightDecay) => {
      const mask = maskFor(spec, s, density);
      const trainer = await setUp(spec, { seed: s, mask, nesterov, weightDecay });
      for (let step = 0; step < 5; step++) {
        await trainer.trainStep();
        const values = await trainer.model.read();
        const momenta = await trainer.model.readMomentum();
        for (const layer of mask.layers) {
          const kept = mask.toArray(layer.name);
          const weight = values.get(weightName(layer.name))!;
          const momentum = momenta.get(weightName(layer.name))!;
          kept.forEach((k, i) => {
            if (k === 0 && (weight[i] !== 0 || momentum[i] !== 0)) {
              throw new Error(
                `step ${step}: ${layer.name}[${i}] weight ${weight[i]}, momentum ${momentum[i]}`,
              );
            }
          });
        }
      }
      await finish(trainer);
    },
  );

  test.prop([smallModel, seed, steps], { numRuns: 15 })(
    'an all-ones mask gives the same trajectory as no mask, bit for bit',
    async (spec, s, k) => {
      const masked = await setUp(spec, { seed: s, mask: Mask.dense(prunableLayers(spec)) });
      const plain = await setUp(spec, { seed: s });
      for (let i = 0; i < k; i++) {
        await masked.trainStep();
        await plain.trainStep();
      }
      expect(await finish(masked)).toEqual(await finish(plain));
    },
  );

  test.prop([smallModel, seed, steps, fc.boolean()], { numRuns: 15 })(
    'the same seed gives bit-identical weights after k steps',
    async (spec, s, k, augment) => {
      const run = async () => {
        const trainer = await setUp(spec, { seed: s, augment });
        for (let i = 0; i < k; i++) await trainer.trainStep();
        return finish(trainer);
      };
      expect(await run()).toEqual(await run());
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
    async (spec, s, before, after, augment) => {
      const mask = maskFor(spec, s, 0.6);
      const straight = await setUp(spec, { seed: s, mask, augment });
      for (let i = 0; i < before + after; i++) await straight.trainStep();

      const first = await setUp(spec, { seed: s, mask, augment });
      for (let i = 0; i < before; i++) await first.trainStep();
      const dir = join(mkdtempSync(join(tmpdir(), 'ckpt-')), 'checkpoint');
      await saveCheckpoint(dir, first);
      const saved = await finish(first);
      // Another seed for weights, mask and streams: all of it must come from the checkpoint.
      const resumed = await setUp(spec, { seed: s + 1, dataSeed: s, augment });
      await restoreCheckpoint(loadCheckpoint(dir), resumed);
      expect(resumed.position.step).toBe(before);
      expect(await trainingState(resumed)).toEqual(saved);
      for (let i = 0; i < after; i++) await resumed.trainStep();
      expect(await finish(resumed)).toEqual(await finish(straight));
    },
  );

  test.prop([smallModel, seed], { numRuns: 10 })(
    'a training step leaves no tensor behind',
    async (spec, s) => {
      const trainer = await setUp(spec, { seed: s, mask: maskFor(spec, s, 0.5) });
      await trainer.trainStep();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) await trainer.trainStep();
      expect(tf.memory().numTensors).toBe(before);
      await finish(trainer);
    },
  );
});

/** Logits and gradients of one training-mode forward pass on `backend`, as plain arrays. */
async function forwardAndGradients(
  backend: TfjsBackendName,
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
  const batch = new Batcher(data, {
    mean: new Array<number>(spec.input[2]).fill(0.5),
    std: new Array<number>(spec.input[2]).fill(0.25),
  }).fill([0, 1, 2, 3]);
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
            ? [weightName(node.name)]
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

/** Within `relative` of the tensor's largest magnitude plus `absolute`, element by element. */
function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  relative: number,
  absolute = 1e-6,
): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i]! - expected[i]!) > relative * scale + absolute)
      throw new Error(`${what}[${i}]: torch ${actual[i]}, wasm ${expected[i]} (scale ${scale})`);
  }
}

/**
 * A 1×1 convolution of one input channel straight into BatchNorm: its gradient is 0 in exact
 * arithmetic, and what float32 computes there is cancellation noise no two engines share.
 */
function exactlyZeroGradients(spec: ModelSpec): Set<string> {
  return new Set(
    spec.nodes.flatMap((node, i) =>
      node.op === 'conv' && node.kernel === 1 && node.in === 1 && spec.nodes[i + 1]?.op === 'bn'
        ? [weightName(node.name)]
        : [],
    ),
  );
}

describe.runIf(TORCH_PYTHON !== undefined)('the PyTorch engine (CPU) against wasm', () => {
  let torch: TorchEngine;
  beforeAll(async () => {
    torch = await openTorchCpu();
  });
  afterAll(() => torch.close());

  test.prop([smallModel, seed, fc.boolean()], { numRuns: 15 })(
    'same init, mask, data order and augmentation: the same loss and every gradient of a step, the same losses for 4 steps',
    async (spec, s, augment) => {
      const mask = maskFor(spec, s, 0.7);
      const onWasm = await setUp(spec, { seed: s, mask, augment });
      const onTorch = await setUp(spec, { seed: s, mask, augment }, torch);
      const { dataset, normalization, augmentation } = onWasm.data;
      const indices = Uint32Array.from([3, 1, 4, 0]);
      const samples = {
        dataset,
        normalization,
        indices,
        augmentation: drawAugmentation(augmentation, dataset, indices, randomStream(s, 'probe')),
      };
      const request = {
        input: { kind: 'samples', samples, batchSize: 4 },
        mode: 'train',
        objective: 'cross-entropy-mean',
        wrt: parameters(spec).map((p) => p.name),
      } as const;
      const [g1, g2] = [
        await onWasm.model.gradients(request),
        await onTorch.model.gradients(request),
      ];
      expectClose([g2.value], [g1.value], 'loss', 1e-5);
      // Max pooling over equal values (uint8 pixels and zero padding make them common) routes
      // the gradient to a different input on each framework: both are valid subgradients, so
      // gradients and trajectories are compared where no max pooling is.
      const pools = spec.nodes.some((n) => n.op === 'maxpool');
      const zero = exactlyZeroGradients(spec);
      for (const [name, expected] of g1.gradients)
        if (!zero.has(name) && !pools) expectClose(g2.gradients.get(name)!, expected, name, 1e-4);
      // Batch statistics and evaluation in both modes of BatchNorm.
      const stats = [
        await onWasm.model.batchStatistics(samples),
        await onTorch.model.batchStatistics(samples),
      ];
      expect(stats[1]!.map((l) => [l.layer, l.count])).toEqual(
        stats[0]!.map((l) => [l.layer, l.count]),
      );
      stats[0]!.forEach((l, i) => {
        expectClose(stats[1]![i]!.mean, l.mean, `${l.layer}.mean`, 1e-5);
        expectClose(stats[1]![i]!.variance, l.variance, `${l.layer}.variance`, 1e-4);
      });
      // Four steps with the same plans: momentum, weight decay, the mask, running statistics.
      for (let k = 0; k < 4; k++) {
        const [a, b] = [await onWasm.trainStep(), await onTorch.trainStep()];
        if (k === 0 || !pools) expectClose([b.loss], [a.loss], `step ${k} loss`, 1e-4);
      }
      const [w1, w2] = [await onWasm.model.read(), await onTorch.model.read()];
      const [m1, m2] = [await onWasm.model.readMomentum(), await onTorch.model.readMomentum()];
      if (!pools) {
        for (const [name, expected] of w1) expectClose(w2.get(name)!, expected, name, 1e-4, 1e-5);
        for (const [name, expected] of m1)
          if (!zero.has(name)) expectClose(m2.get(name)!, expected, `momentum ${name}`, 1e-3, 1e-5);
      }
      // Pruned weights and their momentum are exactly 0 on PyTorch too.
      for (const layer of mask.layers) {
        const kept = mask.toArray(layer.name);
        const weight = w2.get(weightName(layer.name))!;
        const momentum = m2.get(weightName(layer.name))!;
        kept.forEach((bit, i) => {
          if (bit === 0 && (weight[i] !== 0 || momentum[i] !== 0))
            throw new Error(`${layer.name}[${i}]: weight ${weight[i]}, momentum ${momentum[i]}`);
        });
      }
      if (!pools) {
        const e = [
          await onWasm.model.evaluate(dataset, normalization, 3),
          await onTorch.model.evaluate(dataset, normalization, 3),
        ];
        expectClose([e[1]!.loss], [e[0]!.loss], 'evaluation loss', 1e-4);
      }
      await onWasm.model.dispose();
      await onTorch.model.dispose();
    },
  );

  test.prop([smallModel, seed, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 4 })], {
    numRuns: 8,
  })(
    'checkpoint and resume on PyTorch continue exactly as the uninterrupted run (CPU is deterministic)',
    async (spec, s, before, after) => {
      const mask = maskFor(spec, s, 0.6);
      const straight = await setUp(spec, { seed: s, mask, augment: true }, torch);
      for (let i = 0; i < before + after; i++) await straight.trainStep();
      const first = await setUp(spec, { seed: s, mask, augment: true }, torch);
      for (let i = 0; i < before; i++) await first.trainStep();
      const dir = join(mkdtempSync(join(tmpdir(), 'ckpt-')), 'checkpoint');
      await saveCheckpoint(dir, first);
      expect(loadCheckpoint(dir).meta.backend.name).toBe('torch');
      const saved = await finish(first);
      const resumed = await setUp(spec, { seed: s + 1, dataSeed: s, augment: true }, torch);
      await restoreCheckpoint(loadCheckpoint(dir), resumed);
      expect(await trainingState(resumed)).toEqual(saved);
      for (let i = 0; i < after; i++) await resumed.trainStep();
      expect(await finish(resumed)).toEqual(await finish(straight));
    },
  );
});
