/**
 * Iterative pruning levels (IMP, WR, LRR): each level removes a fraction `rate` of the weights
 * still kept, so level k has nominal density (1 − rate)^k. Integer counts come from the one
 * counting rule applied to level k's target sparsity 1 − (1 − rate)^k over all n masked weights
 * (not from compounding per-level roundings), so level k keeps the count closest to the nominal
 * density and pruning the same mask level after level lands on exactly these counts.
 *
 * Libraries that compound instead (torch.nn.utils.prune, open_lth; `conventions.ts`) prune
 * count(rate · remaining) at each level; `levels: 'compound'` plans that, and each level's
 * {@link PruneTarget} says which form the pruner must apply (a fraction of the remaining weights
 * compounds per layer in layerwise scope, as those libraries do).
 */

import type { LevelRule } from './conventions.js';
import {
  InfeasibleError,
  InvalidArgumentError,
  requireInteger,
  requireNumber,
  requireSparsity,
} from './errors.js';
import type { PruneTarget } from './prune.js';
import { COUNTING_RULE, keptCount, prunedCount, type CountingRule } from './selection.js';

export interface PruningLevel {
  /** 0 is the dense network. */
  readonly level: number;
  /** Target sparsity of this level: 1 − (1 − rate)^level, or the clamped target. */
  readonly sparsity: number;
  readonly kept: number;
  readonly pruned: number;
  /** What the pruner applies to reach this level from the one before (global counts above). */
  readonly target: PruneTarget;
}

/** The rules a plan counts with (default cyclesparse's: round-half-up, cumulative). */
export interface LevelRules {
  readonly counting?: CountingRule;
  readonly levels?: LevelRule;
}

function nextKept(kept: number, rate: number, rule: CountingRule): number {
  const next = kept - prunedCount(rate, kept, rule);
  if (next === kept)
    throw new InfeasibleError(
      'rate',
      `${rate} of the ${kept} remaining weights prunes none under counting ${rule}; ` +
        'compounding levels would never reach the target',
    );
  return next;
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
export function levelsToReach(
  targetSparsity: number,
  rate: number,
  n: number,
  rules: LevelRules = {},
): number {
  requireSparsity('targetSparsity', targetSparsity);
  requireInteger('n', n, 1);
  const rule = rules.counting ?? COUNTING_RULE;
  const targetKept = keptCount(targetSparsity, n, rule);
  let level = 0;
  if (rules.levels === 'compound') {
    requireNumber('rate', rate, { min: 0, max: 1, openMin: true, openMax: true });
    for (let kept = n; kept > targetKept; level++) kept = nextKept(kept, rate, rule);
    return level;
  }
  while (
    keptCount(Math.min(levelSparsity(rate, level), 1 - Number.EPSILON), n, rule) > targetKept
  ) {
    level++;
  }
  return level;
}

/** Levels 0..K with exact integer counts for `n` masked weights. */
export function pruningLevels(plan: LevelPlan, n: number, rules: LevelRules = {}): PruningLevel[] {
  const rule = rules.counting ?? COUNTING_RULE;
  const compound = (rules.levels ?? 'cumulative') === 'compound';
  if (rules.levels !== undefined && rules.levels !== 'cumulative' && !compound)
    throw new InvalidArgumentError('levels', "'cumulative' or 'compound'", rules.levels);
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
    count = levelsToReach(plan.targetSparsity, plan.rate, n, rules);
    if (mode === 'clamp') finalSparsity = plan.targetSparsity;
  }
  const levels: PruningLevel[] = [];
  let kept = n;
  for (let level = 0; level <= count; level++) {
    const nominal = levelSparsity(plan.rate, level);
    const clamped = level === count && finalSparsity !== undefined;
    const sparsity = clamped ? finalSparsity! : nominal;
    if (sparsity >= 1) {
      throw new InvalidArgumentError(
        'levels',
        `at most the levels before sparsity reaches 1`,
        count,
      );
    }
    let target: PruneTarget = { sparsity };
    if (level === 0) kept = n;
    else if (compound && !clamped) {
      kept = nextKept(kept, plan.rate, rule);
      target = { fractionOfRemaining: plan.rate };
    } else kept = keptCount(sparsity, n, rule);
    levels.push({ level, sparsity, kept, pruned: n - kept, target });
  }
  return levels;
}
