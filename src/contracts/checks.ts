/**
 * The invariant checks behind the pruning contract, as plain functions over one concrete
 * "before → after" pruning step. The contract's laws (pruning.ts) run them on generated requests;
 * `cyclesparse verify` (src/verify) runs the very same functions on masks and scores that another
 * framework saved. Each returns the first violation — with the layer and flat index where it
 * happened — or undefined.
 *
 * They loop over typed arrays without allocating per weight, so a ResNet-50 artifact (25 M
 * weights) is checked in well under a second per level.
 */

import { layerSize, type LayerSpec } from '../core/mask.js';
import type { Scope } from '../core/prune.js';
import { COUNTING_RULES, prunedCountBy, type CountingRule } from './counting.js';

export interface Violation {
  readonly message: string;
  readonly layer?: string;
  /** Row-major index inside `layer`. */
  readonly index?: number;
}

/** One pruning step: the mask before it, the scores it ranked, what it was asked for. */
export interface PruningStep {
  /** Layers in flat-index order (global ties go to the earlier layer). */
  readonly layers: readonly LayerSpec[];
  /** One score per weight, row-major; smaller scores are pruned first. */
  readonly scores: Readonly<Record<string, ArrayLike<number>>>;
  /** The mask before the step, 1 = kept. */
  readonly mask: Readonly<Record<string, ArrayLike<number>>>;
  readonly scope: Scope;
  /** Layers the step leaves unchanged. */
  readonly exclude: readonly string[];
}

/** Zeros in a 0/1 mask. */
export function prunedIn(mask: ArrayLike<number>): number {
  let zeros = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) zeros++;
  return zeros;
}

/** Masks name exactly `layers`, have their sizes, and hold only 0 and 1. */
export function maskValuesViolation(
  layers: readonly LayerSpec[],
  masks: Readonly<Record<string, ArrayLike<number>>>,
): Violation | undefined {
  const names = layers.map((l) => l.name);
  const got = Object.keys(masks);
  if (got.length !== names.length || !names.every((n) => got.includes(n))) {
    return {
      message: `mask layers [${got.join(', ')}] differ from the expected [${names.join(', ')}]`,
    };
  }
  for (const layer of layers) {
    const values = masks[layer.name]!;
    const size = layerSize(layer);
    if (values.length !== size) {
      return {
        message: `${layer.name}: ${values.length} values for ${size} weights`,
        layer: layer.name,
      };
    }
    for (let i = 0; i < size; i++) {
      if (values[i] !== 0 && values[i] !== 1) {
        return {
          message: `${layer.name}[${i}] is ${values[i]}, not 0 or 1`,
          layer: layer.name,
          index: i,
        };
      }
    }
  }
  return undefined;
}

/** A weight pruned in `before` is pruned in `after` (masks only shrink). */
export function revivalViolation(
  layers: readonly LayerSpec[],
  before: Readonly<Record<string, ArrayLike<number>>>,
  after: Readonly<Record<string, ArrayLike<number>>>,
): Violation | undefined {
  for (const layer of layers) {
    const a = before[layer.name]!;
    const b = after[layer.name]!;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === 0 && b[i] !== 0) {
        return {
          message: `${layer.name}[${i}] was pruned and came back`,
          layer: layer.name,
          index: i,
        };
      }
    }
  }
  return undefined;
}

/** The ranking units of a step: one for global scope, one per layer for layerwise. */
export function rankingUnits(step: PruningStep): string[][] {
  const candidates = step.layers.map((l) => l.name).filter((n) => !step.exclude.includes(n));
  return step.scope === 'global' ? [candidates] : candidates.map((n) => [n]);
}

const describeScore = (score: number) => (Object.is(score, -0) ? '-0' : String(score));

interface UnitExtremes {
  /** Highest score among weights alive before and pruned by the step. */
  highestPruned: { layer: string; index: number; score: number } | undefined;
  /** Lowest score among weights kept by the step. */
  lowestKept: { layer: string; index: number; score: number } | undefined;
}

function extremes(
  step: PruningStep,
  unit: readonly string[],
  after: PruningStep['mask'],
): UnitExtremes {
  const out: UnitExtremes = { highestPruned: undefined, lowestKept: undefined };
  for (const name of unit) {
    const before = step.mask[name]!;
    const next = after[name]!;
    const scores = step.scores[name]!;
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== 1) continue;
      const score = scores[i]!;
      if (next[i] === 1) {
        if (out.lowestKept === undefined || score < out.lowestKept.score)
          out.lowestKept = { layer: name, index: i, score };
      } else if (out.highestPruned === undefined || score > out.highestPruned.score) {
        out.highestPruned = { layer: name, index: i, score };
      }
    }
  }
  return out;
}

/** No weight the step pruned scores above one it kept, within each ranking unit. */
export function scoreOrderViolation(
  step: PruningStep,
  after: Readonly<Record<string, ArrayLike<number>>>,
): Violation | undefined {
  for (const unit of rankingUnits(step)) {
    const { highestPruned, lowestKept } = extremes(step, unit, after);
    if (highestPruned === undefined || lowestKept === undefined) continue;
    if (highestPruned.score > lowestKept.score) {
      return {
        message:
          `pruned ${highestPruned.layer}[${highestPruned.index}] (score ${describeScore(highestPruned.score)}) ` +
          `but kept ${lowestKept.layer}[${lowestKept.index}] (score ${describeScore(lowestKept.score)})`,
        layer: highestPruned.layer,
        index: highestPruned.index,
      };
    }
  }
  return undefined;
}

/** How a step resolved ties at its threshold score, per ranking unit taken together. */
export type TieResolution = 'no-ties' | 'lowest-flat-index' | 'highest-flat-index' | 'mixed';

interface Place {
  readonly layer: string;
  readonly index: number;
  /** Index in the ranking unit's concatenated layers. */
  readonly flat: number;
}

/**
 * The weights alive before the step whose score equals the unit's threshold (its highest pruned
 * score): the first and last kept and pruned ones in flat order. Ties between a pruned and a kept
 * weight can only sit there once the score order holds.
 */
function thresholdTies(
  step: PruningStep,
  unit: readonly string[],
  after: PruningStep['mask'],
):
  | {
      threshold: number;
      firstKept?: Place;
      lastKept?: Place;
      firstPruned?: Place;
      lastPruned?: Place;
    }
  | undefined {
  const { highestPruned } = extremes(step, unit, after);
  if (highestPruned === undefined) return undefined;
  const threshold = highestPruned.score;
  const ties: { firstKept?: Place; lastKept?: Place; firstPruned?: Place; lastPruned?: Place } = {};
  let flat = 0;
  for (const name of unit) {
    const before = step.mask[name]!;
    const next = after[name]!;
    const scores = step.scores[name]!;
    for (let i = 0; i < before.length; i++) {
      // === treats -0 and 0 as the same score, as every ranking does.
      if (before[i] !== 1 || scores[i] !== threshold) continue;
      const place = { layer: name, index: i, flat: flat + i };
      if (next[i] === 1) {
        ties.firstKept ??= place;
        ties.lastKept = place;
      } else {
        ties.firstPruned ??= place;
        ties.lastPruned = place;
      }
    }
    flat += before.length;
  }
  return { threshold, ...ties };
}

/** Among the weights tied at the threshold, were the pruned ones the lowest flat indices, the highest, or neither? */
export function tieResolution(step: PruningStep, after: PruningStep['mask']): TieResolution {
  let lowest = true;
  let highest = true;
  let tied = false;
  for (const unit of rankingUnits(step)) {
    const ties = thresholdTies(step, unit, after);
    if (ties?.firstKept === undefined) continue;
    tied = true;
    if (ties.lastPruned !== undefined && ties.lastPruned.flat > ties.firstKept.flat) lowest = false;
    if (ties.firstPruned !== undefined && ties.firstPruned.flat < ties.lastKept!.flat)
      highest = false;
  }
  if (!tied) return 'no-ties';
  return lowest ? 'lowest-flat-index' : highest ? 'highest-flat-index' : 'mixed';
}

/** Ties at the threshold went to the lowest flat index first. */
export function tieBreakViolation(
  step: PruningStep,
  after: PruningStep['mask'],
): Violation | undefined {
  for (const unit of rankingUnits(step)) {
    const ties = thresholdTies(step, unit, after);
    const { firstKept, lastPruned } = ties ?? {};
    if (firstKept !== undefined && lastPruned !== undefined && firstKept.flat < lastPruned.flat) {
      const score = describeScore(ties!.threshold);
      return {
        message:
          `kept ${firstKept.layer}[${firstKept.index}] (score ${score}) but pruned ` +
          `${lastPruned.layer}[${lastPruned.index}] (score ${score}), which comes later`,
        layer: firstKept.layer,
        index: firstKept.index,
      };
    }
  }
  return undefined;
}

/** The counting rules under which sparsity `s` of `n` weights prunes exactly `pruned`. */
export function countingRulesMatching(sparsity: number, n: number, pruned: number): CountingRule[] {
  return COUNTING_RULES.filter((rule) => prunedCountBy(rule, sparsity, n) === pruned);
}
