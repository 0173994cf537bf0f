import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { checkLaw, cyclesparseDensities, distributionContract } from '../src/contracts/index.js';
import { apportion, apportionReference } from '../src/core/apportion.js';

describe('distributionContract(cyclesparse layerDensities)', () => {
  for (const law of distributionContract(cyclesparseDensities)) test(law.name, () => checkLaw(law));
});

const apportionCase = fc
  .array(
    fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: 50 }), fc.double({ min: 0, max: 1e6, noNaN: true })),
      fc.integer({ min: 0, max: 60 }),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .chain((layers) => {
    const capacity = layers.reduce((s, [, cap]) => s + cap, 0);
    return fc.tuple(fc.constant(layers), fc.integer({ min: 0, max: capacity }));
  });

describe('apportion (bisection) agrees with apportionReference (one seat at a time)', () => {
  test.prop([apportionCase])('on every total, with ties and zero weights', ([layers, total]) => {
    const weights = layers.map(([w]) => w);
    const caps = layers.map(([, c]) => c);
    expect(apportion(weights, caps, total)).toEqual(apportionReference(weights, caps, total));
  });
  test.prop([apportionCase])(
    'is house-monotone: one more seat never takes one away',
    ([layers, total]) => {
      const weights = layers.map(([w]) => w);
      const caps = layers.map(([, c]) => c);
      const capacity = caps.reduce((a, b) => a + b, 0);
      fc.pre(total < capacity);
      const now = apportion(weights, caps, total);
      const next = apportion(weights, caps, total + 1);
      expect(next.every((seats, l) => seats >= now[l]!)).toBe(true);
      expect(next.reduce((a, b) => a + b, 0)).toBe(total + 1);
    },
  );
});
