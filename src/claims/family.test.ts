/**
 * The mini suite's regression family on unchanged code, without training: new seeds' per-seed
 * values are re-sampled from the stored ones in baselines/mini.json, and the whole family is
 * evaluated through evaluateSuite as the gate would. The family-wise false-alarm rate (any
 * regression claim contradicted) must be at most α = 5%; unchanged code must pass at least 90%
 * of gates even when the baseline is re-drawn too (the margins aim at 95%:
 * baselines/mini.claims.yaml); a real shift must be caught.
 *
 * Two re-sampling models:
 * - parametric: each new value ~ N(stored mean, stored sd), the model the t tests assume; it is
 *   the main check because five stored values are too few for their own empirical distribution;
 * - bootstrap: new values drawn with replacement from the five stored ones; no normality, but it
 *   under-states the spread (plug-in variance × 4/5) and often repeats a value, so it is a check
 *   that the verdicts do not depend on the normal model rather than the main one.
 * Claims are simulated independently; the real cells share runs (dense cyclic training gives
 * accuracy, barrier and sharpness), which Holm's guarantee does not need.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { randomStream, type RandomStream } from '../core/random.js';
import { loadMeasuredBaselines } from './baselines.js';
import { evaluateSuite, loadSuite, type Claim, type LoadedSuite } from './claims.js';

const root = join(import.meta.dirname, '../..');
const loaded = loadSuite(join(root, 'baselines/mini.claims.yaml'));
const baseline = loadMeasuredBaselines(join(root, 'baselines/mini.json'));
type Regression = Extract<Claim, { kind: 'within-baseline' }>;
const regressions = loaded.suite.claims.filter(
  (c): c is Regression => c.kind === 'within-baseline' && c.gate,
);
// The regression family alone: the other claims are other families and do not change its Holm
// adjustment, and leaving them out makes each evaluation several times faster.
const family: LoadedSuite = { ...loaded, suite: { ...loaded.suite, claims: regressions } };
const sides = evaluateSuite(family, () => undefined).claims.map((c) => ({
  id: c.id,
  runIds: c.runIds,
  metric: c.metric,
}));
const stored = regressions.map((c) => baseline.cells[c.baseline.key]!.values);

const meanOf = (x: readonly number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const sdOf = (x: readonly number[]) =>
  Math.sqrt(x.reduce((s, v) => s + (v - meanOf(x)) ** 2, 0) / (x.length - 1));

type Model = (stream: RandomStream, values: readonly number[], n: number) => number[];
const parametric: Model = (stream, values, n) =>
  Array.from({ length: n }, () => meanOf(values) + sdOf(values) * stream.normal());
const bootstrapped: Model = (stream, values, n) =>
  Array.from({ length: n }, () => values[stream.int(0, values.length - 1)]!);

/** Outcomes of the family over `replicates` re-sampled gates; `shift` moves one claim's values. */
function simulate(
  model: Model,
  replicates: number,
  name: string,
  shift?: { readonly claim: string; readonly by: number },
  options: {
    readonly suite?: LoadedSuite;
    readonly boundary?: boolean;
    /**
     * Re-sample the baseline's values too (written to a scratch baseline file each gate): the
     * false-alarm rate over the baselines that could have been stored, not only given the one
     * that was. Given the stored one, new values are drawn around its own mean, the most
     * favourable case, and Welch's standard error counts the baseline's spread that then
     * does not vary, so the test is conservative there.
     */
    readonly resampleBaseline?: boolean;
  } = {},
) {
  const scratch = mkdtempSync(join(tmpdir(), 'family-'));
  const base = options.suite ?? family;
  const suite = options.resampleBaseline === true ? { ...base, dir: scratch } : base;
  const stream = randomStream(18, `family-test/${name}`);
  const counts = { falseAlarm: 0, pass: 0, inconclusive: 0, shiftedContradicted: 0 };
  for (let r = 0; r < replicates; r++) {
    if (options.resampleBaseline === true) {
      const cells = { ...baseline.cells };
      regressions.forEach((claim, i) => {
        cells[claim.baseline.key] = {
          ...cells[claim.baseline.key]!,
          values: model(stream, stored[i]!, stored[i]!.length),
        };
      });
      writeFileSync(join(scratch, 'mini.json'), JSON.stringify({ ...baseline, cells }));
    }
    const values = new Map<string, number>();
    sides.forEach((side, i) => {
      // At the boundary every claim's true difference is its margin, alternating in sign: the
      // least favourable case for "contradicted" that unchanged code can be in.
      const margin = regressions[i]!.margin;
      const moved =
        (shift?.claim === side.id ? shift.by : 0) +
        (options.boundary === true ? (i % 2 === 0 ? margin : -margin) : 0);
      model(stream, stored[i]!, side.runIds.length).forEach((v, s) =>
        values.set(`${side.runIds[s]}|${side.metric}`, v + moved),
      );
    });
    const verdict = evaluateSuite(suite, (id, metric) => values.get(`${id}|${metric}`), [], {
      powerAnalysis: false,
    });
    const claims = verdict.claims;
    expect(claims.every((c) => c.family === 'regression')).toBe(true);
    if (claims.some((c) => c.verdict === 'contradicted')) counts.falseAlarm++;
    if (verdict.outcome === 'pass') counts.pass++;
    if (verdict.outcome === 'inconclusive') counts.inconclusive++;
    if (claims.find((c) => c.id === shift?.claim)?.verdict === 'contradicted')
      counts.shiftedContradicted++;
  }
  const rate = (k: number) => k / replicates;
  return {
    falseAlarm: rate(counts.falseAlarm),
    pass: rate(counts.pass),
    inconclusive: rate(counts.inconclusive),
    shiftedContradicted: rate(counts.shiftedContradicted),
  };
}

const REPLICATES = 2000;
/**
 * A rate observed over REPLICATES must sit below 5% by 2.33 binomial standard errors at 5%
 * (0.0114): if the true false-alarm rate were 5%, a pass would have a 1% chance.
 */
const FALSE_ALARM_BOUND = 0.05 - 2.33 * Math.sqrt((0.05 * 0.95) / REPLICATES);
/**
 * The pass rate of unchanged code observed over REPLICATES must exceed 90% by 2.33 binomial
 * standard errors at 90% (0.0156): if the true rate were 90%, meeting the bound would have a 1%
 * chance. The margins were chosen for about 96% (baselines/mini.claims.yaml).
 */
const PASS_BOUND = 0.9 + 2.33 * Math.sqrt((0.9 * 0.1) / REPLICATES);
/**
 * The checks whose rates sit far from their bounds (false alarms 0, passes 99.9%) run fewer
 * gates, with the same 2.33 standard errors of room: false alarms ≤ 0.0339, passes ≥ 0.9221.
 */
const SHORT_REPLICATES = 1000;
const SHORT_FALSE_ALARM_BOUND = 0.05 - 2.33 * Math.sqrt((0.05 * 0.95) / SHORT_REPLICATES);
const SHORT_PASS_BOUND = 0.9 + 2.33 * Math.sqrt((0.9 * 0.1) / SHORT_REPLICATES);
/**
 * Every claim at its margin: 1500 gates (the baseline re-drawn in each makes them the slow ones),
 * false alarms ≤ 0.0369; about 0.02 observed.
 */
const BOUNDARY_REPLICATES = 1500;
const BOUNDARY_FALSE_ALARM_BOUND = 0.05 - 2.33 * Math.sqrt((0.05 * 0.95) / BOUNDARY_REPLICATES);
/** One claim at its margin: 800 gates, passes ≤ 5% + 2.33 binomial standard errors = 0.0680. */
const AT_MARGIN_REPLICATES = 800;
const AT_MARGIN_PASS_BOUND = 0.05 + 2.33 * Math.sqrt((0.05 * 0.95) / AT_MARGIN_REPLICATES);

/** The family with every margin scaled by `factor` (the rounding of the YAML's is kept). */
const withMargins = (factor: number): LoadedSuite => ({
  ...family,
  suite: {
    ...family.suite,
    claims: regressions.map((c) => ({ ...c, margin: c.margin * factor })),
  },
});

describe('the mini regression family on unchanged code', () => {
  test('fourteen gating regression claims, each with its stored per-seed values and seeds', () => {
    expect(regressions).toHaveLength(14);
    expect(stored.every((v) => v.length === 5)).toBe(true);
    // Each (run, metric) belongs to one claim, so the simulated values cannot collide.
    const keys = sides.flatMap((s) => s.runIds.map((id) => `${id}|${s.metric}`));
    expect(new Set(keys).size).toBe(keys.length);
  });

  test(`parametric re-sampling: family-wise false alarms ≤ ${SHORT_FALSE_ALARM_BOUND.toFixed(4)}, passes ≥ ${SHORT_PASS_BOUND.toFixed(4)} over ${SHORT_REPLICATES}`, () => {
    // Given the stored baseline (the favourable case; the re-drawn one below is the harder).
    const rates = simulate(parametric, SHORT_REPLICATES, 'parametric');
    console.log('parametric, no change:', rates);
    expect(rates.falseAlarm).toBeLessThanOrEqual(SHORT_FALSE_ALARM_BOUND);
    expect(rates.pass).toBeGreaterThanOrEqual(SHORT_PASS_BOUND);
  }, 300_000);

  test(`parametric re-sampling of the baseline too: family-wise false alarms ≤ ${FALSE_ALARM_BOUND.toFixed(4)}, passes ≥ ${PASS_BOUND.toFixed(4)} over ${REPLICATES}; with margins at 4/5 of these the passes fall below it`, () => {
    const rates = simulate(parametric, REPLICATES, 'parametric-both', undefined, {
      resampleBaseline: true,
    });
    console.log('parametric, no change, baseline re-sampled too:', rates);
    expect(rates.falseAlarm).toBeLessThanOrEqual(FALSE_ALARM_BOUND);
    // The gate's holds tests are unadjusted (an intersection–union test), so this rate is what
    // the margins buy: the bound is not met by construction.
    expect(rates.pass).toBeGreaterThanOrEqual(PASS_BOUND);
    // Margins of 4 standard errors instead of 5: the same bound fails (63% pass), so it
    // measures the margins rather than passing whatever they are.
    const replicates = 300;
    const narrow = simulate(parametric, replicates, 'parametric-both-narrow', undefined, {
      suite: withMargins(4 / 5),
      resampleBaseline: true,
    });
    console.log('parametric, no change, baseline re-sampled too, margins × 4/5:', narrow);
    expect(narrow.pass).toBeLessThan(PASS_BOUND);
  }, 300_000);

  test(`bootstrap re-sampling: family-wise false alarms ≤ ${SHORT_FALSE_ALARM_BOUND.toFixed(4)} over ${SHORT_REPLICATES}`, () => {
    const rates = simulate(bootstrapped, SHORT_REPLICATES, 'bootstrap');
    console.log('bootstrap, no change:', rates);
    expect(rates.falseAlarm).toBeLessThanOrEqual(SHORT_FALSE_ALARM_BOUND);
  }, 300_000);

  test(`one cell truly at its margin, the others unchanged: the gate passes in ≤ ${AT_MARGIN_PASS_BOUND.toFixed(4)} of ${AT_MARGIN_REPLICATES} gates, with no adjustment of the holds side`, () => {
    // The intersection–union argument: the gate passes only if this cell holds, and its own
    // level-α TOST says holds at the margin with chance at most α. (Holm on the holds side
    // would push this towards α/14; the bound is α itself.) The noisiest cell, baseline
    // re-drawn too.
    const claim = regressions.find((c) => c.id === 'regression-pai-random-90-1-cycle')!;
    const rates = simulate(
      parametric,
      AT_MARGIN_REPLICATES,
      'one-at-margin',
      { claim: claim.id, by: claim.margin },
      { resampleBaseline: true },
    );
    console.log(`parametric, ${claim.id} at +margin, baseline re-sampled too:`, rates);
    expect(rates.pass).toBeLessThanOrEqual(AT_MARGIN_PASS_BOUND);
  }, 300_000);

  test(`every claim exactly at its margin: family-wise false alarms still ≤ ${BOUNDARY_FALSE_ALARM_BOUND.toFixed(4)} over ${BOUNDARY_REPLICATES}; unadjusted they are not`, () => {
    const atBoundary = simulate(parametric, BOUNDARY_REPLICATES, 'boundary', undefined, {
      boundary: true,
      resampleBaseline: true,
    });
    console.log('parametric, every claim at ±margin, Holm:', atBoundary);
    expect(atBoundary.falseAlarm).toBeLessThanOrEqual(BOUNDARY_FALSE_ALARM_BOUND);
    // The same gates without the family's adjustment: each claim alone has a false-alarm rate
    // near α/2, so fourteen of them raise one far more often than α. This is what Holm prevents,
    // and shows that the bound above is not met by the margins alone.
    const unadjusted: LoadedSuite = { ...family, suite: { ...family.suite, correction: 'none' } };
    const replicates = 500;
    const without = simulate(parametric, replicates, 'boundary-none', undefined, {
      suite: unadjusted,
      boundary: true,
      resampleBaseline: true,
    });
    console.log('parametric, every claim at ±margin, no correction:', without);
    expect(without.falseAlarm).toBeGreaterThan(0.1);
  }, 300_000);

  test('a one-point drop of LRR at 50% is caught (contradicted) in most gates', () => {
    const replicates = 400;
    const rates = simulate(parametric, replicates, 'shift-lrr', {
      claim: 'regression-lrr-50',
      by: -0.01,
    });
    console.log('parametric, regression-lrr-50 − 1 point:', rates);
    // At least 80%, with 2.33 binomial standard errors of room at 400 replicates.
    expect(rates.shiftedContradicted).toBeGreaterThanOrEqual(
      0.8 + 2.33 * Math.sqrt((0.8 * 0.2) / replicates),
    );
  }, 300_000);

  test('a one-point drop of the warm-up coupling cell (margin 1.2 points) stops most gates from passing', () => {
    // sd 0.0037 over five seeds, margin 1.2 points: five seeds cannot show a one-point drop
    // contradicted, but mostly cannot show it equivalent either (about 90% of gates stopped).
    const replicates = 400;
    const rates = simulate(parametric, replicates, 'shift-warmup', {
      claim: 'regression-coupling-warmup-90',
      by: -0.01,
    });
    console.log('parametric, regression-coupling-warmup-90 − 1 point:', rates);
    expect(1 - rates.pass).toBeGreaterThanOrEqual(0.8 + 2.33 * Math.sqrt((0.8 * 0.2) / replicates));
  }, 300_000);
});
