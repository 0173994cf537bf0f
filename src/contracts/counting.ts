/**
 * Counting rules a pruner may declare. cyclesparse itself counts with `round-half-up` after
 * snapping float noise (`core/selection.ts`; written again below, independently, so the
 * contracts can check it); the others describe peers, so their pruners can be held to the
 * contract they actually promise: `round-half-even` is Python's `round(s * n)` (torch.nn.utils.prune),
 * `floor` is `int(s * n)` (rigl, distiller, jaxpruner's zeros), `ceil` is open_lth's. Those are
 * evaluated on the float product `s * n`, as those libraries do.
 */

export const COUNTING_RULES = ['round-half-up', 'round-half-even', 'floor', 'ceil'] as const;
export type CountingRule = (typeof COUNTING_RULES)[number];

/** Weights of `n` that sparsity `s` prunes under `rule`. */
export function prunedCountBy(rule: CountingRule, sparsity: number, n: number): number {
  const product = sparsity * n;
  switch (rule) {
    case 'round-half-up':
      return Math.min(n, roundHalfUpSnapped(product));
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

/**
 * The declared rule (README, "Counting"), written here again rather than imported from
 * `core/selection.ts`, so that the contracts check the core instead of restating it: the float
 * product, snapped onto the nearest half-integer when within 4 ε of it (relative, at least
 * absolute) — 0.29 × 50 is 14.499999999999998 and counts as 14.5 — then halves go up.
 */
export function roundHalfUpSnapped(product: number): number {
  const twice = product * 2;
  const nearestHalf = (twice - Math.floor(twice) < 0.5 ? Math.floor(twice) : Math.ceil(twice)) / 2;
  const x =
    Math.abs(product - nearestHalf) <= 4 * Number.EPSILON * Math.max(1, product)
      ? nearestHalf
      : product;
  const whole = Math.floor(x);
  return x - whole >= 0.5 ? whole + 1 : whole;
}
