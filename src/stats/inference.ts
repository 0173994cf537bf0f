/**
 * Estimates and tests for comparing methods across seeds. Descriptive statistics and resampling
 * come from simple-statistics, Student-t quantiles and CDFs from @stdlib (accurate to ~1e-15);
 * nothing here approximates a distribution by hand.
 *
 * - `estimate`: mean, sample sd, n, standard error and the t confidence interval of a mean;
 * - `welch`: difference of means, Welch–Satterthwaite degrees of freedom;
 * - `paired`: mean of per-seed differences (one-sample t), for runs matched by seed;
 * - `bootstrap`: percentile interval of the difference of means from seeded resampling;
 * - `equivalence` (TOST): two one-sided tests that the difference lies inside ±δ;
 * - `holm`: Holm's step-down adjustment of a family of p-values.
 * Every test is one-sided in the direction of its claim ("A − B > margin", or both sides for
 * equivalence) and returns the interval at the matching confidence level (1 − 2α two-sided, so
 * its lower bound is the one-sided bound). Each also returns `pOpposite`, the p-value of the
 * claim's opposite (A − B < margin; for equivalence |A − B| > δ on either side), so that a claim
 * can be shown contradicted as well as shown to hold.
 */

import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import { mean, sampleStandardDeviation, sampleWithReplacement } from 'simple-statistics';
import { InvalidArgumentError, requireNumber } from '../core/errors.js';
import type { RandomStream } from '../core/random.js';

export interface Estimate {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); 0 for one value. */
  readonly sd: number;
  readonly se: number;
  /** Two-sided confidence interval of the mean at `level` (null with fewer than two values). */
  readonly ci: readonly [number, number] | null;
  readonly level: number;
}

function requireValues(argument: string, values: readonly number[], min: number): void {
  if (values.length < min || !values.every(Number.isFinite)) {
    throw new InvalidArgumentError(argument, `at least ${min} finite values`, values);
  }
}

export function estimate(values: readonly number[], level = 0.95): Estimate {
  requireValues('values', values, 1);
  requireNumber('level', level, { min: 0, max: 1, openMin: true, openMax: true });
  const n = values.length;
  const m = mean([...values]);
  const sd = n > 1 ? sampleStandardDeviation([...values]) : 0;
  const se = sd / Math.sqrt(n);
  const ci =
    n > 1
      ? ([
          m - tQuantile(1 - (1 - level) / 2, n - 1) * se,
          m + tQuantile(1 - (1 - level) / 2, n - 1) * se,
        ] as const)
      : null;
  return { n, mean: m, sd, se, ci, level };
}

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function sampleSd(values: readonly number[]): number {
  requireValues('values', values, 1);
  return values.length > 1 ? sampleStandardDeviation([...values]) : 0;
}

/** Result of a one-sided test of `difference > margin` (or of equivalence). */
export interface TestResult {
  readonly test: 'welch' | 'paired' | 'bootstrap' | 'equivalence';
  /** Estimated A − B. */
  readonly difference: number;
  /**
   * Interval for A − B at confidence 1 − 2α, unadjusted for multiplicity (its lower end is the
   * one-sided bound of this test at level α).
   */
  readonly ci: readonly [number, number];
  /** One-sided p-value of the claim (small: the claim holds). */
  readonly p: number;
  /**
   * p-value of the claim's opposite (small: the claim is contradicted): the one-sided test of
   * A − B < margin; for equivalence, |A − B| > δ as a two-sided test (2 × the smaller of the
   * one-sided p-values of A − B > δ and A − B < −δ, so its size is at most α whatever the spread).
   */
  readonly pOpposite: number;
  readonly df: number | null;
}

function welchParts(
  a: readonly number[],
  b: readonly number[],
): { difference: number; se: number; df: number } {
  const ea = estimate(a);
  const eb = estimate(b);
  const va = ea.sd ** 2 / ea.n;
  const vb = eb.sd ** 2 / eb.n;
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / ((va * va) / (ea.n - 1) + (vb * vb) / (eb.n - 1));
  return { difference: ea.mean - eb.mean, se, df };
}

/** One-sided p-value of `t` with `df` degrees of freedom for H1: statistic > 0. */
function upperP(t: number, df: number): number {
  if (Number.isNaN(t)) return 1;
  return 1 - tCdf(t, df);
}

/** One-sided p-value of `t` with `df` degrees of freedom for H1: statistic < 0. */
function lowerP(t: number, df: number): number {
  if (Number.isNaN(t)) return 1;
  return tCdf(t, df);
}

/** Welch's t test of A − B > margin. */
export function welch(
  a: readonly number[],
  b: readonly number[],
  margin = 0,
  alpha = 0.05,
): TestResult {
  requireValues('a', a, 2);
  requireValues('b', b, 2);
  const { difference, se, df } = welchParts(a, b);
  if (se === 0) {
    // No spread: the difference is known exactly, so each side is decided outright.
    const p = difference > margin ? 0 : 1;
    const pOpposite = difference < margin ? 0 : 1;
    return { test: 'welch', difference, ci: [difference, difference], p, pOpposite, df: null };
  }
  const q = tQuantile(1 - alpha, df);
  return {
    test: 'welch',
    difference,
    ci: [difference - q * se, difference + q * se],
    p: upperP((difference - margin) / se, df),
    pOpposite: lowerP((difference - margin) / se, df),
    df,
  };
}

/** Paired t test of mean(A_i − B_i) > margin, for runs matched index by index (by seed). */
export function paired(
  a: readonly number[],
  b: readonly number[],
  margin = 0,
  alpha = 0.05,
): TestResult {
  requireValues('a', a, 2);
  if (b.length !== a.length)
    throw new InvalidArgumentError('b', `${a.length} values, matched to a by seed`, b.length);
  const d = estimate(a.map((v, i) => v - b[i]!));
  if (d.se === 0)
    return {
      test: 'paired',
      difference: d.mean,
      ci: [d.mean, d.mean],
      p: d.mean > margin ? 0 : 1,
      pOpposite: d.mean < margin ? 0 : 1,
      df: null,
    };
  const df = d.n - 1;
  const q = tQuantile(1 - alpha, df);
  return {
    test: 'paired',
    difference: d.mean,
    ci: [d.mean - q * d.se, d.mean + q * d.se],
    p: upperP((d.mean - margin) / d.se, df),
    pOpposite: lowerP((d.mean - margin) / d.se, df),
    df,
  };
}

/**
 * Bootstrap of the difference of means: resample A and B with replacement `resamples` times
 * from `stream`; interval from the α and 1 − α percentiles; p = share of resamples ≤ margin,
 * pOpposite = share ≥ margin (each with the +1 that keeps a resampling p-value above 0).
 */
export function bootstrap(
  a: readonly number[],
  b: readonly number[],
  stream: RandomStream,
  margin = 0,
  alpha = 0.05,
  resamples = 10_000,
): TestResult {
  requireValues('a', a, 2);
  requireValues('b', b, 2);
  const random = () => stream.float();
  const differences = Float64Array.from(
    { length: resamples },
    () =>
      mean(sampleWithReplacement([...a], a.length, random)) -
      mean(sampleWithReplacement([...b], b.length, random)),
  ).sort();
  const at = (q: number) =>
    differences[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))]!;
  const below = differences.filter((d) => d <= margin).length;
  const above = differences.filter((d) => d >= margin).length;
  return {
    test: 'bootstrap',
    difference: mean([...a]) - mean([...b]),
    ci: [at(alpha), at(1 - alpha)],
    p: (below + 1) / (resamples + 1),
    pOpposite: (above + 1) / (resamples + 1),
    df: null,
  };
}

/**
 * TOST: A and B are equivalent within ±delta (Welch, or paired when `pairedBySeed`): p is the
 * larger of the one-sided p-values of A − B > −δ and A − B < δ. Its opposite, |A − B| > δ, is
 * tested two-sided: 2 × the smaller of the one-sided p-values of A − B > δ and A − B < −δ
 * (at δ = 0 this is the ordinary two-sided t test).
 */
export function equivalence(
  a: readonly number[],
  b: readonly number[],
  delta: number,
  alpha = 0.05,
  pairedBySeed = false,
): TestResult {
  requireNumber('delta', delta, { min: 0, max: Number.MAX_VALUE, openMin: true });
  // Each one-sided test also gives its opposite, so two tests give all four p-values.
  const atLower = pairedBySeed ? paired(a, b, -delta, alpha) : welch(a, b, -delta, alpha);
  const atUpper = pairedBySeed ? paired(a, b, delta, alpha) : welch(a, b, delta, alpha);
  return {
    test: 'equivalence',
    difference: atLower.difference,
    ci: atLower.ci,
    // A − B > −δ and A − B < δ
    p: Math.max(atLower.p, atUpper.pOpposite),
    // A − B > δ or A − B < −δ
    pOpposite: Math.min(1, 2 * Math.min(atUpper.p, atLower.pOpposite)),
    df: atLower.df,
  };
}

/** Holm's step-down adjusted p-values (same order as given). */
export function holm(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p || x.i - y.i);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
