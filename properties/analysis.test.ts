/**
 * The analyses' laws: power iteration recovers known spectra; finite-difference Hessian-vector
 * products are exact on quadratics and match a float64 reference on real networks; the LMC
 * barrier is 0 for a network with itself and symmetric in its two ends; sign flips and mask
 * overlap behave as counts must.
 */

import { fc, test } from '@fast-check/vitest';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect } from 'vitest';
import { lanczos, powerIteration } from '../src/analysis/eigen.js';
import { finiteDifferenceHvp, LossSurface, sharpness } from '../src/analysis/hessian.js';
import { linearModeConnectivity } from '../src/analysis/lmc.js';
import { maskOverlap } from '../src/analysis/overlap.js';
import { signFlips } from '../src/analysis/signs.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { syntheticDataset } from '../src/data/dataset.js';
import type { Engine } from '../src/engine/engine.js';
import { TfjsEngine } from '../src/engine/tfjs-engine.js';
import { initialValues } from '../src/models/init.js';
import { prunableLayers } from '../src/models/spec.js';
import { mlpCase, mlpSpec, reference, smallModel } from './models.js';
import { lossGradientReference } from './reference-mlp.js';

let wasm: Engine;
beforeAll(async () => {
  wasm = await TfjsEngine.open('wasm');
});

/** A symmetric matrix Q diag(λ) Qᵀ with a random orthogonal Q (Gram–Schmidt of a random matrix). */
function withSpectrum(values: readonly number[], seed: number): Float64Array[] {
  const n = values.length;
  const stream = randomStream(seed, 'matrix');
  const q: Float64Array[] = [];
  while (q.length < n) {
    const v = Float64Array.from({ length: n }, () => stream.normal());
    for (const u of q) {
      const d = u.reduce((s, x, i) => s + x * v[i]!, 0);
      v.forEach((x, i) => (v[i] = x - d * u[i]!));
    }
    const norm = Math.hypot(...v);
    if (norm > 1e-6) q.push(v.map((x) => x / norm));
  }
  return Array.from({ length: n }, (_, i) =>
    Float64Array.from({ length: n }, (_, j) =>
      values.reduce((s, l, k) => s + l * q[k]![i]! * q[k]![j]!, 0),
    ),
  );
}
const times = (m: readonly Float64Array[]) => (v: Float64Array) =>
  Float64Array.from(m, (row) => row.reduce((s, x, j) => s + x * v[j]!, 0));

/** Spectra whose two largest magnitudes differ by at least 20%, so power iteration converges. */
const spectrum = fc
  .record({
    top: fc.double({ min: 0.5, max: 100, noNaN: true }),
    sign: fc.constantFrom(1, -1),
    rest: fc.array(fc.double({ min: -0.8, max: 0.8, noNaN: true }), {
      minLength: 1,
      maxLength: 10,
    }),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map(({ top, sign, rest, seed }) => ({
    values: [sign * top, ...rest.map((r) => r * top)],
    seed,
  }));

describe('power iteration', () => {
  test.prop([spectrum], { numRuns: 100 })(
    'power iteration recovers the largest-magnitude eigenvalue of a random symmetric matrix',
    async ({ values, seed }) => {
      const [pair] = await powerIteration(times(withSpectrum(values, seed)), values.length, {
        k: 1,
        maxIterations: 2000,
        tolerance: 1e-12,
        stream: randomStream(seed, 'start'),
      });
      expect(pair!.converged).toBe(true);
      expect(Math.abs(pair!.value - values[0]!)).toBeLessThan(1e-6 * Math.abs(values[0]!));
    },
  );
  test('deflation finds the next ones in order of magnitude', async () => {
    const values = [10, -6, 3, 1, 0.5];
    const pairs = await powerIteration(times(withSpectrum(values, 7)), 5, {
      k: 3,
      maxIterations: 5000,
      tolerance: 1e-13,
      stream: randomStream(1, 'start'),
    });
    expect(pairs.map((p) => p.value)).toEqual([
      expect.closeTo(10, 6),
      expect.closeTo(-6, 6),
      expect.closeTo(3, 6),
    ]);
  });
  test.prop(
    [
      // Distinct eigenvalues (a repeated one shows once to any single-vector Krylov method).
      fc
        .uniqueArray(fc.integer({ min: -5000, max: 5000 }), { minLength: 1, maxLength: 30 })
        .map((values) => values.map((v) => v / 100)),
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 1, max: 3 }),
    ],
    { numRuns: 100 },
  )(
    'Lanczos recovers the k algebraically largest eigenvalues of a symmetric matrix, signs mixed',
    async (values, seed, k) => {
      fc.pre(k <= values.length);
      const pairs = await lanczos(times(withSpectrum(values, seed)), values.length, {
        k,
        maxIterations: values.length,
        tolerance: 1e-10,
        stream: randomStream(seed, 'start'),
      });
      const expected = [...values].sort((a, b) => b - a).slice(0, k);
      const scale = Math.max(1, ...values.map(Math.abs));
      pairs.forEach((p, i) => expect(Math.abs(p.value - expected[i]!)).toBeLessThan(1e-8 * scale));
    },
  );
  test('bad arguments are named', async () => {
    const identity = (v: Float64Array) => v;
    const stream = randomStream(0, 'x');
    await expect(
      powerIteration(identity, 3, { k: 4, maxIterations: 10, tolerance: 1e-3, stream }),
    ).rejects.toThrow(/^k: expected an integer in \[1, 3\]/);
    await expect(
      powerIteration(identity, 3, { k: 1, maxIterations: 10, tolerance: 0, stream }),
    ).rejects.toThrow(/^tolerance: expected a positive number/);
  });
});

describe('finite-difference Hessian-vector products', () => {
  test.prop([spectrum, fc.double({ min: 1e-4, max: 1, noNaN: true })], { numRuns: 50 })(
    'are exact (to rounding) on a quadratic ½θᵀAθ + bᵀθ, whatever the step',
    async ({ values, seed }, epsilon) => {
      const a = withSpectrum(values, seed);
      const n = values.length;
      const stream = randomStream(seed, 'point');
      const b = Float64Array.from({ length: n }, () => stream.normal());
      const theta = Float64Array.from({ length: n }, () => stream.normal());
      const v = Float64Array.from({ length: n }, () => stream.normal());
      const gradient = (p: Float64Array) => times(a)(p).map((x, i) => x + b[i]!);
      const hv = await finiteDifferenceHvp(gradient, theta, v, epsilon);
      const exact = times(a)(v);
      const scale =
        (Math.max(...exact.map(Math.abs), 1e-12) * 1e-7) / epsilon + 1e-9 * Math.abs(values[0]!);
      exact.forEach((x, i) => expect(Math.abs(hv[i]! - x)).toBeLessThan(scale * 100));
    },
  );

  test.prop([mlpCase], { numRuns: 15 })(
    'on a network, match the same product of float64 reference gradients within 0.1%',
    async (c) => {
      const spec = mlpSpec(c);
      const model = await wasm.model(spec, initialValues(spec, c.seed));
      const train = syntheticDataset({
        shape: spec.input,
        classes: spec.classes,
        count: 32,
        stream: randomStream(c.seed, 'data'),
      });
      const normalization = {
        mean: new Array<number>(c.inputs).fill(0.4),
        std: new Array<number>(c.inputs).fill(0.3),
      };
      const mask = Mask.dense(prunableLayers(spec));
      try {
        const surface = new LossSurface(
          model,
          mask,
          { train, normalization },
          { samples: 32, batchSize: 8, seed: 0 },
        );
        const point = await surface.point();
        const stream = randomStream(c.seed, 'direction');
        const v = Float64Array.from({ length: surface.dimension }, () => stream.normal());
        const norm = Math.hypot(...v);
        v.forEach((x, i) => (v[i] = x / norm));
        const actual = await surface.hessianTimes(point, v, 1e-2);
        // The reference: the same loss in float64, its gradient by backpropagation, and the
        // Hessian-vector product by a central difference of that gradient.
        const images = Array.from({ length: 32 }, (_, n) =>
          Float64Array.from(
            { length: c.inputs },
            (_, i) => (train.images[n * c.inputs + i]! / 255 - 0.4) / 0.3,
          ),
        );
        const labels = Array.from(train.labels);
        const gradientAt = (p: Float64Array) =>
          flatten(
            surface,
            lossGradientReference(reference(spec, unflatten(surface, p)), images, labels),
          );
        // Same step as the network's: a ReLU kink crossed by ±εv is crossed by both, so what is
        // compared is the float32 gradient plumbing (overrides, masks, batch sums), not the step.
        const expected = await finiteDifferenceHvp(gradientAt, point, v, 1e-2);
        const scale = Math.max(Math.hypot(...expected), 1e-3);
        const error = Math.hypot(...actual.map((x, i) => x - expected[i]!));
        expect(error / scale).toBeLessThan(1e-3);
      } finally {
        await model.dispose();
      }
    },
  );
});

function unflatten(surface: LossSurface, p: Float64Array): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  surface.names.forEach((name, i) => {
    const size = surface.shapes[i]!.reduce((a, b) => a * b, 1);
    values.set(name, Float32Array.from(p.subarray(surface.offsets[i], surface.offsets[i]! + size)));
  });
  return values;
}

function flatten(surface: LossSurface, g: ReturnType<typeof lossGradientReference>): Float64Array {
  const out = new Float64Array(surface.dimension);
  let layer = 0;
  surface.names.forEach((name, i) => {
    const offset = surface.offsets[i]!;
    if (name.endsWith('.weight')) out.set(g.weights[layer]!, offset);
    else {
      out.set(g.biases[layer]!, offset);
    }
    if (name.endsWith('.bias') || !surface.names.includes(name.replace('.weight', '.bias')))
      layer++;
  });
  return out;
}

describe('sharpness', () => {
  test('reports convergence, the loss and the free parameters; pruned weights are not coordinates', async () => {
    const spec = mlpSpec({ inputs: 6, hidden: [5], classes: 3, bias: true });
    const model = await wasm.model(spec, initialValues(spec, 3));
    const train = syntheticDataset({
      shape: spec.input,
      classes: 3,
      count: 40,
      stream: randomStream(3, 'data'),
    });
    const normalization = {
      mean: new Array<number>(6).fill(0.5),
      std: new Array<number>(6).fill(0.3),
    };
    const layers = prunableLayers(spec);
    const pruned = Mask.fromArrays(layers, {
      fc1: Uint8Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 0 : 1)),
      fc2: new Uint8Array(15).fill(1),
    });
    try {
      const tensors = tf.memory().numTensors;
      const dense = await sharpness(
        model,
        Mask.dense(layers),
        { train, normalization },
        { samples: 40, k: 2 },
      );
      expect(tf.memory().numTensors).toBe(tensors);
      expect(dense.dimension).toBe(30 + 5 + 15 + 3);
      expect(dense.eigenvalues).toHaveLength(2);
      expect(dense.eigenvalues.every((e) => e.converged)).toBe(true);
      expect(Math.abs(dense.eigenvalues[0]!.value)).toBeGreaterThanOrEqual(
        Math.abs(dense.eigenvalues[1]!.value) * 0.99,
      );
      const sparse = await sharpness(model, pruned, { train, normalization }, { samples: 40 });
      expect(sparse.dimension).toBe(20 + 5 + 15 + 3);
      expect(sparse.loss).toBeCloseTo(dense.loss, 6);
    } finally {
      await model.dispose();
    }
  });
});

describe('linear mode connectivity', () => {
  const data = (spec: ReturnType<typeof mlpSpec>, seed: number) => {
    const [h, w, c] = spec.input;
    const make = (name: string) =>
      syntheticDataset({
        shape: [h, w, c],
        classes: spec.classes,
        count: 24,
        stream: randomStream(seed, name),
      });
    return {
      train: make('train'),
      test: make('test'),
      normalization: { mean: new Array<number>(c).fill(0.5), std: new Array<number>(c).fill(0.25) },
    };
  };
  test.prop(
    [
      smallModel,
      fc.integer({ min: 0, max: 100 }),
      fc.constantFrom('re-estimate', 'interpolate' as const),
    ],
    { numRuns: 20 },
  )(
    'the barrier of a network with itself is 0, and swapping the ends mirrors the curve',
    async (spec, seed, batchNorm) => {
      const a = initialValues(spec, seed);
      const b = initialValues(spec, seed + 1);
      const sets = data(spec, seed);
      const options = {
        alphas: [0.25, 0.5, 0.75],
        batchNorm,
        batchNormBatches: 2,
        batchSize: 8,
      } as const;
      const tensors = tf.memory().numTensors;
      const self = await linearModeConnectivity(
        wasm,
        spec,
        { values: a },
        { values: a },
        sets,
        options,
      );
      expect(tf.memory().numTensors).toBe(tensors); // the scratch network is disposed
      expect(self.barrier.train.error).toBe(0);
      expect(self.barrier.test.error).toBe(0);
      expect(Math.abs(self.barrier.test.loss)).toBeLessThan(1e-5);
      const ab = await linearModeConnectivity(
        wasm,
        spec,
        { values: a },
        { values: b },
        sets,
        options,
      );
      const ba = await linearModeConnectivity(
        wasm,
        spec,
        { values: b },
        { values: a },
        sets,
        options,
      );
      expect(ab.curve.map((p) => p.alpha)).toEqual([0, 0.25, 0.5, 0.75, 1]);
      expect(ba.curve.map((p) => p.test)).toEqual([...ab.curve].reverse().map((p) => p.test));
      expect(ba.barrier.test.error).toBe(ab.barrier.test.error);
      expect(ab.barrier.test.error).toBeGreaterThanOrEqual(0);
    },
  );
});

describe('sign flips and mask overlap', () => {
  const masks = smallModel.chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      bitsA: fc.array(fc.boolean(), { minLength: 400, maxLength: 400 }),
      bitsB: fc.array(fc.boolean(), { minLength: 400, maxLength: 400 }),
      seed: fc.integer({ min: 0, max: 100 }),
    }),
  );
  const maskOf = (spec: ReturnType<typeof mlpSpec>, bits: boolean[]) => {
    const layers = prunableLayers(spec);
    let k = 0;
    return Mask.fromArrays(
      layers,
      Object.fromEntries(
        layers.map((l) => [
          l.name,
          Uint8Array.from({ length: l.shape.reduce((a, b) => a * b, 1) }, () =>
            bits[k++ % bits.length] ? 1 : 0,
          ),
        ]),
      ),
    );
  };
  test.prop([masks], { numRuns: 50 })(
    'a network with itself flips nothing, with its negation every nonzero kept weight',
    ({ spec, bitsA, bitsB, seed }) => {
      const mA = maskOf(spec, bitsA);
      const mB = maskOf(spec, bitsB);
      const stream = randomStream(seed, 'w');
      const weights = new Map(
        mA.layers.map((l) => [
          l.name,
          Float32Array.from({ length: l.shape.reduce((a, b) => a * b, 1) }, () => stream.normal()),
        ]),
      );
      const of = (layer: string) => weights.get(layer)!;
      const negated = (layer: string) => of(layer).map((x) => -x);
      expect(signFlips(mA, of, mA, of).flipped).toBe(0);
      const flipped = signFlips(mA, of, mA, negated);
      expect(flipped.flipped).toBe(mA.totalKept);
      expect(flipped.compared).toBe(mA.totalKept);
      const ab = signFlips(mA, of, mB, negated);
      const ba = signFlips(mB, negated, mA, of);
      expect(ab).toEqual(ba);
      expect(ab.compared).toBe(maskOverlap(mA, mB).intersection);
    },
  );
  test.prop([masks], { numRuns: 50 })(
    'overlap is 1 with itself and symmetric',
    ({ spec, bitsA, bitsB }) => {
      const mA = maskOf(spec, bitsA);
      const mB = maskOf(spec, bitsB);
      expect(maskOverlap(mA, mA).iou).toBe(1);
      const ab = maskOverlap(mA, mB);
      const ba = maskOverlap(mB, mA);
      expect(ab.iou).toBe(ba.iou);
      expect(ab.layers.map((l) => l.iou)).toEqual(ba.layers.map((l) => l.iou));
      expect(ab.iou).toBeGreaterThanOrEqual(0);
      expect(ab.iou).toBeLessThanOrEqual(1);
    },
  );
});
