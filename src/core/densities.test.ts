import { describe, expect, test } from 'vitest';
import { layerDensities, distributionWeight } from './densities.js';
import { InfeasibleError } from './errors.js';

// n = 100, 100, 4; ERK weights Σ shape = 20, 52, 5.
const layers = [
  { name: 'a', shape: [10, 10] },
  { name: 'b', shape: [2, 50] },
  { name: 'c', shape: [1, 4] },
];
const kept = (options: Parameters<typeof layerDensities>[1]) =>
  layerDensities(layers, options).map((l) => l.kept);

describe('layer densities at sparsity 0.5 (102 of 204 weights kept)', () => {
  test('uniform keeps the same density everywhere', () => {
    expect(kept({ distribution: 'uniform', sparsity: 0.5 })).toEqual([50, 50, 2]);
  });
  test('ERK keeps ∝ Σ shape, clamps c at 4 and gives its surplus to a and b', () => {
    // λ·77 = 102 would give c 6.6 > 4: clamp, then 98 = λ·72 → a 27.2, b 70.8.
    const result = layerDensities(layers, { distribution: 'erk', sparsity: 0.5 });
    expect(result.map((l) => l.kept)).toEqual([27, 71, 4]);
    expect(result[2]).toEqual({ name: 'c', size: 4, kept: 4, density: 1, source: 'distribution' });
  });
  test('balanced keeps the same count per layer, small layers dense', () => {
    expect(kept({ distribution: 'balanced', sparsity: 0.5 })).toEqual([49, 49, 4]);
  });
  test('ER weighs convolutions by channels only, ERK by every dimension', () => {
    const conv = { name: 'conv', shape: [3, 3, 16, 32] };
    expect(distributionWeight('er', conv)).toBe((4608 * 48) / 512);
    expect(distributionWeight('erk', conv)).toBe(54);
    expect(
      distributionWeight('er', { ...conv, shape: [32, 16, 3, 3], layout: 'oihw' as const }),
    ).toBe(432);
  });
  test('dense first/last layers and overrides are fixed before the rest share the budget', () => {
    const result = layerDensities(layers, {
      distribution: 'uniform',
      sparsity: 0.5,
      denseLast: true,
      overrides: { a: 0.9 },
    });
    expect(result.map((l) => [l.kept, l.source])).toEqual([
      [10, 'override'],
      [88, 'distribution'],
      [4, 'dense'],
    ]);
    expect(kept({ distribution: 'uniform', sparsity: 0.5, denseFirst: true })).toEqual([100, 2, 0]);
  });
  test('explains budgets that the fixed layers make impossible', () => {
    expect(() =>
      layerDensities(layers, { distribution: 'erk', sparsity: 0.9, denseLayers: ['a'] }),
    ).toThrow(InfeasibleError);
    expect(() =>
      layerDensities(layers, { distribution: 'erk', sparsity: 0.9, denseLayers: ['a'] }),
    ).toThrow(
      /^sparsity: 0\.9 keeps 20 of 204 weights, but the dense and overridden layers fix 100/,
    );
  });
  test('names bad arguments', () => {
    expect(() => layerDensities(layers, { distribution: 'erdos' as never, sparsity: 0.5 })).toThrow(
      /^distribution: expected one of uniform, er, erk, balanced, got "erdos"/,
    );
    expect(() =>
      layerDensities(layers, { distribution: 'erk', sparsity: 0.5, denseLayers: ['z'] }),
    ).toThrow(/^denseLayers:/);
    expect(() =>
      layerDensities(layers, { distribution: 'erk', sparsity: 0.5, overrides: { b: 1.5 } }),
    ).toThrow(/^overrides\.b: expected a sparsity in \[0, 1\)/);
    expect(() =>
      layerDensities(layers, {
        distribution: 'erk',
        sparsity: 0.5,
        denseFirst: true,
        overrides: { a: 0.5 },
      }),
    ).toThrow(/^overrides\.a: expected a layer that is not forced dense/);
  });
});
