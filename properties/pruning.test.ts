import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  checkLaw,
  cyclesparsePruner,
  layerListArbitrary,
  pruningContract,
  scoresArbitrary,
} from '../src/contracts/index.js';
import { layerSize } from '../src/core/mask.js';
import {
  prunedCount,
  selectToPrune,
  selectToPruneReference,
  type ScoreSegment,
} from '../src/core/selection.js';

describe('pruningContract(cyclesparse prune)', () => {
  for (const law of pruningContract(cyclesparsePruner)) test(law.name, () => checkLaw(law));
});

/** Segments with random alive bits and a k in [0, alive]. */
const selectionCase = layerListArbitrary({ maxLayers: 5, maxLayerSize: 700 }).chain((layers) =>
  fc
    .tuple(
      fc.tuple(...layers.map((l) => scoresArbitrary(layerSize(l)))),
      fc.tuple(
        ...layers.map((l) =>
          fc.array(fc.boolean(), { minLength: layerSize(l), maxLength: layerSize(l) }),
        ),
      ),
      fc.double({ min: 0, max: 1, noNaN: true }),
    )
    .map(([scores, alive, fraction]) => {
      const segments: ScoreSegment[] = scores.map((s, i) => {
        const words = new Uint32Array((s.length + 31) >>> 5);
        alive[i]!.forEach((bit, j) => {
          if (bit) words[j >>> 5] = (words[j >>> 5]! | (1 << (j & 31))) >>> 0;
        });
        return { scores: s, alive: words };
      });
      const total = alive.flat().filter(Boolean).length;
      return { segments, k: Math.floor(fraction * total) };
    }),
);

describe('selectToPrune (fast) agrees with selectToPruneReference (sort)', () => {
  test.prop([selectionCase])('with the default tuning', ({ segments, k }) => {
    expect(selectToPrune(segments, k)).toEqual(selectToPruneReference(segments, k));
  });
  test.prop([selectionCase, fc.integer({ min: 1, max: 600 })])(
    'on the sampled-bracket path, including its fallback',
    ({ segments, k }, sampleSize) => {
      const tuning = { sampleSize, minAlive: 1 };
      expect(selectToPrune(segments, k, tuning)).toEqual(selectToPruneReference(segments, k));
    },
  );
  test.prop([selectionCase])('on the radix path alone', ({ segments, k }) => {
    expect(selectToPrune(segments, k, { sampleSize: 0, minAlive: 1 })).toEqual(
      selectToPruneReference(segments, k),
    );
  });
});

describe('the counting rule', () => {
  test.prop([fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 1e7 })])(
    'prunes the exact rational s·n rounded half up, whatever the float noise of s',
    (percent, n) => {
      // In integers: ⌊p·n/100 + ½⌋ = ⌊(2pn + 100) / 200⌋, no floats involved.
      expect(prunedCount(percent / 100, n)).toBe(Math.floor((2 * percent * n + 100) / 200));
    },
  );
  test.prop([
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    fc.integer({ min: 1, max: 1e7 }),
  ])(
    'lands within half a weight of the target and never decreases with the sparsity',
    (sparsity, n) => {
      const count = prunedCount(sparsity, n);
      expect(Math.abs(count - sparsity * n)).toBeLessThanOrEqual(0.5 + 1e-9 * n);
      expect(prunedCount(Math.min(sparsity + 1e-6, 1 - Number.EPSILON), n)).toBeGreaterThanOrEqual(
        count,
      );
    },
  );
});
