/**
 * The statistics behind claims and the gate: intervals cover at their nominal rate, tests hold
 * their level under the null, nothing depends on the order seeds are listed in, and the
 * adjustments and resampling behave as documented.
 */

import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { randomStream } from '../src/core/random.js';
import { bootstrap, equivalence, estimate, holm, paired, welch } from '../src/stats/inference.js';

const normals = (seed: number, name: string, n: number, mu: number, sigma: number) => {
  const stream = randomStream(seed, name);
  return Array.from({ length: n }, () => mu + sigma * stream.normal());
};

describe('calibration (simulated, fixed seeds)', () => {
  test.each([3, 5, 10])(
    'the 95 percent t interval of a mean covers the truth 95 percent of the time (n = %i)',
    (n) => {
      let covered = 0;
      const trials = 4000;
      for (let t = 0; t < trials; t++) {
        const ci = estimate(normals(t, `coverage/${n}`, n, 0.9, 0.02)).ci!;
        if (ci[0] <= 0.9 && 0.9 <= ci[1]) covered++;
      }
      expect(Math.abs(covered / trials - 0.95)).toBeLessThan(0.011); // ±3 binomial sd
    },
  );
  test.each(['welch', 'paired'] as const)(
    '%s rejects a true null at its level α = 0.05',
    (kind) => {
      let rejected = 0;
      const trials = 4000;
      for (let t = 0; t < trials; t++) {
        const a = normals(t, 'null/a', 5, 0.9, 0.02);
        const b = normals(t, 'null/b', 5, 0.9, 0.02);
        if ((kind === 'welch' ? welch(a, b) : paired(a, b)).p < 0.05) rejected++;
      }
      expect(Math.abs(rejected / trials - 0.05)).toBeLessThan(0.011);
    },
  );
  test('TOST rejects non-equivalence at its level when the difference sits on the margin', () => {
    let rejected = 0;
    const trials = 3000;
    for (let t = 0; t < trials; t++) {
      if (
        equivalence(normals(t, 'tost/a', 8, 0.91, 0.02), normals(t, 'tost/b', 8, 0.9, 0.02), 0.01)
          .p < 0.05
      )
        rejected++;
    }
    expect(rejected / trials).toBeLessThan(0.05 + 0.012);
  });
  test.each(['welch', 'paired'] as const)(
    'the opposite of %s (A − B < margin) rejects a true null at its level α = 0.05',
    (kind) => {
      let rejected = 0;
      const trials = 4000;
      for (let t = 0; t < trials; t++) {
        const a = normals(t, 'opposite/a', 5, 0.91, 0.02);
        const b = normals(t, 'opposite/b', 5, 0.9, 0.02);
        // True A − B is 0.01, the margin: the least favourable case for "contradicted".
        const r = kind === 'welch' ? welch(a, b, 0.01) : paired(a, b, 0.01);
        if (r.pOpposite < 0.05) rejected++;
      }
      expect(Math.abs(rejected / trials - 0.05)).toBeLessThan(0.011);
    },
  );
  test.each([
    // δ wide against the spread: only one side can reject, so the two-sided opposite is at α/2.
    { delta: 0.03, sd: 0.005, rate: 0.025 },
    // δ tiny against the spread: both sides can, as in an ordinary two-sided test at α.
    { delta: 1e-6, sd: 0.02, rate: 0.05 },
  ])(
    'the opposite of TOST (|A − B| > δ) rejects at most α when A − B = δ (δ = $delta, sd = $sd)',
    ({ delta, sd, rate }) => {
      let rejected = 0;
      const trials = 4000;
      for (let t = 0; t < trials; t++) {
        const a = normals(t, 'tost-opposite/a', 6, 0.9 + delta, sd);
        const b = normals(t, 'tost-opposite/b', 6, 0.9, sd);
        if (equivalence(a, b, delta).pOpposite < 0.05) rejected++;
      }
      // At most α (Welch's test is a little conservative with equal spreads), and near the
      // rate expected of one or two sides (±4 binomial sd at 4,000 trials: 0.014).
      expect(rejected / trials).toBeLessThan(0.05 + 0.011);
      expect(Math.abs(rejected / trials - rate)).toBeLessThan(0.014);
    },
  );
});

describe('known values', () => {
  test('Welch on (1, 2, 3) vs (4, 5, 6): t = −3.674, df = 4, two-sided p = 0.0213', () => {
    const r = welch([4, 5, 6], [1, 2, 3]);
    expect(r.difference).toBe(3);
    expect(r.df).toBeCloseTo(4, 12);
    expect(2 * r.p).toBeCloseTo(0.0213116, 6); // one-sided p doubled for a two-sided check
    expect(estimate([1, 2, 3]).ci![0]).toBeCloseTo(2 - 4.302652729749464 / Math.sqrt(3), 9); // t(0.975, 2)
  });
  test('the opposite of Welch (1, 2, 3) vs (4, 5, 6) > 6 is the lower tail: p = 0.0213 / 2', () => {
    const r = welch([4, 5, 6], [1, 2, 3], 6); // t = (3 − 6)/√(2/3) = −3.674
    expect(r.pOpposite).toBeCloseTo(0.0213116 / 2, 6);
    expect(r.p + r.pOpposite).toBeCloseTo(1, 12);
    // Equivalence within 6: |3| is 3 inside, so its opposite is far from significant; within 0:
    // the opposite is the two-sided test of A = B.
    expect(equivalence([4, 5, 6], [1, 2, 3], 1e-12).pOpposite).toBeCloseTo(0.0213116, 6);
  });
  test('Holm: p_(k) × (m − k + 1), made monotone, capped at 1', () => {
    expect(holm([0.01, 0.04, 0.03, 0.005])).toEqual([0.03, 0.06, 0.06, 0.02]);
    expect(holm([0.6, 0.9])).toEqual([1, 1]);
  });
  test('bad input is named', () => {
    expect(() => welch([1], [1, 2])).toThrow(/^a: expected at least 2 finite values/);
    expect(() => paired([1, 2, 3], [1, 2])).toThrow(
      /^b: expected 3 values, matched to a by seed, got 2/,
    );
    expect(() => estimate([1, Number.NaN])).toThrow(/^values: expected at least 1 finite values/);
    expect(() => equivalence([1, 2], [1, 2], 0)).toThrow(/^delta:/);
  });
});

const sample = fc.array(fc.double({ min: 0.5, max: 1, noNaN: true }), {
  minLength: 3,
  maxLength: 10,
});

describe('invariances', () => {
  test.prop([sample, sample, fc.infiniteStream(fc.nat()).map((s) => [...s.take(20)])])(
    'no result depends on the order the seeds are listed in',
    (a, b, keys) => {
      const shuffle = <T>(values: readonly T[]) =>
        values
          .map((v, i) => ({ v, k: keys[i % keys.length]! + i / 1000 }))
          .sort((x, y) => x.k - y.k)
          .map((x) => x.v);
      const close = (x: number, y: number) => Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(x));
      expect(close(estimate(shuffle(a)).mean, estimate(a).mean)).toBe(true);
      expect(close(welch(shuffle(a), shuffle(b)).p, welch(a, b).p)).toBe(true);
      expect(close(equivalence(shuffle(a), shuffle(b), 0.01).p, equivalence(a, b, 0.01).p)).toBe(
        true,
      );
      const n = Math.min(a.length, b.length);
      const order = shuffle([...Array(n).keys()]);
      expect(
        close(
          paired(
            order.map((i) => a[i]!),
            order.map((i) => b[i]!),
          ).p,
          paired(a.slice(0, n), b.slice(0, n)).p,
        ),
      ).toBe(true);
    },
  );
  test.prop([
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }),
  ])('Holm never lowers a p-value and keeps their order', (ps) => {
    const adjusted = holm(ps);
    adjusted.forEach((q, i) => {
      expect(q).toBeGreaterThanOrEqual(ps[i]!);
      expect(q).toBeLessThanOrEqual(1);
      ps.forEach((p, j) => {
        if (p < ps[i]!) expect(adjusted[j]).toBeLessThanOrEqual(q);
      });
    });
  });
  test.prop([sample, sample, fc.integer({ min: 0, max: 100 })])(
    'the bootstrap is reproducible from its seed and agrees in direction with the means',
    (a, b, seed) => {
      const first = bootstrap(a, b, randomStream(seed, 'bootstrap'), 0, 0.05, 2000);
      expect(bootstrap(a, b, randomStream(seed, 'bootstrap'), 0, 0.05, 2000)).toEqual(first);
      expect(first.ci[0]).toBeLessThanOrEqual(first.ci[1]);
      const shifted = bootstrap(
        a.map((v) => v + 10),
        b,
        randomStream(seed, 'bootstrap'),
        0,
        0.05,
        2000,
      );
      expect(shifted.p).toBeLessThan(0.001);
    },
  );
});
