/**
 * Generators for the inputs that break pruning code: layer lists with 1-element and very uneven
 * layers, sparsities at 0, tiny and near 1 (and decimals such as 0.29 whose products carry float
 * noise), and score arrays full of ties (all equal, a few distinct values, ±0).
 */

import fc from 'fast-check';
import type { LayerSpec } from '../core/mask.js';

export interface LayerListConstraints {
  readonly minLayers?: number;
  readonly maxLayers?: number;
  /** Largest number of weights in one layer. */
  readonly maxLayerSize?: number;
}

/** One dimension: mostly small, sometimes 1, sometimes large. */
function dimension(max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(1) },
    { weight: 5, arbitrary: fc.integer({ min: 1, max: Math.min(max, 8) }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max }) },
  );
}

/** A shape of rank 1 to 4 with at most `maxSize` elements (dimensions shrunk to fit). */
export function shapeArbitrary(maxSize = 512): fc.Arbitrary<number[]> {
  return fc
    .oneof(
      fc.tuple(dimension(maxSize)),
      fc.tuple(dimension(64), dimension(64)),
      fc.tuple(dimension(5), dimension(5), dimension(16), dimension(16)),
      fc.tuple(dimension(3), dimension(16), dimension(16)),
    )
    .map((dims) => {
      const shape = [...dims];
      // Shrink the last dimensions until the layer fits: keeps generation simple and bounded.
      for (let i = shape.length - 1; shape.reduce((a, b) => a * b, 1) > maxSize;) {
        if (shape[i]! > 1) shape[i] = Math.max(1, Math.floor(shape[i]! / 2));
        else i--;
      }
      return shape;
    });
}

/** Layers named `l0`, `l1`, …; 2-D shapes get layout `io`, 4-D `hwio`. */
export function layerListArbitrary(
  constraints: LayerListConstraints = {},
): fc.Arbitrary<LayerSpec[]> {
  return fc
    .array(shapeArbitrary(constraints.maxLayerSize ?? 512), {
      minLength: constraints.minLayers ?? 1,
      maxLength: constraints.maxLayers ?? 6,
    })
    .map((shapes) => shapes.map((shape, i) => ({ name: `l${i}`, shape })));
}

/**
 * Sparsities in [0, 1): exactly 0, tiny, near 1, two-decimal values, anything (unbiased, so the
 * middle of the range is not starved by fast-check's bias towards small values).
 */
export function sparsityArbitrary(): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.double({ min: 0, max: 1e-3, noNaN: true }) },
    { weight: 2, arbitrary: fc.double({ min: 0.99, max: 1, maxExcluded: true, noNaN: true }) },
    { weight: 3, arbitrary: fc.noBias(fc.integer({ min: 0, max: 99 })).map((p) => p / 100) },
    {
      weight: 3,
      arbitrary: fc.noBias(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
    },
  );
}

const tieValues = [-2, -1, -0, 0, 1, 2, 0.5, 1e-30, -1e-30] as const;

/**
 * `n` finite float32 scores: continuous values, all equal, a palette of 2–4 values (ties
 * everywhere), or small integers.
 */
export function scoresArbitrary(n: number): fc.Arbitrary<Float32Array> {
  const exact = { minLength: n, maxLength: n };
  return fc.oneof(
    fc.float32Array({ ...exact, noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(...tieValues).map((v) => new Float32Array(n).fill(v)),
    fc
      .tuple(
        fc.uniqueArray(fc.constantFrom(...tieValues), { minLength: 2, maxLength: 4 }),
        fc.array(fc.nat(), exact),
      )
      .map(([palette, picks]) => Float32Array.from(picks, (p) => palette[p % palette.length]!)),
    fc.array(fc.integer({ min: -3, max: 3 }), exact).map((v) => Float32Array.from(v)),
  );
}
