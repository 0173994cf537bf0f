import { describe, expect, test } from 'vitest';
import { InfeasibleError } from './errors.js';
import { apportion, apportionReference } from './apportion.js';

describe('apportion (Webster with caps)', () => {
  test('splits in proportion, ties to the lower index', () => {
    expect(apportion([1, 1, 1], [10, 10, 10], 7)).toEqual([3, 2, 2]);
    expect(apportion([1, 2], [100, 100], 30)).toEqual([10, 20]);
  });
  test('clamps full layers and redistributes their surplus', () => {
    expect(apportion([1, 1, 1], [1, 10, 10], 11)).toEqual([1, 5, 5]);
    expect(apportion([20, 52, 5], [100, 100, 4], 102)).toEqual([27, 71, 4]);
  });
  test('has no Alabama paradox where largest remainders does', () => {
    // Largest remainders gives [4, 4, 2] for 10 seats and [5, 5, 1] for 11: the third layer
    // loses a seat as the total grows. Webster's allocation for 11 contains the one for 10.
    const weights = [6, 6, 2];
    expect(apportion(weights, [14, 14, 14], 10)).toEqual([5, 4, 1]);
    expect(apportion(weights, [14, 14, 14], 11)).toEqual([5, 5, 1]);
    for (let total = 0; total < 14; total++) {
      const now = apportion(weights, [14, 14, 14], total);
      const next = apportion(weights, [14, 14, 14], total + 1);
      expect(next.every((s, i) => s >= now[i]!)).toBe(true);
    }
  });
  test('agrees with the one-seat-at-a-time reference on extreme weights', () => {
    const weights = [1e-300, 1e300, 0, 3, 3];
    const caps = [5, 2, 5, 7, 7];
    for (let total = 0; total <= 26; total++) {
      expect(apportion(weights, caps, total)).toEqual(apportionReference(weights, caps, total));
    }
  });
  test('names bad arguments', () => {
    expect(() => apportion([1, 2], [1], 1)).toThrow(
      /^caps: expected 2 caps \(one per weight\), got 1/,
    );
    expect(() => apportion([1, Number.NaN], [1, 1], 1)).toThrow(
      /^weights\[1\]: expected a finite number >= 0/,
    );
    expect(() => apportion([1, 1], [1, -1], 0)).toThrow(/^caps\[1\]: expected an integer >= 0/);
    expect(() => apportion([1, 1], [1, 1], 3)).toThrow(InfeasibleError);
  });
});
