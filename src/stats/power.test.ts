import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { describe, expect, test } from 'vitest';
import { randomStream, type RandomStream } from '../core/random.js';
import {
  oneSidedPower,
  oneSidedSeeds,
  POWER,
  tostPower,
  tostSeeds,
  type PowerDesign,
} from './power.js';

/*
 * Oracles: R's documented examples of power.t.test (stats package), and a Monte Carlo simulation
 * that draws normal samples from a seeded stream and runs the t tests written out here (sample
 * mean and sd, the Welch–Satterthwaite df of each simulated sample, @stdlib's t quantile) —
 * nothing from power.ts.
 */

describe('power against published values', () => {
  test('R power.t.test(n = 20, delta = 1): two-sample two-sided power 0.8689528', () => {
    // Two-sided at 0.05 is one-sided at 0.025 plus the other tail (≈ 1e-6 here); equal spreads
    // make Welch's df the pooled 2(n − 1) that R uses.
    const power = oneSidedPower({ test: 'welch', sdA: 1, sdB: 1 }, 20, 1, 0.025);
    expect(power).toBeCloseTo(0.8689528, 4);
  });
  test('R power.t.test(power = .90, delta = 1): n = 22.02 per group, so 23 seeds', () => {
    expect(oneSidedSeeds({ test: 'welch', sdA: 1, sdB: 1 }, 1, 0.025, 0.9)).toBe(23);
  });
  test('R power.t.test(n = 10, delta = 1, type = "one.sample", alternative = "one.sided"): 0.8975', () => {
    expect(oneSidedPower({ test: 'one-sample', sd: 1 }, 10, 1, 0.05)).toBeCloseTo(0.8975, 3);
  });
  test('no effect, an effect beyond reach, or a difference outside the margin suggest no seeds', () => {
    expect(oneSidedSeeds({ test: 'one-sample', sd: 1 }, 0, 0.05)).toBeNull();
    expect(oneSidedSeeds({ test: 'one-sample', sd: 1 }, 0.01, 0.05)).toBeNull(); // needs ~62,000
    expect(tostSeeds({ test: 'one-sample', sd: 1 }, 1, 1, 0.05)).toBeNull();
    // No spread: the tests decide a known difference outright, with the fewest seeds a test takes.
    expect(oneSidedSeeds({ test: 'one-sample', sd: 0 }, 0.01, 0.05)).toBe(2);
  });
});

/** Share of `replicates` simulated experiments in which `rejects` rejects. */
function simulate(replicates: number, rejects: (stream: RandomStream) => boolean, name: string) {
  const stream = randomStream(7, `power-test/${name}`);
  let hits = 0;
  for (let r = 0; r < replicates; r++) if (rejects(stream)) hits++;
  return hits / replicates;
}

const sample = (stream: RandomStream, n: number, mu: number, sd: number) =>
  Array.from({ length: n }, () => mu + sd * stream.normal());
const meanOf = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const varianceOf = (x: number[]) => {
  const m = meanOf(x);
  return x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1);
};

/** The estimate A − B, its standard error and df, of one simulated experiment. */
function simulatedEstimate(
  stream: RandomStream,
  design: PowerDesign,
  n: number,
  trueDifference: number,
): { d: number; se: number; df: number } {
  if (design.test === 'one-sample') {
    const x = sample(stream, n, trueDifference, design.sd);
    return { d: meanOf(x), se: Math.sqrt(varianceOf(x) / n), df: n - 1 };
  }
  // B keeps its nB values when the design fixes them (a stored baseline, drawn anew here as
  // any stored baseline could have been).
  const nB = design.nB ?? n;
  const a = sample(stream, n, trueDifference, design.sdA);
  const b = sample(stream, nB, 0, design.sdB);
  const va = varianceOf(a) / n;
  const vb = varianceOf(b) / nB;
  const df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (nB - 1));
  return { d: meanOf(a) - meanOf(b), se: Math.sqrt(va + vb), df };
}

const REPLICATES = 4000;
/** Four Monte Carlo standard errors of a share near `p`. */
const allowance = (p: number) => 4 * Math.sqrt((p * (1 - p)) / REPLICATES);

describe('suggested seeds reach the power in simulation', () => {
  const oneSided: { name: string; design: PowerDesign; effect: number; alpha: number }[] = [
    { name: 'paired', design: { test: 'one-sample', sd: 1 }, effect: 0.5, alpha: 0.05 },
    {
      name: 'one-sample at a Holm-14 level',
      design: { test: 'one-sample', sd: 0.003 },
      effect: 0.002,
      alpha: 0.05 / 14,
    },
    {
      name: 'welch, unequal spreads',
      design: { test: 'welch', sdA: 1, sdB: 2 },
      effect: 1,
      alpha: 0.01,
    },
    {
      name: 'welch against a baseline fixed at 5 values',
      design: { test: 'welch', sdA: 1, sdB: 1, nB: 5 },
      effect: 1.45,
      alpha: 0.05,
    },
  ];
  for (const { name, design, effect, alpha } of oneSided)
    test(`one-sided ${name}: power ≈ ${POWER} at n, below at n − 1`, () => {
      const n = oneSidedSeeds(design, effect, alpha)!;
      expect(n).toBeGreaterThan(10); // a step of one seed changes the power by a few points
      expect(oneSidedPower(design, n - 1, effect, alpha)).toBeLessThan(POWER);
      expect(oneSidedPower(design, n, effect, alpha)).toBeGreaterThanOrEqual(POWER);
      for (const size of [n - 1, n]) {
        const simulated = simulate(
          REPLICATES,
          (stream) => {
            const { d, se, df } = simulatedEstimate(stream, design, size, effect);
            return d / se > tQuantile(1 - alpha, df);
          },
          `${name}/${size}`,
        );
        const computed = oneSidedPower(design, size, effect, alpha);
        expect(Math.abs(simulated - computed), `n = ${size}`).toBeLessThan(allowance(computed));
        if (size === n) expect(Math.abs(simulated - POWER)).toBeLessThan(0.05);
      }
    });

  const tost: {
    name: string;
    design: PowerDesign;
    difference: number;
    margin: number;
    alpha: number;
  }[] = [
    {
      name: 'paired',
      design: { test: 'one-sample', sd: 1 },
      difference: 0.2,
      margin: 0.8,
      alpha: 0.05,
    },
    {
      name: 'welch',
      design: { test: 'welch', sdA: 1, sdB: 1.5 },
      difference: -0.1,
      margin: 1,
      alpha: 0.05 / 14,
    },
    {
      name: 'welch against a baseline fixed at 5 values',
      design: { test: 'welch', sdA: 1, sdB: 0.5, nB: 5 },
      difference: 0.1,
      margin: 1.1,
      alpha: 0.05,
    },
  ];
  for (const { name, design, difference, margin, alpha } of tost)
    test(`TOST ${name}: power ≈ ${POWER} at n, below at n − 1`, () => {
      const n = tostSeeds(design, difference, margin, alpha)!;
      expect(n).toBeGreaterThan(10);
      expect(tostPower(design, n - 1, difference, margin, alpha)).toBeLessThan(POWER);
      expect(tostPower(design, n, difference, margin, alpha)).toBeGreaterThanOrEqual(POWER);
      for (const size of [n - 1, n]) {
        const simulated = simulate(
          REPLICATES,
          (stream) => {
            const { d, se, df } = simulatedEstimate(stream, design, size, difference);
            const q = tQuantile(1 - alpha, df);
            return d - q * se > -margin && d + q * se < margin;
          },
          `tost-${name}/${size}`,
        );
        const computed = tostPower(design, size, difference, margin, alpha);
        expect(Math.abs(simulated - computed), `n = ${size}`).toBeLessThan(allowance(computed));
        if (size === n) expect(Math.abs(simulated - POWER)).toBeLessThan(0.05);
      }
    });
});

describe('a baseline fixed at its stored values', () => {
  test('more seeds of A cannot shrink the baseline’s share of the error: the power levels off below 0.8 and no seeds are suggested, where re-measuring both sides would need 14', () => {
    const fixed: PowerDesign = { test: 'welch', sdA: 1, sdB: 1, nB: 5 };
    expect(oneSidedSeeds(fixed, 1, 0.05)).toBeNull();
    expect(oneSidedSeeds({ test: 'welch', sdA: 1, sdB: 1 }, 1, 0.05)).toBe(14);
    // Simulated with 200 seeds of A against 5 of B: well below 0.8 (about 0.58).
    const simulated = simulate(
      REPLICATES,
      (stream) => {
        const { d, se, df } = simulatedEstimate(stream, fixed, 200, 1);
        return d / se > tQuantile(0.95, df);
      },
      'fixed-plateau',
    );
    expect(simulated).toBeLessThan(0.7);
    expect(Math.abs(simulated - oneSidedPower(fixed, 200, 1, 0.05))).toBeLessThan(
      allowance(simulated),
    );
    // With nB equal to n the design is the one that re-measures both sides.
    expect(oneSidedPower(fixed, 5, 1, 0.05)).toBeCloseTo(
      oneSidedPower({ test: 'welch', sdA: 1, sdB: 1 }, 5, 1, 0.05),
      12,
    );
    expect(() => oneSidedPower({ ...fixed, nB: 1 }, 5, 1, 0.05)).toThrow(/nB/);
  });
});
