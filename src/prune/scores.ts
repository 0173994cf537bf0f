/**
 * What every scorer shares: scores are one Float32Array per prunable layer (smaller is pruned
 * first), and a scorer never chooses counts or ties — `core/prune.ts` does, in the scope the
 * caller asks for.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import type { Network } from '../engine/network.js';

/** The weight tensor of a prunable layer. */
export function weightOf(network: Network, layer: string): tf.Variable {
  return network.param(`${layer}.weight`);
}

/** `values(layer)` for every layer of the mask, as plain arrays (reads tensors back once). */
export function scoresFor(mask: Mask, values: (layer: string) => tf.Tensor): LayerScores {
  const scores: Record<string, Float32Array> = {};
  for (const name of mask.names()) {
    const tensor = tf.tidy(() => values(name));
    scores[name] = tensor.dataSync() as Float32Array;
    tensor.dispose();
  }
  return scores;
}
