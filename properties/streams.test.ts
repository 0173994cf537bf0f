import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { STREAM_NAMES, randomStream } from '../src/core/random.js';

const seed = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat());
const name = fc.oneof(fc.constantFrom(...STREAM_NAMES), fc.string({ minLength: 1, maxLength: 12 }));
const draw = (s: number, n: string, count = 8) => {
  const stream = randomStream(s, n);
  return Array.from({ length: count }, () => stream.nextUint32());
};

describe('seeded streams', () => {
  test.prop([seed, name])('the same seed and name give the same sequence', (s, n) => {
    expect(draw(s, n)).toEqual(draw(s, n));
  });
  test.prop([seed, name, name])('different stream names give different sequences', (s, a, b) => {
    fc.pre(a !== b);
    expect(draw(s, a)).not.toEqual(draw(s, b));
  });
  test.prop([seed, seed, name])('different seeds give different sequences', (a, b, n) => {
    fc.pre(a !== b);
    expect(draw(a, n)).not.toEqual(draw(b, n));
  });
  test.prop([seed, name, fc.integer({ min: 0, max: 300 })])(
    'permutation(n) is a permutation of 0..n-1',
    (s, n, size) => {
      const permutation = Array.from(randomStream(s, n).permutation(size));
      expect(permutation.sort((x, y) => x - y)).toEqual(Array.from({ length: size }, (_, i) => i));
    },
  );
  test.prop([seed, name, fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 })])(
    'int(min, max) stays in range and float() in [0, 1)',
    (s, n, min, span) => {
      const stream = randomStream(s, n);
      for (let i = 0; i < 20; i++) {
        const value = stream.int(min, min + span);
        expect(value).toBeGreaterThanOrEqual(min);
        expect(value).toBeLessThanOrEqual(min + span);
        const f = stream.float();
        expect(f >= 0 && f < 1).toBe(true);
      }
    },
  );
});
