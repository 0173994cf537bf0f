/**
 * `score-order`: among the weights alive before a level, no pruned score exceeds a kept score
 * (per layer when layerwise). Says how ties at the threshold went; with `tieBreak:
 * lowest-flat-index` another resolution fails. Where the counts fit both scopes, the score order
 * narrows them (claims.ts).
 */

import type { LayerSpec } from '../../core/mask.js';
import type { Scope } from '../../core/prune.js';
import {
  scoreOrderViolation,
  tieBreakViolation,
  tieResolution,
  type PruningStep,
  type TieResolution,
} from '../../contracts/checks.js';
import type { Tensors } from '../artifact.js';
import type { Manifest } from '../manifest.js';
import type { Check } from './check.js';

/** Methods that prune by weight magnitude: without scores, |previous end weights| are the scores. */
const MAGNITUDE_METHODS = new Set<Manifest['method']>(['imp', 'wr', 'lrr', 'sculpt']);

export const scoreOrder: Check<'score-order'> = {
  id: 'score-order',
  title: 'every pruned score ≤ every kept score',
  needs: () =>
    'no scores given (and none derivable: give scores, or weights with a magnitude method)',
  start({ manifest, layers, claims }, tally) {
    const ties = new Set<TieResolution>();
    let derivedScores = false;
    return {
      visit({ index, masksFile, masks, pruned, scores, before }) {
        // A level that pruned nothing new ranked nothing.
        if (layers.every((_, i) => pruned.perLayer[i] === before.pruned.perLayer[i])) return;
        const ranked =
          scores?.tensors ??
          (MAGNITUDE_METHODS.has(manifest.method) && before.weights
            ? magnitudes(before.weights.tensors, layers)
            : undefined);
        if (ranked === undefined) return;
        tally.checked++;
        derivedScores ||= scores === undefined;
        const stepIn = (scope: Scope): PruningStep => ({
          layers,
          scores: Object.fromEntries(layers.map((l) => [l.name, ranked.get(l.name)!.values])),
          mask: before.masks,
          scope,
          exclude: [],
        });
        // With both scopes still open, the score order decides between them where it can.
        const open = claims.scopes;
        const orderedIn = open.filter(
          (scope) => scoreOrderViolation(stepIn(scope), masks) === undefined,
        );
        claims.keepScopes(orderedIn);
        const step = stepIn(orderedIn[0] ?? open[0]!);
        const misordered = scoreOrderViolation(step, masks);
        if (misordered) {
          tally.failOn(misordered, index, masksFile);
        } else {
          ties.add(tieResolution(step, masks));
          if (manifest.tieBreak === 'lowest-flat-index')
            tally.failOn(tieBreakViolation(step, masks), index, masksFile);
        }
      },
      passDetail: () => {
        const tieText = [...ties].filter((t) => t !== 'no-ties');
        return [
          `${tally.checked} level(s); ties at the threshold: ${tieText.length === 0 ? 'none' : tieText.join(', ')}`,
          ...(derivedScores ? ["scores are |previous level's end weights|"] : []),
        ].join('; ');
      },
    };
  },
};

function magnitudes(weights: Tensors, layers: readonly LayerSpec[]): Tensors {
  return new Map(
    layers.map((l) => {
      const t = weights.get(l.name)!;
      return [l.name, { ...t, values: Float64Array.from(t.values, Math.abs) }];
    }),
  );
}
