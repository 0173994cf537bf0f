/**
 * `counts`: the pruned count at each level is exactly what a counting rule gives for the
 * declared target (`sparsity` of all prunable weights, or `rate` of those still unpruned),
 * globally or in every layer. Narrows the open scopes and rules (claims.ts) as it goes.
 */

import { layerSize } from '../../core/mask.js';
import type { Scope } from '../../core/prune.js';
import { countingRulesMatching } from '../../contracts/checks.js';
import { COUNTING_RULES, prunedCountBy } from '../../contracts/counting.js';
import { offenceAt, type Check } from './check.js';

export const counts: Check<'counts'> = {
  id: 'counts',
  title: 'exact pruned count at every level',
  needs: () => 'no level declares a target sparsity or rate',
  start: ({ manifest, layers, total, claims }, tally) => ({
    visit({ index, entry, masksFile, pruned, before }) {
      const target = entry.sparsity ?? entry.rate;
      if (target === undefined) return;
      tally.checked++;
      const ofRemaining = entry.rate !== undefined;
      const matches = (n: number, prunedNow: number, prunedBefore: number) =>
        ofRemaining
          ? countingRulesMatching(target, n - prunedBefore, prunedNow - prunedBefore)
          : countingRulesMatching(target, n, prunedNow);
      const layerMatches = (i: number) =>
        matches(layerSize(layers[i]!), pruned.perLayer[i]!, before.pruned.perLayer[i]!);
      const globalRules = matches(total, pruned.total, before.pruned.total);
      const layerRules = COUNTING_RULES.filter((rule) =>
        layers.every((_, i) => layerMatches(i).includes(rule)),
      );
      const matchingIn = (scope: Scope) => (scope === 'layerwise' ? layerRules : globalRules);
      if (claims.keepMatching(matchingIn)) return;

      // Off its count: reported against the preferred open scope.
      const [scope, rules] = claims.preferred;
      const matching = matchingIn(scope);
      const asked = `${ofRemaining ? 'rate' : 'sparsity'} ${target}`;
      const offender =
        scope === 'layerwise'
          ? layers.find((_, i) => !rules.some((r) => layerMatches(i).includes(r)))
          : undefined;
      const all = expectedCounts(target, ofRemaining, total, before.pruned.total);
      tally.fail(
        `level ${index}: pruned ${pruned.total} of ${total} weights (${claims.decided ?? 'global or layerwise'}) at ${asked}; ` +
          (manifest.countingRule
            ? `the declared ${manifest.countingRule} does not give this (${all})`
            : `no single counting rule gives every level so far (${all})`) +
          (matching.length > 0 ? `; this level alone matches ${matching.join(', ')}` : '') +
          (offender ? `; first layer off its count: ${offender.name}` : ''),
        offenceAt(index, masksFile, { layer: offender?.name }),
      );
    },
    passDetail: () =>
      `${tally.checked} level(s) match ${claims.rules.join(' / ')}` +
      `${manifest.countingRule ? ' (declared)' : ' (inferred)'}, ` +
      `scope ${claims.decided ?? claims.scopes.join(' or ')}${manifest.scope ? '' : ' (inferred)'}`,
  }),
};

/** What each counting rule would have pruned in total at this level. */
function expectedCounts(
  target: number,
  ofRemaining: boolean,
  total: number,
  before: number,
): string {
  const n = ofRemaining ? total - before : total;
  return COUNTING_RULES.map(
    (rule) => `${rule} ${(ofRemaining ? before : 0) + prunedCountBy(rule, target, n)}`,
  ).join(', ');
}
