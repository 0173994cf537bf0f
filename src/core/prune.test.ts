import { describe, expect, test } from 'vitest';
import { InfeasibleError } from './errors.js';
import { Mask } from './mask.js';
import { prune, pruneToKeptCounts } from './prune.js';

const layers = [
  { name: 'a', shape: [4] },
  { name: 'b', shape: [2, 3] },
];
const scores = {
  a: Float32Array.from([0.5, -3, 2, 0.1]),
  b: Float32Array.from([1, 1, 0.2, 4, 0.3, 1]),
};
const kept = (mask: Mask) =>
  Object.fromEntries(mask.names().map((n) => [n, Array.from(mask.toArray(n))]));

describe('prune', () => {
  test('global scope ranks all layers together', () => {
    // 10 weights at 0.5: the five smallest are -3, 0.1, 0.2, 0.3, 0.5.
    expect(kept(prune(Mask.dense(layers), scores, { sparsity: 0.5, scope: 'global' }))).toEqual({
      a: [0, 0, 1, 0],
      b: [1, 1, 0, 1, 0, 1],
    });
  });
  test('layerwise scope prunes each layer by the rule: 0.5 of 4 is 2, of 6 is 3', () => {
    expect(kept(prune(Mask.dense(layers), scores, { sparsity: 0.5, scope: 'layerwise' }))).toEqual({
      a: [1, 0, 1, 0],
      b: [0, 1, 0, 1, 0, 1],
    });
  });
  test('excluded layers stay as they are and the others meet the global target', () => {
    const result = prune(Mask.dense(layers), scores, {
      sparsity: 0.3,
      scope: 'global',
      exclude: ['a'],
    });
    // Three of b go: 0.2, 0.3, then the first of the tied 1s (index 0).
    expect(kept(result)).toEqual({ a: [1, 1, 1, 1], b: [0, 1, 0, 1, 0, 1] });
    expect(result.totalKept).toBe(7);
  });
  test('already-pruned weights stay pruned and count towards the target', () => {
    const start = Mask.fromArrays(layers, { a: [1, 1, 0, 1], b: [1, 1, 1, 1, 1, 1] });
    const result = prune(start, scores, { sparsity: 0.2, scope: 'global' });
    expect(kept(result)).toEqual({ a: [1, 0, 0, 1], b: [1, 1, 1, 1, 1, 1] });
  });
  test('refuses to grow a mask back', () => {
    const sparse = prune(Mask.dense(layers), scores, { sparsity: 0.5, scope: 'global' });
    expect(() => prune(sparse, scores, { sparsity: 0.4, scope: 'global' })).toThrow(
      InfeasibleError,
    );
    expect(() => prune(sparse, scores, { sparsity: 0.4, scope: 'layerwise' })).toThrow(
      /^sparsity: 0\.4 is below layer a's current sparsity 0\.75; masks only shrink/,
    );
  });
  test('refuses a target the excluded layers make unreachable', () => {
    expect(() =>
      prune(Mask.dense(layers), scores, { sparsity: 0.7, scope: 'global', exclude: ['b'] }),
    ).toThrow(/^sparsity: 0\.7 keeps 3 weights but the excluded layers alone keep 6/);
  });
  test('names the bad argument', () => {
    const dense = Mask.dense(layers);
    expect(() => prune(dense, { a: scores.a }, { sparsity: 0.5, scope: 'global' })).toThrow(
      /^scores\.b: expected a Float32Array of 6 scores for shape \[2, 3\], got undefined/,
    );
    expect(() => prune(dense, scores, { sparsity: 0.5, scope: 'global', exclude: ['c'] })).toThrow(
      /^exclude: expected names of layers \(a, b\), got "c"/,
    );
    expect(() => prune(dense, scores, { sparsity: 0.5, scope: 'local' as never })).toThrow(
      /^scope: expected one of global, layerwise, got "local"/,
    );
    expect(() => prune(dense, scores, { sparsity: 1, scope: 'global' })).toThrow(
      /^sparsity: expected a sparsity in \[0, 1\), got 1/,
    );
  });
  test('pruneToKeptCounts sets exact per-layer counts and checks them', () => {
    const result = pruneToKeptCounts(Mask.dense(layers), scores, { a: 1, b: 5 });
    expect(kept(result)).toEqual({ a: [0, 0, 1, 0], b: [1, 1, 0, 1, 1, 1] });
    expect(() => pruneToKeptCounts(result, scores, { a: 2 })).toThrow(
      /^kept\.a: expected an integer in \[0, 1\], got 2/,
    );
  });
});
