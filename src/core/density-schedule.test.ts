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
    });
    const clamped = pruningLevels({ rate: 0.2, targetSparsity: 0.9, lastLevel: 'clamp' }, 1000);
    expect(clamped.at(-1)).toEqual({ level: 11, sparsity: 0.9, kept: 100, pruned: 900 });
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
