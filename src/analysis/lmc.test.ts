import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { barrierOf, linearBarrierOf, type LmcPoint } from './lmc.js';

/** A curve on the grid 0, 1/(n-1), …, 1 with the given test errors (train and losses equal). */
const curveOf = (errors: readonly number[]): LmcPoint[] =>
  errors.map((error, i) => {
    const alpha = i / (errors.length - 1);
    return { alpha, train: { loss: error, error }, test: { loss: error, error } };
  });

describe('the two LMC barrier definitions', () => {
  it('a monotone straight curve: linear barrier 0, mean-of-ends barrier half the difference of the ends', () => {
    const curve = curveOf([0.1, 0.15, 0.2, 0.25, 0.3]);
    expect(linearBarrierOf(curve, 'test').error).toBeCloseTo(0, 12);
    expect(barrierOf(curve, 'test').error).toBeCloseTo(0.1, 12);
  });

  it('a bump in the middle between equal ends reads the same in both definitions', () => {
    const curve = curveOf([0.1, 0.4, 0.1]);
    expect(linearBarrierOf(curve, 'test')).toEqual({
      loss: 0.30000000000000004,
      error: 0.30000000000000004,
      at: 0.5,
    });
    expect(barrierOf(curve, 'test').error).toBeCloseTo(0.3, 12);
  });

  test.prop([
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 12 }),
  ])(
    'linear barrier = the largest height above the chord through the ends (slope–intercept oracle), never below 0',
    (errors) => {
      const curve = curveOf(errors);
      const [y0, y1] = [errors[0]!, errors.at(-1)!];
      const slope = y1 - y0; // the chord over α in [0, 1]
      const heights = curve.map((p) => p.test.error - (y0 + slope * p.alpha));
      const linear = linearBarrierOf(curve, 'test');
      expect(linear.error).toBeCloseTo(Math.max(...heights), 12);
      expect(linear.error).toBeGreaterThanOrEqual(-1e-12);
      // The two definitions differ by at most half the difference of the ends.
      expect(Math.abs(barrierOf(curve, 'test').error - linear.error)).toBeLessThanOrEqual(
        Math.abs(y1 - y0) / 2 + 1e-12,
      );
    },
  );
});
