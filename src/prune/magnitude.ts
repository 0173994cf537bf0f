/** Magnitude: |w|. Pruning by it changes the function least (METHODS.md claim 6). */

import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import { scoresFor, weightOf } from './scores.js';

/** |w| for every layer of `mask`, from a model's values (`EngineModel.read()`). */
export function magnitudeScores(
  values: ReadonlyMap<string, Float32Array>,
  mask: Mask,
): LayerScores {
  return scoresFor(
    mask,
    (layer) => {
      const w = weightOf(values, layer);
      return (i) => Math.abs(w[i]!);
    },
    (layer) => weightOf(values, layer).length,
  );
}
