/**
 * Counting rules a pruner may declare. cyclesparse itself counts with `round-half-up` (owned by
 * `core/selection.ts`); the others describe peers, so their pruners can be held to the contract
 * they actually promise: `round-half-even` is Python's `round(s * n)` (torch.nn.utils.prune),
 * `floor` is `int(s * n)` (rigl, distiller, jaxpruner's zeros), `ceil` is open_lth's.
 * Each is evaluated on the float product `s * n`, as those libraries do.
 */

import { prunedCount } from '../core/selection.js';

export const COUNTING_RULES = ['round-half-up', 'round-half-even', 'floor', 'ceil'] as const;
export type CountingRule = (typeof COUNTING_RULES)[number];

/** Weights of `n` that sparsity `s` prunes under `rule`. */
export function prunedCountBy(rule: CountingRule, sparsity: number, n: number): number {
  const product = sparsity * n;
  switch (rule) {
    case 'round-half-up':
      return prunedCount(sparsity, n);
    case 'floor':
      return Math.min(n, Math.floor(product));
    case 'ceil':
      return Math.min(n, Math.ceil(product));
    case 'round-half-even': {
      const floor = Math.floor(product);
      const fraction = product - floor;
      const rounded = fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
      return Math.min(n, rounded);
    }
  }
}
