/** Magnitude: |w|. Pruning by it changes the function least (METHODS.md claim 6). */

import { z } from 'zod';
import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import { defineScorer, scopeOption } from './scorer.js';
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

export const magnitude = defineScorer({
  name: 'magnitude',
  description: '|w| of the trained weights',
  stages: ['trained'],
  options: z.object({ scope: scopeOption }),
  score: async ({ model, mask }) => magnitudeScores(await model.read(), mask),
});
