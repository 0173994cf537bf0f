/**
 * Iterative pruning levels (IMP, WR, LRR): each level removes a fraction `rate` of the weights
 * still kept, so level k has nominal density (1 − rate)^k. Integer counts come from the one
 * counting rule applied to level k's target sparsity 1 − (1 − rate)^k over all n masked weights
 * (not from compounding per-level roundings), so level k keeps the count closest to the nominal
 * density and pruning the same mask level after level lands on exactly these counts.
 */

import { InvalidArgumentError, requireInteger, requireNumber, requireSparsity } from './errors.js';
import { keptCount, prunedCount } from './selection.js';

export interface PruningLevel {
  /** 0 is the dense network. */
  readonly level: number;
  /** Target sparsity of this level: 1 − (1 − rate)^level, or the clamped target. */
  readonly sparsity: number;
  readonly kept: number;
  readonly pruned: number;
}

export type LevelPlan =
  | { readonly rate: number; readonly levels: number }
  | {
      readonly rate: number;
      readonly targetSparsity: number;
      /**
       * `geometric` (default): stop at the first level whose count reaches the target, even if it
       * overshoots. `clamp`: make that last level exactly the target.
       */
      readonly lastLevel?: 'geometric' | 'clamp';
    };

/** Nominal target sparsity of level k: 1 − (1 − rate)^k. */
export function levelSparsity(rate: number, level: number): number {
  requireNumber('rate', rate, { min: 0, max: 1, openMin: true, openMax: true });
  requireInteger('level', level, 0);
  return 1 - (1 - rate) ** level;
}

/**
 * Fewest levels whose integer kept count reaches the target's on `n` weights. Counting in
 * integers avoids float traps such as log(0.64)/log(0.8) = 2.0000000000000004.
 */
export function levelsToReach(targetSparsity: number, rate: number, n: number): number {
  requireSparsity('targetSparsity', targetSparsity);
  requireInteger('n', n, 1);
  const targetKept = keptCount(targetSparsity, n);
  let level = 0;
  while (keptCount(Math.min(levelSparsity(rate, level), 1 - Number.EPSILON), n) > targetKept) {
    level++;
  }
  return level;
}

/** Levels 0..K with exact integer counts for `n` masked weights. */
export function pruningLevels(plan: LevelPlan, n: number): PruningLevel[] {
  requireInteger('n', n, 1);
  requireNumber('rate', plan.rate, { min: 0, max: 1, openMin: true, openMax: true });
  let count: number;
  let finalSparsity: number | undefined;
  if ('levels' in plan) {
    count = requireInteger('levels', plan.levels, 0);
  } else {
    const mode = plan.lastLevel ?? 'geometric';
    if (mode !== 'geometric' && mode !== 'clamp') {
      throw new InvalidArgumentError('lastLevel', "'geometric' or 'clamp'", mode);
    }
    count = levelsToReach(plan.targetSparsity, plan.rate, n);
    if (mode === 'clamp') finalSparsity = plan.targetSparsity;
  }
  const levels: PruningLevel[] = [];
  for (let level = 0; level <= count; level++) {
    const nominal = levelSparsity(plan.rate, level);
    const sparsity = level === count && finalSparsity !== undefined ? finalSparsity : nominal;
    if (sparsity >= 1) {
      throw new InvalidArgumentError(
        'levels',
        `at most the levels before sparsity reaches 1`,
        count,
      );
    }
    const pruned = prunedCount(sparsity, n);
    levels.push({ level, sparsity, kept: n - pruned, pruned });
  }
  return levels;
}
