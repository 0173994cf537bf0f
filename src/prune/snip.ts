/**
 * SNIP (Lee et al. 2019): |∂L/∂w · w| on one mini-batch, for the masked network at
 * initialisation (training-mode BatchNorm, as the network would be trained). Pruned weights are
 * 0 in the network, so they score 0; they stay pruned whatever their score. The engine computes
 * the gradient; the score is computed here, in float32 as an engine would.
 */

import { z } from 'zod';
import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import type { EngineModel, Samples } from '../engine/engine.js';
import { defineScorer, scopeOption } from './scorer.js';
import { scoresFor, weightOf } from './scores.js';

export async function snipScores(
  model: EngineModel,
  mask: Mask,
  batch: Samples,
): Promise<LayerScores> {
  const values = await model.read();
  const { gradients } = await model.gradients({
    input: { kind: 'samples', samples: batch, batchSize: batch.indices.length },
    mode: 'train',
    objective: 'cross-entropy-mean',
    wrt: mask.names().map((layer) => `${layer}.weight`),
  });
  return scoresFor(
    mask,
    (layer) => {
      const w = weightOf(values, layer);
      const g = gradients.get(`${layer}.weight`)!;
      return (i) => Math.abs(Math.fround(g[i]! * w[i]!));
    },
    (layer) => weightOf(values, layer).length,
  );
}

export const snip = defineScorer({
  name: 'snip',
  description: '|∂L/∂w · w| on one training batch',
  stages: ['initialisation', 'trained'],
  options: z.object({ scope: scopeOption }),
  score: ({ model, mask, trainingBatch }) => snipScores(model, mask, trainingBatch()),
});
