import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { layerListArbitrary, scoresArbitrary, sparsityArbitrary } from '../src/contracts/index.js';
import { levelSparsity, levelsToReach, pruningLevels } from '../src/core/density-schedule.js';
import { Mask, layerSize } from '../src/core/mask.js';
import { prune } from '../src/core/prune.js';
import { keptCount } from '../src/core/selection.js';

const rate = fc.oneof(fc.constant(0.2), fc.double({ min: 0.01, max: 0.9, noNaN: true }));

describe('iterative density schedule', () => {
  test.prop([rate, fc.integer({ min: 0, max: 25 }), fc.integer({ min: 1, max: 1e7 })])(
    'level k keeps the rule count of density (1 − p)^k, never more than level k − 1',
    (p, levels, n) => {
      fc.pre(levelSparsity(p, levels) < 1);
      const plan = pruningLevels({ rate: p, levels }, n);
      expect(plan).toHaveLength(levels + 1);
      plan.forEach((level, k) => {
        expect(level.kept).toBe(keptCount(1 - (1 - p) ** k, n));
        expect(level.kept + level.pruned).toBe(n);
        if (k > 0) expect(level.kept).toBeLessThanOrEqual(plan[k - 1]!.kept);
      });
    },
  );

  test.prop([sparsityArbitrary(), rate, fc.integer({ min: 1, max: 1e6 })])(
    'levelsToReach is the first level whose count reaches the target',
    (target, p, n) => {
      const levels = levelsToReach(target, p, n);
      const keptAt = (k: number) => keptCount(Math.min(levelSparsity(p, k), 1 - Number.EPSILON), n);
      expect(keptAt(levels)).toBeLessThanOrEqual(keptCount(target, n));
      if (levels > 0) expect(keptAt(levels - 1)).toBeGreaterThan(keptCount(target, n));
    },
  );

  test.prop([
    layerListArbitrary({ maxLayers: 4, maxLayerSize: 300 }).chain((layers) =>
      fc.tuple(fc.constant(layers), fc.tuple(...layers.map((l) => scoresArbitrary(layerSize(l))))),
    ),
    rate,
    fc.integer({ min: 1, max: 6 }),
  ])(
    'global pruning level after level lands exactly on every planned count',
    ([layers, scores], p, levels) => {
      let mask = Mask.dense(layers);
      const byName = Object.fromEntries(layers.map((l, i) => [l.name, scores[i]!]));
      const plan = pruningLevels({ rate: p, levels }, mask.totalSize);
      fc.pre(plan.every((level) => level.sparsity < 1));
      for (const level of plan.slice(1)) {
        const next = prune(mask, byName, { sparsity: level.sparsity, scope: 'global' });
        expect(next.isSubsetOf(mask)).toBe(true);
        expect(next.totalKept).toBe(level.kept);
        mask = next;
      }
    },
  );
});
