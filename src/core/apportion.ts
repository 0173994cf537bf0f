/**
 * Integer apportionment: split `total` kept weights among layers in proportion to per-layer
 * weights, with each layer capped at its size. Used by every layer-density distribution
 * (uniform, ER, ERK, balanced) and by layerwise pruning.
 *
 * Rule: Webster / Sainte-Laguë with caps. Layer l's (j+1)-th kept weight has priority
 * `w_l / (j + ½)` for j < cap_l; the allocation for `total` is the `total` highest priorities,
 * ties going to the lower layer index. Equivalently kept_l = min(cap_l, round(λ·w_l)) for a
 * common λ, which is "density ∝ weight, clamp at 1, redistribute the surplus" done exactly in
 * integers.
 *
 * Why Webster rather than "floor, then largest remainders": largest remainders suffers the
 * Alabama paradox (lowering the total can *raise* one layer's count), which would make iterated
 * layerwise pruning ask a layer to grow back. Webster is house-monotone: the allocation for
 * `total` is contained in the allocation for `total + 1`, by construction (it is a prefix of one
 * fixed priority order).
 */

import { InfeasibleError, InvalidArgumentError, requireInteger } from './errors.js';

function validate(weights: readonly number[], caps: readonly number[], total: number): number {
  if (weights.length !== caps.length) {
    throw new InvalidArgumentError('caps', `${weights.length} caps (one per weight)`, caps.length);
  }
  weights.forEach((w, l) => {
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new InvalidArgumentError(`weights[${l}]`, 'a finite number >= 0', w);
    }
  });
  let capacity = 0;
  caps.forEach((c, l) => {
    capacity += requireInteger(`caps[${l}]`, c, 0);
  });
  requireInteger('total', total, 0);
  if (total > capacity) {
    throw new InfeasibleError('total', `${total} exceeds the sum of caps ${capacity}`);
  }
  return capacity;
}

/** Priority of layer l's (j+1)-th seat; the float value *is* the definition (ties included). */
function priority(weight: number, seat: number): number {
  return weight / (seat + 0.5);
}

/** Number of seats of one layer whose priority is > t (or >= t when `inclusive`). */
function seatsAbove(weight: number, cap: number, t: number, inclusive: boolean): number {
  const beats = (seat: number): boolean =>
    inclusive ? priority(weight, seat) >= t : priority(weight, seat) > t;
  if (cap === 0 || !beats(0)) return 0;
  // Analytic guess from weight/(j+½) > t, then fixed up against the float predicate itself;
  // priorities are non-increasing in the seat index, so the fix-up walks at most a step or two.
  let count = t === 0 ? cap : Math.max(1, Math.min(cap, Math.ceil(weight / t - 0.5)));
  while (count > 1 && !beats(count - 1)) count--;
  while (count < cap && beats(count)) count++;
  return count;
}

const scratch = new Float64Array(1);
const scratchBits = new BigUint64Array(scratch.buffer);
function fromBits(bits: bigint): number {
  scratchBits[0] = bits;
  return scratch[0]!;
}

/**
 * Fast path: exact Webster allocation in O(L · 64) priority evaluations. Finds the priority `v`
 * of the `total`-th seat by bisection over the ordered bit patterns of non-negative doubles, then
 * gives every seat above `v`, and the seats equal to `v` in layer order until `total` is reached.
 */
export function apportion(
  weights: readonly number[],
  caps: readonly number[],
  total: number,
): number[] {
  const capacity = validate(weights, caps, total);
  if (total === capacity) return caps.slice();
  if (total === 0) return caps.map(() => 0);

  const countAbove = (t: number): number => {
    let sum = 0;
    for (let l = 0; l < weights.length; l++) sum += seatsAbove(weights[l]!, caps[l]!, t, false);
    return sum;
  };
  // Smallest t (as a double) with fewer than `total` seats strictly above it: that t is v.
  let lo = 0n; // countAbove may be >= total here
  let hi = 0x7ff0000000000000n; // +Infinity: no seat is above it
  if (countAbove(0) < total) hi = 0n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1n;
    if (countAbove(fromBits(mid)) < total) hi = mid;
    else lo = mid + 1n;
  }
  const v = fromBits(hi);

  const seats = weights.map((w, l) => seatsAbove(w, caps[l]!, v, false));
  let remaining = total - seats.reduce((a, b) => a + b, 0);
  for (let l = 0; l < weights.length && remaining > 0; l++) {
    const tied = seatsAbove(weights[l]!, caps[l]!, v, true) - seats[l]!;
    const take = Math.min(tied, remaining);
    seats[l]! += take;
    remaining -= take;
  }
  return seats;
}

/**
 * Reference path: hand out seats one at a time to the highest priority (lowest layer index on
 * ties). O(total · L) — for differential tests on small totals only.
 */
export function apportionReference(
  weights: readonly number[],
  caps: readonly number[],
  total: number,
): number[] {
  validate(weights, caps, total);
  const seats = weights.map(() => 0);
  for (let given = 0; given < total; given++) {
    let best = -1;
    for (let l = 0; l < weights.length; l++) {
      if (seats[l]! >= caps[l]!) continue;
      if (best < 0 || priority(weights[l]!, seats[l]!) > priority(weights[best]!, seats[best]!)) {
        best = l;
      }
    }
    seats[best]!++;
  }
  return seats;
}
