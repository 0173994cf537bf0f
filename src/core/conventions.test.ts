import { describe, expect, test } from 'vitest';
import {
  CONVENTIONS,
  CONVENTION_NAMES,
  conventionsOf,
  DEFAULT_CONVENTIONS,
} from './conventions.js';
import { layerDensities } from './densities.js';
import { pruningLevels } from './density-schedule.js';
import {
  CIFAR_STEP_WARMUP,
  CONSTANT,
  COSINE,
  IMAGENET_STEP_WARMUP,
  TRIANGULAR,
  shapeHasBoundaries,
} from './lr-schedule.js';
import { Mask } from './mask.js';
import { prune, targetOf } from './prune.js';
import { prunedCount, roundCount } from './selection.js';

describe('conventions', () => {
  test('presets are what the peers do, and cyclesparse is the default', () => {
    expect(CONVENTION_NAMES).toEqual(['cyclesparse', 'torch', 'open_lth', 'rigl']);
    expect(DEFAULT_CONVENTIONS).toEqual({
      counting: 'round-half-up',
      levels: 'cumulative',
      layerCounts: 'apportion',
      lrBoundaries: 'round-half-up',
    });
    expect(CONVENTIONS.torch).toEqual({
      counting: 'round-half-even',
      levels: 'compound',
      layerCounts: 'per-layer',
      lrBoundaries: 'ceil',
    });
    expect(CONVENTIONS.open_lth.counting).toBe('ceil');
    expect(CONVENTIONS.open_lth.levels).toBe('compound');
    expect(CONVENTIONS.rigl.counting).toBe('floor');
    expect(CONVENTIONS.rigl.levels).toBe('cumulative');
  });
  test('a preset with rules replaced; undefined rules keep the preset', () => {
    expect(conventionsOf()).toEqual(DEFAULT_CONVENTIONS);
    expect(conventionsOf('rigl', { counting: 'round-half-even', levels: undefined })).toEqual({
      ...CONVENTIONS.rigl,
      counting: 'round-half-even',
    });
  });
  test('bad presets, rules and values are named', () => {
    expect(() => conventionsOf('pytorch' as never)).toThrow(
      /^conventions: expected one of cyclesparse, torch, open_lth, rigl, got "pytorch"/,
    );
    expect(() => conventionsOf('torch', { rounding: 'floor' } as never)).toThrow(
      /^conventions: expected rules among counting, levels, layerCounts, lrBoundaries, got "rounding"/,
    );
    expect(() => conventionsOf('torch', { levels: 'geometric' } as never)).toThrow(
      /^conventions\.levels: expected one of cumulative, compound, got "geometric"/,
    );
  });
  test('counting rules on the float product as the peers evaluate it', () => {
    // 0.29 · 50 is 14.499999999999998: snapped to 14.5 and up here, 14 in Python's round.
    expect([0.29 * 50, 2.5, 3.5, 2.4, 2.6].map((x) => roundCount(x, 'round-half-even'))).toEqual([
      14, 2, 4, 2, 3,
    ]);
    expect(roundCount(0.29 * 50)).toBe(15);
    expect([2.5, 2.0000001, 2].map((x) => roundCount(x, 'ceil'))).toEqual([3, 3, 2]);
    expect([2.99, 3].map((x) => roundCount(x, 'floor'))).toEqual([2, 3]);
    expect(() => roundCount(1, 'stochastic' as never)).toThrow(
      /^counting: expected one of round-half-up, round-half-even, floor, ceil/,
    );
    expect(prunedCount(0.5, 5, 'round-half-even')).toBe(2);
    expect(prunedCount(0.5, 5)).toBe(3);
  });
  test('which shapes have a fraction for the boundary rule to place', () => {
    expect(shapeHasBoundaries(CONSTANT)).toBe(false);
    expect(shapeHasBoundaries(COSINE)).toBe(false);
    expect(shapeHasBoundaries({ kind: 'cosine', warmupFraction: 0.1, minFactor: 0 })).toBe(true);
    expect(shapeHasBoundaries(CIFAR_STEP_WARMUP)).toBe(true);
    expect(shapeHasBoundaries(IMAGENET_STEP_WARMUP)).toBe(true);
    expect(shapeHasBoundaries(TRIANGULAR)).toBe(true);
  });
});

describe('prune targets', () => {
  const layers = [
    { name: 'a', shape: [5, 2] },
    { name: 'b', shape: [3, 1] },
  ];
  const scores = {
    a: Float32Array.from({ length: 10 }, (_, i) => i),
    b: Float32Array.from({ length: 3 }, (_, i) => 10 + i),
  };
  test('exactly one of sparsity and fractionOfRemaining', () => {
    expect(targetOf({ sparsity: 0.5 })).toEqual({ kind: 'sparsity', value: 0.5 });
    expect(targetOf({ fractionOfRemaining: 0.2 })).toEqual({ kind: 'remaining', value: 0.2 });
    expect(() => targetOf({ sparsity: 0.5, fractionOfRemaining: 0.2 } as never)).toThrow(
      /^sparsity: expected either sparsity or fractionOfRemaining \(exactly one\)/,
    );
    expect(() => targetOf({} as never)).toThrow(/exactly one/);
    expect(() => targetOf({ fractionOfRemaining: 1 })).toThrow(/^fractionOfRemaining: /);
  });
  test('a fraction of what is kept: globally over the candidates, or in each layer', () => {
    const half = prune(Mask.dense(layers), scores, { fractionOfRemaining: 0.5, scope: 'global' });
    expect(half.totalKept).toBe(6); // 13 · 0.5 = 6.5 → 7 pruned
    const again = prune(half, scores, {
      fractionOfRemaining: 0.5,
      scope: 'global',
      counting: 'round-half-even',
    });
    expect(again.totalKept).toBe(3); // 6 · 0.5 = 3 pruned
    const layerwise = prune(Mask.dense(layers), scores, {
      fractionOfRemaining: 0.5,
      scope: 'layerwise',
      counting: 'round-half-even',
    });
    expect([layerwise.kept('a'), layerwise.kept('b')]).toEqual([5, 1]); // 1.5 → 2 of b
    // Excluded layers are not part of what is kept in scope.
    const excluded = prune(Mask.dense(layers), scores, {
      fractionOfRemaining: 0.5,
      scope: 'global',
      exclude: ['b'],
    });
    expect([excluded.kept('a'), excluded.kept('b')]).toEqual([5, 3]);
  });
});

describe('per-layer counts', () => {
  const layers = [
    { name: 'a', shape: [20, 10] },
    { name: 'b', shape: [10, 5] },
    { name: 'c', shape: [5, 2] },
  ];
  test('uniform without fixed layers is the sparsity in every layer, counted by the rule', () => {
    const kept = layerDensities(layers, {
      distribution: 'uniform',
      sparsity: 0.3,
      counting: 'floor',
      layerCounts: 'per-layer',
    }).map((l) => l.kept);
    expect(kept).toEqual([140, 35, 7]); // floor(60), floor(15), floor(3) pruned
  });
  test('forced-dense and overridden layers take their share out of the real-valued budget', () => {
    const withDense = layerDensities(layers, {
      distribution: 'uniform',
      sparsity: 0.5,
      denseLayers: ['c'],
      counting: 'floor',
      layerCounts: 'per-layer',
    });
    // Budget 130 of 260; c keeps 10, so a and b share 120 of 250: density 0.48 each.
    expect(withDense.map((l) => l.kept)).toEqual([96, 24, 10]);
    const withOverride = layerDensities(layers, {
      distribution: 'uniform',
      sparsity: 0.5,
      overrides: { a: 0.5 },
      counting: 'floor',
      layerCounts: 'per-layer',
    });
    expect(withOverride.map((l) => l.kept)).toEqual([100, 25, 5]);
    expect(withOverride[0]!.source).toBe('override');
  });
  test('ERK: a layer that would pass density 1 is made dense and the others share the rest', () => {
    const erk = layerDensities(layers, {
      distribution: 'erk',
      sparsity: 0.5,
      counting: 'floor',
      layerCounts: 'per-layer',
    });
    expect(erk[2]!.kept).toBe(10); // c: raw density 0.7 is the highest, ε·0.7 > 1
    expect(erk.map((l) => l.kept).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(130);
    expect(() =>
      layerDensities(layers, {
        distribution: 'erk',
        sparsity: 0.5,
        layerCounts: 'exact' as never,
      }),
    ).toThrow(/^layerCounts: expected one of apportion, per-layer/);
  });
});

describe('level rules', () => {
  test('bad level rules are named', () => {
    expect(() =>
      pruningLevels({ rate: 0.2, levels: 2 }, 10, { levels: 'geometric' as never }),
    ).toThrow(/^levels: expected 'cumulative' or 'compound'/);
  });
  test('the compounding error says why', () => {
    expect(() =>
      pruningLevels({ rate: 0.1, targetSparsity: 0.5 }, 5, {
        counting: 'floor',
        levels: 'compound',
      }),
    ).toThrow('rate: 0.1 of the 5 remaining weights prunes none under counting floor');
  });
});
