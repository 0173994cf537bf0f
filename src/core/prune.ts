/**
 * Pruning a mask by scores, smallest first, in one of two scopes. Both count with the rule of
 * `selection.ts` and select with its tie-break:
 * - global: the network prunes `prunedCount(s, N)` of all N masked weights (excluded layers
 *   included in N), chosen by one ranking over every non-excluded layer (flat index = layer
 *   order, then row-major element);
 * - layerwise: every non-excluded layer prunes `prunedCount(s, n_l)` of its own n_l weights,
 *   ranked inside the layer; the network total is the sum of the layer counts.
 * A target is a sparsity (of the network or of each layer), or — for libraries that compound
 * level after level (`conventions.ts`) — a fraction of the weights still kept: global scope
 * prunes count(f · remaining) over the non-excluded layers, layerwise scope count(f · remaining_l)
 * in each. Counts use the given counting rule (default cyclesparse's).
 * Already-pruned weights stay pruned: they count towards the target and their scores are ignored,
 * so a target below the current sparsity (of the network, or of a layer in layerwise scope) is an
 * error rather than a silent regrowth. Excluded layers keep their current mask; in global scope
 * the other layers make up the whole target.
 */

import {
  InfeasibleError,
  InvalidArgumentError,
  requireInteger,
  requireSparsity,
} from './errors.js';
import { Mask } from './mask.js';
import {
  COUNTING_RULE,
  keptCount,
  prunedCount,
  selectToPrune,
  type CountingRule,
} from './selection.js';

export const SCOPES = ['global', 'layerwise'] as const;
export type Scope = (typeof SCOPES)[number];

/** Scores per layer name, row-major like the weights. */
export type LayerScores = Readonly<Record<string, Float32Array>>;

/**
 * What to prune: a target sparsity in [0, 1) of all masked weights (global) or of each layer
 * (layerwise), or a fraction in [0, 1) of the weights still kept in scope.
 */
export type PruneTarget =
  | { readonly sparsity: number; readonly fractionOfRemaining?: undefined }
  | { readonly fractionOfRemaining: number; readonly sparsity?: undefined };

export type PruneOptions = PruneTarget & {
  readonly scope: Scope;
  /** Layers left as they are (usually dense). */
  readonly exclude?: readonly string[];
  /** How a sparsity of n weights becomes a count (default cyclesparse's round-half-up). */
  readonly counting?: CountingRule;
};

/** Reads a target, refusing both or neither of its forms. */
export function targetOf(target: PruneTarget): { kind: 'sparsity' | 'remaining'; value: number } {
  const sparsity = target.sparsity;
  const fraction = target.fractionOfRemaining;
  if ((sparsity === undefined) === (fraction === undefined))
    throw new InvalidArgumentError(
      'sparsity',
      'either sparsity or fractionOfRemaining (exactly one)',
      target,
    );
  return sparsity !== undefined
    ? { kind: 'sparsity', value: requireSparsity('sparsity', sparsity) }
    : { kind: 'remaining', value: requireSparsity('fractionOfRemaining', fraction!) };
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

/** Prunes `mask` to the target by `scores` (smallest first) in the given scope. */
export function prune(mask: Mask, scores: LayerScores, options: PruneOptions): Mask {
  const target = targetOf(options);
  const rule = options.counting ?? COUNTING_RULE;
  if (!(SCOPES as readonly string[]).includes(options.scope)) {
    throw new InvalidArgumentError('scope', `one of ${SCOPES.join(', ')}`, options.scope);
  }
  const candidates = candidateLayers(mask, options.exclude);
  if (options.scope === 'layerwise') {
    const kept: Record<string, number> = {};
    for (const name of candidates) {
      const alive = mask.kept(name);
      kept[name] =
        target.kind === 'remaining'
          ? alive - prunedCount(target.value, alive, rule)
          : keptCount(target.value, mask.size(name), rule);
      if (kept[name] > alive) {
        throw new InfeasibleError(
          'sparsity',
          `${target.value} is below layer ${name}'s current sparsity ` +
            `${mask.layerSparsity(name)}; masks only shrink`,
        );
      }
    }
    return pruneToKeptCounts(mask, scores, kept);
  }

  const keptNow = mask.totalKept;
  const candidateKept = candidates.reduce((s, name) => s + mask.kept(name), 0);
  const fixedKept = keptNow - candidateKept;
  const targetKept =
    target.kind === 'remaining'
      ? keptNow - prunedCount(target.value, candidateKept, rule)
      : keptCount(target.value, mask.totalSize, rule);
  if (targetKept > keptNow) {
    throw new InfeasibleError(
      'sparsity',
      `${target.value} is below the mask's current sparsity ${mask.sparsity()}; masks only shrink`,
    );
  }
  if (targetKept < fixedKept) {
    throw new InfeasibleError(
      'sparsity',
      `${target.value} keeps ${targetKept} weights but the excluded layers alone keep ${fixedKept}`,
    );
  }
  const segments = candidates.map((name) => ({
    scores: scoresOf(mask, scores, name),
    alive: mask.bitsOf(name),
  }));
  const kept = selectToPrune(segments, keptNow - targetKept);
  return withLayers(mask, new Map(candidates.map((name, i) => [name, kept[i]!])));
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
    const aliveCount = mask.kept(name);
    requireInteger(`kept.${name}`, target, 0, aliveCount);
    const [bits] = selectToPrune(
      [{ scores: scoresOf(mask, scores, name), alive: mask.bitsOf(name) }],
      aliveCount - target,
    );
    replaced.set(name, bits!);
  }
  return withLayers(mask, replaced);
}
