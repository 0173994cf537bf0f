/**
 * Pruning a mask by scores, in one of two scopes. Both count with the rule of `selection.ts` over
 * all masked weights N (excluded layers included) and select with its tie-break:
 * - global: one ranking over every non-excluded layer (flat index = layer order, then element);
 * - layerwise: the kept budget is split over the non-excluded layers by the uniform distribution
 *   ({@link apportion} with w_l = n_l, capped at each layer's current kept count), then each layer
 *   is ranked on its own.
 * Already-pruned weights stay pruned (they count towards the target, their scores are ignored);
 * excluded layers keep their current mask while the global target is still met by the others.
 */

import { apportion } from './apportion.js';
import { popcount } from './bits.js';
import {
  InfeasibleError,
  InvalidArgumentError,
  requireInteger,
  requireSparsity,
} from './errors.js';
import { Mask } from './mask.js';
import { prunedCount, selectToPrune } from './selection.js';

export const SCOPES = ['global', 'layerwise'] as const;
export type Scope = (typeof SCOPES)[number];

/** Scores per layer name, row-major like the weights. */
export type LayerScores = Readonly<Record<string, Float32Array>>;

export interface PruneOptions {
  /** Target sparsity over all masked weights; must be >= the mask's current sparsity. */
  readonly sparsity: number;
  readonly scope: Scope;
  /** Layers left as they are (usually dense); the other layers make up the target. */
  readonly exclude?: readonly string[];
}

function candidateLayers(mask: Mask, exclude: readonly string[] | undefined): string[] {
  const excluded = new Set(exclude ?? []);
  for (const name of excluded) {
    if (!mask.has(name)) {
      throw new InvalidArgumentError(
        'exclude',
        `names of layers (${mask.names().join(', ')})`,
        name,
      );
    }
  }
  return mask.names().filter((name) => !excluded.has(name));
}

function scoresOf(mask: Mask, scores: LayerScores, name: string): Float32Array {
  const layerScores = scores[name];
  const size = mask.size(name);
  if (!(layerScores instanceof Float32Array) || layerScores.length !== size) {
    throw new InvalidArgumentError(
      `scores.${name}`,
      `a Float32Array of ${size} scores for shape [${mask.layer(name).shape.join(', ')}]`,
      layerScores,
    );
  }
  return layerScores;
}

function withLayers(mask: Mask, replaced: ReadonlyMap<string, Uint32Array>): Mask {
  return Mask.fromBits(
    mask.layers,
    new Map(mask.names().map((name) => [name, replaced.get(name) ?? mask.bitsOf(name)])),
  );
}

/** Prunes `mask` to `options.sparsity` by `scores` (smallest first) in the given scope. */
export function prune(mask: Mask, scores: LayerScores, options: PruneOptions): Mask {
  requireSparsity('sparsity', options.sparsity);
  if (!(SCOPES as readonly string[]).includes(options.scope)) {
    throw new InvalidArgumentError('scope', `one of ${SCOPES.join(', ')}`, options.scope);
  }
  const candidates = candidateLayers(mask, options.exclude);
  const total = mask.totalSize;
  const targetKept = total - prunedCount(options.sparsity, total);
  const keptNow = mask.totalKept;
  if (targetKept > keptNow) {
    throw new InfeasibleError(
      'sparsity',
      `${options.sparsity} is below the mask's current sparsity ${mask.sparsity()}; masks only shrink`,
    );
  }
  const candidateKept = candidates.reduce((s, name) => s + mask.kept(name), 0);
  const fixedKept = keptNow - candidateKept;
  if (targetKept < fixedKept) {
    throw new InfeasibleError(
      'sparsity',
      `${options.sparsity} keeps ${targetKept} weights but the excluded layers alone keep ${fixedKept}`,
    );
  }
  if (options.scope === 'global') {
    const segments = candidates.map((name) => ({
      scores: scoresOf(mask, scores, name),
      alive: mask.bitsOf(name),
    }));
    const kept = selectToPrune(segments, keptNow - targetKept);
    return withLayers(mask, new Map(candidates.map((name, i) => [name, kept[i]!])));
  }
  const shares = apportion(
    candidates.map((name) => mask.size(name)),
    candidates.map((name) => mask.kept(name)),
    targetKept - fixedKept,
  );
  return pruneToKeptCounts(
    mask,
    scores,
    Object.fromEntries(candidates.map((name, i) => [name, shares[i]!])),
  );
}

/**
 * Prunes each named layer to exactly the given kept count, ranking within the layer (used by
 * layerwise scope and by random masks with a layer-density distribution). Layers not named keep
 * their mask.
 */
export function pruneToKeptCounts(
  mask: Mask,
  scores: LayerScores,
  kept: Readonly<Record<string, number>>,
): Mask {
  const replaced = new Map<string, Uint32Array>();
  for (const [name, target] of Object.entries(kept)) {
    if (!mask.has(name)) {
      throw new InvalidArgumentError('kept', `names of layers (${mask.names().join(', ')})`, name);
    }
    const alive = mask.bitsOf(name);
    const aliveCount = popcount(alive);
    requireInteger(`kept.${name}`, target, 0, aliveCount);
    const [bits] = selectToPrune(
      [{ scores: scoresOf(mask, scores, name), alive }],
      aliveCount - target,
    );
    replaced.set(name, bits!);
  }
  return withLayers(mask, replaced);
}
