/** `stored-zero`: weights are zero (± tolerance) where the mask is 0, in end and start weights. */

import { offenceAt, type Check } from './check.js';

export const storedZero: Check<'stored-zero'> = {
  id: 'stored-zero',
  title: 'pruned weights are stored as zeros',
  needs: (manifest) =>
    manifest.storedZero
      ? 'no weight files given'
      : 'the manifest says pruned weights are not stored as zeros',
  start: ({ manifest, layers }, tally) => ({
    visit({ index, masks, weights, start }) {
      // Orig + mask storage keeps pruned weights: nothing to check.
      if (!manifest.storedZero) return;
      for (const [label, file] of [
        ['end', weights],
        ['start', start],
      ] as const) {
        if (file === undefined) continue;
        tally.checked++;
        for (const layer of layers) {
          const w = file.tensors.get(layer.name)!.values;
          const m = masks[layer.name]!;
          const i = m.findIndex((bit, j) => bit === 0 && Math.abs(w[j]!) > manifest.tolerance);
          if (i >= 0)
            tally.fail(
              `level ${index} (${label} weights): ${layer.name}[${i}] is ${w[i]} but its mask is 0`,
              offenceAt(index, file.file, { layer: layer.name, index: i }),
            );
        }
      }
    },
    passDetail: () => `${tally.checked} weight file(s)`,
  }),
};
