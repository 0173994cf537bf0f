import { describe, expect, test } from 'vitest';
import { allOnes } from './bits.js';
import { InvalidArgumentError } from './errors.js';
import {
  keptCount,
  prunedCount,
  roundHalfUp,
  selectToPrune,
  selectToPruneReference,
} from './selection.js';

const segment = (values: number[], alive?: number[]) => {
  const scores = Float32Array.from(values);
  const words =
    alive === undefined ? allOnes(values.length) : new Uint32Array((values.length + 31) >>> 5);
  alive?.forEach((bit, i) => {
    if (bit) words[i >>> 5] = (words[i >>> 5]! | (1 << (i & 31))) >>> 0;
  });
  return { scores, alive: words };
};

/** Pruned element indices of each segment after selecting k. */
function prunedIndices(segments: ReturnType<typeof segment>[], k: number): number[][] {
  return selectToPrune(segments, k).map((words, s) =>
    Array.from({ length: segments[s]!.scores.length }, (_, i) => i).filter(
      (i) => ((words[i >>> 5]! >>> (i & 31)) & 1) === 0,
    ),
  );
}

describe('counting rule: round half up', () => {
  test('rounds to the nearest count, halves up', () => {
    expect(prunedCount(0.25, 10)).toBe(3); // 2.5 → 3
    expect(prunedCount(0.24, 10)).toBe(2);
    expect(prunedCount(0.5, 1)).toBe(1);
    expect(prunedCount(0.9, 270896)).toBe(243806); // 243806.4
    expect(keptCount(0.9, 270896)).toBe(27090);
  });
  test('is not fooled by float noise in s·n', () => {
    expect(0.29 * 100).toBe(28.999999999999996);
    expect(prunedCount(0.29, 100)).toBe(29);
    expect(0.29 * 50).toBe(14.499999999999998); // exactly 14.5 in rationals
    expect(prunedCount(0.29, 50)).toBe(15);
    expect(0.55 * 50).toBe(27.500000000000004);
    expect(prunedCount(0.55, 50)).toBe(28);
    expect(roundHalfUp(2.5000000000000004)).toBe(3);
  });
  test('covers the ends of the range', () => {
    expect(prunedCount(0, 1000)).toBe(0);
    expect(prunedCount(0.9999, 10)).toBe(10);
    expect(prunedCount(0.7, 0)).toBe(0);
  });
  test.each([1, -0.1, Number.NaN, Infinity])(
    'rejects sparsity %s naming the argument and range',
    (s) => {
      expect(() => prunedCount(s, 10)).toThrow(InvalidArgumentError);
      expect(() => prunedCount(s, 10)).toThrow(/^sparsity: expected a sparsity in \[0, 1\)/);
    },
  );
  test('rejects a non-integer count', () => {
    expect(() => prunedCount(0.5, 2.5)).toThrow(/^n: expected an integer >= 0, got 2.5/);
  });
});

describe('selection: smallest scores first, ties by lowest flat index', () => {
  test('all-equal scores prune the first k indices', () => {
    expect(prunedIndices([segment([1, 1, 1, 1, 1, 1, 1, 1])], 4)).toEqual([[0, 1, 2, 3]]);
  });
  test('{−2, 0, 2} ties: exactly k pruned, −0 and +0 tie by index', () => {
    const scores = [2, 0, -2, -0, 2, 0, -2, 0];
    expect(prunedIndices([segment(scores)], 3)).toEqual([[1, 2, 6]]);
    expect(prunedIndices([segment(scores)], 4)).toEqual([[1, 2, 3, 6]]);
  });
  test('global ties go to the earlier segment', () => {
    expect(prunedIndices([segment([5, 1]), segment([1, 0])], 2)).toEqual([[1], [1]]);
    expect(prunedIndices([segment([5, 1]), segment([1, 0])], 3)).toEqual([[1], [0, 1]]);
  });
  test('already-pruned weights are not candidates, whatever their score', () => {
    const pruned = prunedIndices([segment([-9, 3, 2, 1], [0, 1, 1, 1])], 1);
    expect(pruned).toEqual([[0, 3]]);
  });
  test('k = 0 and k = alive are the identity and the empty mask', () => {
    expect(prunedIndices([segment([3, 1, 2], [1, 0, 1])], 0)).toEqual([[1]]);
    expect(prunedIndices([segment([3, 1, 2], [1, 0, 1])], 2)).toEqual([[0, 1, 2]]);
  });
  test('rejects non-finite scores among candidates, naming segment and index', () => {
    expect(() => selectToPrune([segment([1, 2]), segment([0, Number.NaN])], 1)).toThrow(
      /^scores\[1\]\[1\]: expected a finite score, got NaN/,
    );
    expect(() => selectToPruneReference([segment([Infinity])], 0)).toThrow(/scores\[0\]\[0\]/);
    // A non-finite score of an already-pruned weight is ignored: it is not a candidate.
    expect(prunedIndices([segment([Number.NaN, 1, 2], [0, 1, 1])], 1)).toEqual([[0, 1]]);
  });
  test('rejects k above the candidates and malformed alive words', () => {
    expect(() => selectToPrune([segment([1, 2, 3], [1, 0, 1])], 3)).toThrow(
      /^k: expected an integer in \[0, 2\]/,
    );
    expect(() =>
      selectToPrune([{ scores: new Float32Array(40), alive: new Uint32Array(1) }], 1),
    ).toThrow(/^segments\[0\]\.alive: expected 2 words for 40 scores/);
  });
  test('a large input takes the sampled path and still agrees with the reference', () => {
    const n = 300_000;
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) scores[i] = Math.sin(i) * 1e-3 + (i % 7 === 0 ? 0 : 1e-4);
    const segments = [{ scores, alive: allOnes(n) }];
    expect(selectToPrune(segments, 123_457)).toEqual(selectToPruneReference(segments, 123_457));
  });
});
