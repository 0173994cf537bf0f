import { describe, expect, test } from 'vitest';
import { levelSparsity, levelsToReach, pruningLevels } from './density-schedule.js';

describe('iterative pruning levels', () => {
  test('IMP at 20% per level: density 0.8^k with exact counts', () => {
    expect(pruningLevels({ rate: 0.2, levels: 3 }, 1000).map((l) => l.kept)).toEqual([
      1000, 800, 640, 512,
    ]);
    expect(pruningLevels({ rate: 0.2, levels: 2 }, 270896).map((l) => l.kept)).toEqual([
      270896, 216717, 173373,
    ]);
  });
  test('counts the levels to a target in integers, not with log ratios', () => {
    expect(Math.log(0.64) / Math.log(0.8)).toBe(2.0000000000000004);
    expect(levelsToReach(0.36, 0.2, 100)).toBe(2);
    expect(levelsToReach(0.9, 0.2, 270896)).toBe(11); // 0.8^10 = 0.107 > 0.1 ≥ 0.8^11
    expect(levelsToReach(0, 0.2, 10)).toBe(0);
  });
  test('a target plan stops at the first level past the target, or clamps it', () => {
    const geometric = pruningLevels({ rate: 0.2, targetSparsity: 0.9 }, 1000);
    expect(geometric.at(-1)).toEqual({
      level: 11,
      sparsity: levelSparsity(0.2, 11),
      kept: 86,
      pruned: 914,
      target: { sparsity: levelSparsity(0.2, 11) },
    });
    const clamped = pruningLevels({ rate: 0.2, targetSparsity: 0.9, lastLevel: 'clamp' }, 1000);
    expect(clamped.at(-1)).toEqual({
      level: 11,
      sparsity: 0.9,
      kept: 100,
      pruned: 900,
      target: { sparsity: 0.9 },
    });
  });
  test('compounding levels prune count(rate · remaining) at each level, with the given rule', () => {
    // By hand, 130 weights at 20%: 26 of 130, 20.8 → 21 of 104, 16.6 → 17 of 83, 13.2 → 13 of 66.
    const compound = pruningLevels({ rate: 0.2, levels: 4 }, 130, {
      counting: 'round-half-even',
      levels: 'compound',
    });
    expect(compound.map((l) => l.kept)).toEqual([130, 104, 83, 66, 53]);
    expect(compound.slice(1).every((l) => l.target.fractionOfRemaining === 0.2)).toBe(true);
    // Cumulative: level 3 keeps 130 · 0.512 = 66.56 → 67 (the count nearest its nominal density).
    expect(pruningLevels({ rate: 0.2, levels: 4 }, 130).map((l) => l.kept)).toEqual([
      130, 104, 83, 67, 53,
    ]);
    // open_lth's ceil: 26 of 130, 20.8 → 21, 16.6 → 17, 13.2 → 14.
    expect(
      pruningLevels({ rate: 0.2, levels: 4 }, 130, { counting: 'ceil', levels: 'compound' }).map(
        (l) => l.kept,
      ),
    ).toEqual([130, 104, 83, 66, 52]);
    // Half-way ties: 0.5 · 5 = 2.5 prunes 2 (half to even), 0.5 · 3 = 1.5 prunes 2.
    expect(
      pruningLevels({ rate: 0.5, levels: 2 }, 5, {
        counting: 'round-half-even',
        levels: 'compound',
      }).map((l) => l.kept),
    ).toEqual([5, 3, 1]);
  });
  test('a compounding plan to a target counts levels the same way, and clamps the last', () => {
    expect(levelsToReach(0.6, 0.2, 130, { counting: 'ceil', levels: 'compound' })).toBe(4);
    const plan = pruningLevels({ rate: 0.2, targetSparsity: 0.6, lastLevel: 'clamp' }, 130, {
      counting: 'ceil',
      levels: 'compound',
    });
    expect(plan.map((l) => l.kept)).toEqual([130, 104, 83, 66, 52]);
    expect(plan.at(-1)!.target).toEqual({ sparsity: 0.6 });
    expect(() =>
      pruningLevels({ rate: 0.2, targetSparsity: 0.9 }, 4, {
        counting: 'floor',
        levels: 'compound',
      }),
    ).toThrow(/^rate: .*prunes none under counting floor/);
  });
  test('names bad arguments', () => {
    expect(() => pruningLevels({ rate: 0, levels: 2 }, 10)).toThrow(
      /^rate: expected a finite number in \(0, 1\), got 0/,
    );
    expect(() => pruningLevels({ rate: 0.2, levels: -1 }, 10)).toThrow(
      /^levels: expected an integer >= 0/,
    );
    expect(() => pruningLevels({ rate: 0.2, levels: 1 }, 0)).toThrow(
      /^n: expected an integer >= 1/,
    );
    expect(() => levelsToReach(1, 0.2, 10)).toThrow(
      /^targetSparsity: expected a sparsity in \[0, 1\)/,
    );
    expect(() =>
      pruningLevels({ rate: 0.2, targetSparsity: 0.5, lastLevel: 'round' as never }, 10),
    ).toThrow(/^lastLevel:/);
  });
});
