/**
 * `distribution`: per-layer kept counts are proportional to the declared distribution's weights
 * within one weight, and layers declared dense are dense.
 */

import { layerSize } from '../../core/mask.js';
import { proportionalityViolation } from '../../contracts/distribution.js';
import { offenceAt, type Check } from './check.js';

export const distribution: Check<'distribution'> = {
  id: 'distribution',
  title: 'per-layer densities follow the declared distribution',
  needs: () => 'no distribution declared',
  start({ manifest, layers }, tally) {
    const declared = manifest.distribution;
    return {
      visit({ index, masksFile, pruned }) {
        // A level that prunes nothing says nothing about shares.
        if (declared === undefined || pruned.total === 0) return;
        tally.checked++;
        for (const name of manifest.denseLayers) {
          const i = layers.findIndex((l) => l.name === name);
          if (i >= 0 && pruned.perLayer[i]! > 0)
            tally.fail(
              `level ${index}: ${name} is declared dense but has pruned weights`,
              offenceAt(index, undefined, { layer: name }),
            );
        }
        const kept = Object.fromEntries(
          layers.map((l, i) => [l.name, layerSize(l) - pruned.perLayer[i]!]),
        );
        // Tolerance 1: one weight either side of the exact share, whatever the counting rule.
        const skewed = proportionalityViolation(
          { layers, distribution: declared, denseLayers: manifest.denseLayers },
          kept,
          1,
        );
        tally.failOn(skewed, index, masksFile);
      },
      passDetail: () => `${declared} at ${tally.checked} level(s)`,
    };
  },
};
