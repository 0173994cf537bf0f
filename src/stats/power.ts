/**
 * Power analysis for the claims' t tests: how many seeds per side would decide a claim with power
 * POWER if the true effect and spread were the ones observed.
 *
 * A one-sided level-α t test with ν degrees of freedom rejects when (d̂ − boundary)/ŝe > q,
 * q = t quantile(1 − α, ν). With d̂ ~ N(Δ, se²) and ŝe = se·U, U = √(V/ν), V ~ χ²_ν independent
 * of d̂, its power is E_U[1 − Φ(q·U − Δ/se)] — the noncentral t distribution, computed here by
 * integrating over U's density (midpoint rule on 600 points over ±12 of U's standard
 * deviations, normalised by the mass integrated; error below 1e-5). Two one-sided tests (TOST) at level α each reject together
 * when d̂ − q·ŝe > −δ and d̂ + q·ŝe < δ: power E_U[Φ((δ − q·se·U − Δ)/se) − Φ((−δ + q·se·U − Δ)/se)]⁺.
 *
 * - one-sample (paired differences, or one side against a constant): se = σ/√n, ν = n − 1 —
 *   exact;
 * - Welch, n per side: se = √((σa² + σb²)/n), ν the Welch–Satterthwaite degrees of freedom at
 *   the planned spreads, ŝe² treated as se²·χ²_ν/ν (Satterthwaite's approximation). With
 *   equal spreads ν = 2(n − 1) and this is the pooled two-sample t test's exact power (checked
 *   against R's power.t.test); with unequal ones it was within 0.01 of the simulated power of
 *   Welch's test at the 50-odd seeds per side of the tests (fewer seeds make it rougher).
 * - Welch with B fixed at nB values (a stored baseline, not measured again): n new values of A,
 *   se = √(σa²/n + σb²/nB), ν = (σa²/n + σb²/nB)² / ((σa²/n)²/(n − 1) + (σb²/nB)²/(nB − 1)), the
 *   same approximation. More seeds of A cannot shrink se below σb/√nB, so the power levels off
 *   and may never reach the target (no suggestion then); ν falls towards nB − 1 as n grows, so
 *   the power need not rise with n and the smallest n is found by trying each in turn.
 *
 * Normal probabilities come from simple-statistics' error function (Numerical Recipes' erfc
 * approximation, relative error below 1.2e-7); t quantiles from @stdlib. The normal CDF is called
 * some 10⁴ times per suggestion, so a t CDF at huge degrees of freedom would be too slow.
 */

import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { errorFunction, gammaln } from 'simple-statistics';
import { InvalidArgumentError, requireNumber } from '../core/errors.js';

/** The power a suggested number of seeds reaches. */
export const POWER = 0.8;
/** More seeds per side than this are not suggested: the claim is reported as undecidable. */
export const SEED_CAP = 1000;

/** The spread a test's power depends on. */
export type PowerDesign =
  | { readonly test: 'one-sample'; readonly sd: number }
  | {
      readonly test: 'welch';
      readonly sdA: number;
      readonly sdB: number;
      /** B's number of values when it stays as it is (a stored baseline); absent: n, as A. */
      readonly nB?: number;
    };

const normalCdf = (x: number): number => 0.5 * (1 + errorFunction(x / Math.SQRT2));

/** Standard error of the estimate and degrees of freedom of its t statistic with n per side. */
function errorAndDf(design: PowerDesign, n: number): { se: number; df: number } {
  if (design.test === 'one-sample') return { se: design.sd / Math.sqrt(n), df: n - 1 };
  if (design.nB !== undefined) {
    const va = design.sdA ** 2 / n;
    const vb = design.sdB ** 2 / design.nB;
    const df =
      va + vb === 0
        ? n + design.nB - 2
        : (va + vb) ** 2 / ((va * va) / (n - 1) + (vb * vb) / (design.nB - 1));
    return { se: Math.sqrt(va + vb), df };
  }
  const va = design.sdA ** 2;
  const vb = design.sdB ** 2;
  const df = va + vb === 0 ? n - 1 : ((va + vb) ** 2 * (n - 1)) / (va * va + vb * vb);
  return { se: Math.sqrt((va + vb) / n), df };
}

/** E[f(U)] for U = √(χ²_ν/ν), by the midpoint rule over U's bulk. */
function expectOverSpread(df: number, f: (u: number) => number): number {
  const spread = 1 / Math.sqrt(2 * df);
  const lo = Math.max(0, 1 - 12 * spread);
  const hi = 1 + 12 * spread + (df < 6 ? 8 : 0); // heavy right tail for few degrees of freedom
  const steps = 600;
  const h = (hi - lo) / steps;
  const logNorm = (df / 2) * Math.log(df / 2) - gammaln(df / 2) + Math.log(2);
  let total = 0;
  let mass = 0;
  for (let k = 0; k < steps; k++) {
    const u = lo + (k + 0.5) * h;
    // density of U: 2ν u f_χ²(ν u²) = 2 (ν/2)^(ν/2) / Γ(ν/2) · u^(ν−1) e^(−ν u²/2)
    const density = Math.exp(logNorm + (df - 1) * Math.log(u) - (df * u * u) / 2);
    total += density * f(u);
    mass += density;
  }
  // Normalising by the mass integrated removes the (tiny) truncation and quadrature error.
  return total / mass;
}

function requireDesign(design: PowerDesign): void {
  const sds = design.test === 'one-sample' ? [design.sd] : [design.sdA, design.sdB];
  for (const sd of sds) requireNumber('sd', sd, { min: 0, max: Number.MAX_VALUE });
  if (design.test === 'welch' && design.nB !== undefined)
    if (!Number.isInteger(design.nB) || design.nB < 2)
      throw new InvalidArgumentError('nB', 'an integer ≥ 2', design.nB);
}

function requireLevel(alpha: number): void {
  requireNumber('alpha', alpha, { min: 0, max: 0.5, openMin: true });
}

/**
 * Power of the one-sided level-`alpha` t test to clear its boundary when the true distance past
 * it is `effect` (> 0), with `n` seeds per side.
 */
export function oneSidedPower(
  design: PowerDesign,
  n: number,
  effect: number,
  alpha: number,
): number {
  requireDesign(design);
  requireLevel(alpha);
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('n', 'an integer ≥ 2', n);
  const { se, df } = errorAndDf(design, n);
  // No spread: the tests in inference.ts decide a known difference outright.
  if (se === 0) return effect > 0 ? 1 : 0;
  const q = tQuantile(1 - alpha, df);
  const shift = effect / se;
  return expectOverSpread(df, (u) => 1 - normalCdf(q * u - shift));
}

/**
 * Power of two one-sided tests at level `alpha` each to show |Δ| < `margin` when the true
 * difference is `difference`, with `n` seeds per side.
 */
export function tostPower(
  design: PowerDesign,
  n: number,
  difference: number,
  margin: number,
  alpha: number,
): number {
  requireDesign(design);
  requireLevel(alpha);
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('n', 'an integer ≥ 2', n);
  requireNumber('margin', margin, { min: 0, max: Number.MAX_VALUE, openMin: true });
  const { se, df } = errorAndDf(design, n);
  if (se === 0) return Math.abs(difference) < margin ? 1 : 0;
  const q = tQuantile(1 - alpha, df);
  return expectOverSpread(df, (u) =>
    Math.max(
      0,
      normalCdf((margin - q * se * u - difference) / se) -
        normalCdf((-margin + q * se * u - difference) / se),
    ),
  );
}

/**
 * The smallest n in [2, cap] with power(n) ≥ target, or null. With both sides planned at n the
 * power is nondecreasing in n and a bisection finds it; with B fixed it need not be (see above),
 * so every n is tried in turn.
 */
function smallestN(
  design: PowerDesign,
  power: (n: number) => number,
  target: number,
  cap: number,
): number | null {
  if (design.test === 'welch' && design.nB !== undefined) {
    for (let n = 2; n <= cap; n++) if (power(n) >= target) return n;
    return null;
  }
  if (power(cap) < target) return null;
  let lo = 2;
  if (power(lo) >= target) return lo;
  let hi = cap; // power(lo) < target ≤ power(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (power(mid) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Seeds per side for a one-sided test at level `alpha` to clear its boundary with power `power`
 * when the true distance past it is `effect`; null when no n up to `cap` would (or effect ≤ 0).
 */
export function oneSidedSeeds(
  design: PowerDesign,
  effect: number,
  alpha: number,
  power = POWER,
  cap = SEED_CAP,
): number | null {
  if (!(effect > 0)) return null;
  return smallestN(design, (n) => oneSidedPower(design, n, effect, alpha), power, cap);
}

/**
 * Seeds per side for TOST at level `alpha` to show |Δ| < `margin` with power `power` when the
 * true difference is `difference`; null when no n up to `cap` would (or |difference| ≥ margin).
 */
export function tostSeeds(
  design: PowerDesign,
  difference: number,
  margin: number,
  alpha: number,
  power = POWER,
  cap = SEED_CAP,
): number | null {
  if (!(Math.abs(difference) < margin)) return null;
  return smallestN(design, (n) => tostPower(design, n, difference, margin, alpha), power, cap);
}
