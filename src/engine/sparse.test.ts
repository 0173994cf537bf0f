/**
 * The sparse kernels (native/sparse.cc through engine/sparse.ts) against TF.js's stock cpu
 * kernels on the masked filter, product by product over random shapes, strides, paddings, batch
 * sizes (around the 8-lane blocks) and densities; a whole training step with sparse layers against
 * the same step on the dense native kernels (loss and every masked gradient); the per-mask
 * pattern's lifecycle and the `auto` choice. Skipped where the addon is not built.
 */

import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { Mask } from '../core/mask.js';
import { prunableLayers } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';
import { initialValues } from '../models/init.js';
import { randomStream } from '../core/random.js';
import { NORMALIZATIONS } from '../data/batches.js';
import { subsetPerClass } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { TfjsEngine } from './tfjs-engine.js';
import type { TrainPlan } from './engine.js';
import { useBackend } from './backend.js';
import { values } from './kernel-testing.js';
import { loadNative } from './native.js';
import { Network } from './network.js';
import {
  AUTO_MAX_DENSITY,
  SparseLayer,
  SparseLayers,
  setSparseMode,
  sparseAddon,
  sparseConv2d,
  sparseMode,
} from './sparse.js';

const addon = sparseAddon(loadNative().addon);

afterEach(() => setSparseMode(undefined));

/** A 0/1 mask of `size` bytes keeping about `density` of them (seeded xorshift). */
function randomMask(size: number, density: number, seed: number): Uint8Array {
  const u = values(size, seed);
  return Uint8Array.from(u, (v) => (v / 4 + 0.5 < density ? 1 : 0));
}

const sparseCase = fc
  .record({
    batch: fc.oneof(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 7, max: 20 }),
      fc.constant(64),
    ),
    height: fc.integer({ min: 1, max: 8 }),
    width: fc.integer({ min: 1, max: 8 }),
    inChannels: fc.integer({ min: 1, max: 6 }),
    outChannels: fc.integer({ min: 1, max: 6 }),
    kernel: fc.integer({ min: 1, max: 5 }),
    stride: fc.integer({ min: 1, max: 3 }),
    density: fc.constantFrom(0, 0.05, 0.3, 1),
    seed: fc.nat(),
  })
  .chain((c) => fc.record({ c: fc.constant(c), padding: fc.nat(c.kernel - 1) }))
  .map(({ c, padding }) => ({ ...c, padding }))
  .filter(
    (c) =>
      Math.floor((c.height + 2 * c.padding - c.kernel) / c.stride) >= 0 &&
      Math.floor((c.width + 2 * c.padding - c.kernel) / c.stride) >= 0,
  );

/** Zeroes the pruned weights, as in training (the optimizer keeps them at zero). */
function zeroPruned(network: Network, mask: Mask): void {
  tf.tidy(() => {
    for (const layer of mask.layers) {
      const w = network.param(`${layer.name}.weight`);
      w.assign(tf.mul(w, tf.tensor(Float32Array.from(mask.toArray(layer.name)), w.shape)));
    }
  });
}

describe.skipIf(addon === undefined)('sparse kernels', () => {
  test('each product equals the stock cpu kernels on the masked filter; the filter gradient is 0 off the mask', async () => {
    await fc.assert(
      fc.asyncProperty(sparseCase, async (c) => {
        const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
        const fShape: [number, number, number, number] = [
          c.kernel,
          c.kernel,
          c.inChannels,
          c.outChannels,
        ];
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const x = values(size(xShape), c.seed);
        const filter = values(size(fShape), c.seed + 1);
        const mask = randomMask(size(fShape), c.density, c.seed + 2);
        const masked = filter.map((v, i) => v * mask[i]!);

        // The oracle: TF.js's pure-JavaScript kernels on the filter with pruned weights zeroed.
        await useBackend('cpu');
        const expected = tf.tidy(() => {
          const xt = tf.tensor4d(x, xShape);
          const ft = tf.tensor4d(masked, fShape);
          const y = tf.conv2d(xt, ft, c.stride, c.padding);
          const dy = tf.tensor(values(y.size, c.seed + 3), y.shape);
          const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.padding), dy)),
          )([xt, ft]);
          return {
            y: y.dataSync(),
            dx: dx!.dataSync(),
            df: df!.dataSync(),
            dy: dy.dataSync(),
            yShape: y.shape,
          };
        });

        await useBackend('native');
        setSparseMode('on');
        const layer = new SparseLayer(addon!, 'layer', mask, fShape);
        try {
          const got = tf.tidy(() => {
            const xt = tf.tensor4d(x, xShape);
            const ft = tf.tensor4d(masked, fShape);
            const y = sparseConv2d(xt, ft, layer, c.stride, c.padding);
            const dy = tf.tensor(expected.dy, expected.yShape);
            const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
              tf.sum(
                tf.mul(
                  sparseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, layer, c.stride, c.padding),
                  dy,
                ),
              ),
            )([xt, ft]);
            // The filter's gradient alone (a first layer's: nothing needs its input's).
            const [dfAlone] = tf.grads((b: tf.Tensor) =>
              tf.sum(tf.mul(sparseConv2d(xt, b as tf.Tensor4D, layer, c.stride, c.padding), dy)),
            )([ft]);
            return {
              y: y.dataSync(),
              dx: dx!.dataSync(),
              df: df!.dataSync(),
              dfAlone: dfAlone!.dataSync(),
              yShape: y.shape,
            };
          });
          expect(got.yShape).toEqual(expected.yShape);
          const close = (a: ArrayLike<number>, b: ArrayLike<number>) => {
            const scale = Math.max(1, ...Array.from(b, Math.abs));
            for (let i = 0; i < b.length; i++)
              expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(5e-5 * scale);
          };
          close(got.y, expected.y);
          close(got.dx, expected.dx);
          close(
            Array.from(expected.df, (v, i) => v * mask[i]!),
            got.df.map((v, i) => v * mask[i]!),
          );
          got.df.forEach((v, i) => {
            if (mask[i] === 0) expect(v).toBe(0);
          });
          expect(Array.from(got.dfAlone)).toEqual(Array.from(got.df));
        } finally {
          layer.dispose();
          await useBackend('wasm');
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  const maskFor = (model: string, density: number, seed: number) => {
    const spec = modelSpec(model as Parameters<typeof modelSpec>[0]);
    const layers = prunableLayers(spec);
    return {
      spec,
      mask: Mask.fromArrays(
        layers,
        Object.fromEntries(
          layers.map((l, i) => [
            l.name,
            randomMask(
              l.shape.reduce((a, b) => a * b, 1),
              density,
              seed + i,
            ),
          ]),
        ),
      ),
    };
  };

  test.each(['lenet-300-100', 'lenet-5', 'resnet-20'] as const)(
    'a training step of %s on sparse layers equals the dense native step (loss and every masked gradient)',
    async (model) => {
      await useBackend('native');
      setSparseMode('on');
      const { spec, mask } = maskFor(model, 0.1, 7);
      const network = Network.initialize(spec, 0);
      zeroPruned(network, mask);
      const sparse = new SparseLayers(addon!, mask);
      expect(sparse.byWeight.size).toBe(mask.layers.length);
      const [h, w, c] = spec.input;
      const x = tf.randomNormal<tf.Rank.R4>([12, h, w, c], 0, 1, 'float32', 3);
      const labels = tf.oneHot(
        tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1], 'int32'),
        spec.classes,
      );
      const names = [...network.params.keys()];
      const variables = [...network.params.values()];
      const step = (layers: SparseLayers | undefined) => {
        network.sparseLayers = layers?.byWeight;
        const tensors = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => {
          const { logits, statistics } = network.forward(x, 'train');
          for (const s of statistics) tf.dispose([s.mean, s.variance]);
          return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels, logits);
        }, variables);
        const out = {
          loss: value.dataSync()[0]!,
          grads: variables.map((v) => Float32Array.from(grads[v.name]!.dataSync())),
        };
        tf.dispose([value, ...Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(tensors);
        network.sparseLayers = undefined;
        return out;
      };
      try {
        const dense = step(undefined);
        const onSparse = step(sparse);
        expect(onSparse.loss).toBeCloseTo(dense.loss, 5);
        const scale = Math.max(
          ...dense.grads.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
        );
        // The worst entry per parameter, named in the failure message.
        names.forEach((name, n) => {
          const layer = mask.layers.find((l) => `${l.name}.weight` === name);
          const bits = layer === undefined ? undefined : mask.toArray(layer.name);
          let worst = 0;
          let at = -1;
          dense.grads[n]!.forEach((g, i) => {
            const kept = bits === undefined || bits[i] === 1;
            const gap = Math.abs((kept ? g : 0) - onSparse.grads[n]![i]!);
            if (gap > worst) [worst, at] = [gap, i];
          });
          expect(worst, `${name}[${at}]`).toBeLessThan(1e-4 * scale);
        });
      } finally {
        sparse.dispose();
        tf.dispose([x, labels]);
        network.dispose();
        await useBackend('wasm');
      }
    },
    60_000,
  );

  test('auto considers only layers at most AUTO_MAX_DENSITY dense, decides each product of each shape once, and off builds none', async () => {
    await useBackend('native');
    try {
      const dense = maskFor('lenet-300-100', 0.9, 1).mask;
      expect(AUTO_MAX_DENSITY).toBeLessThan(0.9);
      setSparseMode('auto');
      expect(new SparseLayers(addon!, dense).byWeight.size).toBe(0);
      const { spec, mask } = maskFor('lenet-300-100', 0.05, 1);
      setSparseMode('off');
      expect(new SparseLayers(addon!, mask).byWeight.size).toBe(0);
      setSparseMode('auto');
      const layers = new SparseLayers(addon!, mask);
      expect(layers.byWeight.size).toBe(mask.layers.length);
      const network = Network.initialize(spec, 0);
      zeroPruned(network, mask);
      network.sparseLayers = layers.byWeight;
      const x = tf.randomNormal<tf.Rank.R4>([16, ...spec.input] as [
        number,
        number,
        number,
        number,
      ]);
      const loss = () => tf.sum<tf.Scalar>(network.forward(x, 'train').logits);
      const names = [...network.params.keys()];
      // Masked gradients as plain arrays, on whatever kernels the current choices give.
      const gradients = () => {
        const { value, grads } = tf.variableGrads(loss, [...network.params.values()]);
        const out = names.map((name) => {
          const g = grads[network.params.get(name)!.name]!.dataSync();
          const layer = mask.layers.find((l) => `${l.name}.weight` === name);
          const bits = layer === undefined ? undefined : mask.toArray(layer.name);
          return Float32Array.from(g, (v, i) => (bits === undefined || bits[i] === 1 ? v : 0));
        });
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const measured = gradients(); // the step that measures and decides
      const decided = gradients(); // a step on the decided kernels
      network.sparseLayers = undefined;
      const onDense = gradients();
      network.sparseLayers = layers.byWeight;
      for (const [n, g] of onDense.entries()) {
        const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
        for (const got of [measured[n]!, decided[n]!]) {
          let worst = 0;
          g.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]!))));
          expect(worst / scale, names[n]).toBeLessThan(1e-4);
        }
      }
      const decisions = layers.decisions();
      // One forward and one backward decision per layer, taken once over three steps.
      expect(decisions).toHaveLength(2 * mask.layers.length);
      for (const d of decisions) {
        expect(['dense', 'sparse']).toContain(d.choice);
        expect(d.denseMs).toBeGreaterThan(0);
        expect(d.sparseMs).toBeGreaterThan(0);
        expect(d.choice).toBe(d.sparseMs! < d.denseMs! ? 'sparse' : 'dense');
      }
      tf.dispose(x);
      network.dispose();
      layers.dispose();
    } finally {
      await useBackend('wasm');
    }
  });

  test('patterns: freed once, checked against the filter, bad masks refused with the reason', async () => {
    const layer = new SparseLayer(addon!, 'a', new Uint8Array([1, 0, 0, 1]), [1, 1, 2, 2]);
    expect(layer.density).toBe(0.5);
    await useBackend('native');
    try {
      // A pattern built for a 1×1×2×2 filter refuses a 1×1×2×3 one.
      expect(() =>
        tf.tidy(() =>
          sparseConv2d(tf.ones([1, 1, 1, 2]), tf.ones([1, 1, 2, 3]), layer, 1, 0).dataSync(),
        ),
      ).toThrow(/pattern was built for 1×1×2×2/);
      layer.dispose();
      expect(() => sparseConv2d(tf.ones([1, 1, 1, 2]), tf.ones([1, 1, 2, 2]), layer, 1, 0)).toThrow(
        /freed/,
      );
      expect(() => addon!.sparseFree(layer.id)).toThrow(/does not exist/);
    } finally {
      await useBackend('wasm');
    }
    expect(() => addon!.sparsePattern(new Uint8Array(3), 1, 1, 2, 2)).toThrow(
      /3 bytes, the filter 4 weights/,
    );
    expect(() => addon!.sparsePattern(new Uint8Array([0, 2, 0, 1]), 1, 1, 2, 2)).toThrow(
      /byte 1 is not 0 or 1/,
    );
    process.env.CYCLESPARSE_SPARSE = 'fast';
    try {
      expect(() => sparseMode()).toThrow(/CYCLESPARSE_SPARSE: expected auto, on, off, got "fast"/);
      await expect(useBackend('native')).rejects.toThrow(/CYCLESPARSE_SPARSE/);
      // The mode in force is part of the backend's provider, recorded with every run.
      process.env.CYCLESPARSE_SPARSE = 'off';
      expect((await useBackend('native')).provider).toMatch(/, sparse kernels off\) on wasm$/);
    } finally {
      delete process.env.CYCLESPARSE_SPARSE;
      await useBackend('wasm');
    }
  });

  test('TfjsModel trains a masked LeNet-300-100 on sparse layers as on the dense kernels, and rebuilds them per mask', async () => {
    const engine = await TfjsEngine.open('native');
    const spec = modelSpec('lenet-300-100');
    const dataset = subsetPerClass(loadMnist('test'), 20, randomStream(0, 'subset'));
    const steps = 4;
    const batch = 50;
    const plan: TrainPlan = {
      dataset,
      normalization: NORMALIZATIONS.mnist,
      firstStep: 0,
      indices: Uint32Array.from({ length: steps * batch }, (_, i) => i),
      offsets: Uint32Array.from({ length: steps + 1 }, (_, k) => k * batch),
      augmentation: null,
      learningRates: new Float64Array(steps).fill(0.05),
      resetMomentum: new Uint8Array(steps),
    };
    const { mask } = maskFor('lenet-300-100', 0.05, 11);
    const run = async (mode: 'on' | 'off') => {
      setSparseMode(mode);
      const model = await engine.model(spec, initialValues(spec, 0), {
        momentum: 0.9,
        nesterov: false,
        weightDecay: 1e-4,
      });
      await model.setMask(mask);
      const layers = model.sparseLayers;
      expect(layers?.byWeight.size ?? 0).toBe(mode === 'on' ? mask.layers.length : 0);
      const tensors = tf.memory().numTensors;
      const { losses } = await model.train(plan);
      expect(tf.memory().numTensors).toBe(tensors);
      const weights = await model.read();
      // A new mask frees the old patterns and indexes the new one; no mask, none.
      await model.setMask(maskFor('lenet-300-100', 0.05, 12).mask);
      if (layers !== undefined)
        for (const layer of layers.byWeight.values()) expect(layer.freed).toBe(true);
      const second = model.sparseLayers;
      await model.setMask(null);
      expect(model.sparseLayers).toBeUndefined();
      if (second !== undefined)
        for (const layer of second.byWeight.values()) expect(layer.freed).toBe(true);
      await model.dispose();
      return { losses, weights };
    };
    try {
      const dense = await run('off');
      const sparse = await run('on');
      dense.losses.forEach((loss, k) => expect(sparse.losses[k]).toBeCloseTo(loss, 4));
      for (const layer of mask.layers) {
        const bits = mask.toArray(layer.name);
        const a = dense.weights.get(`${layer.name}.weight`)!;
        const b = sparse.weights.get(`${layer.name}.weight`)!;
        let worst = 0;
        a.forEach((v, i) => {
          // Pruned weights stay exactly zero (±0) on both paths.
          if (bits[i] === 0) expect(v === 0 && b[i] === 0, `${layer.name}[${i}]`).toBe(true);
          worst = Math.max(worst, Math.abs(v - b[i]!));
        });
        expect(worst, layer.name).toBeLessThan(1e-4);
      }
    } finally {
      await useBackend('wasm');
    }
  }, 60_000);
});
