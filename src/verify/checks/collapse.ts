/** `collapse`: no prunable layer has every weight pruned. */

import { layerSize } from '../../core/mask.js';
import { offenceAt, type Check } from './check.js';

export const collapse: Check<'collapse'> = {
  id: 'collapse',
  title: 'no prunable layer is pruned away entirely',
  needs: () => 'no masks',
  start: ({ manifest, layers }, tally) => ({
    visit({ index, masksFile, pruned }) {
      tally.checked++;
      layers.forEach((l, i) => {
        const size = layerSize(l);
        if (pruned.perLayer[i] === size)
          tally.fail(
            `level ${index}: every weight of ${l.name} is pruned (${size} of ${size})`,
            offenceAt(index, masksFile, { layer: l.name }),
          );
      });
    },
    passDetail: () => `${manifest.levels.length} level(s)`,
  }),
};
