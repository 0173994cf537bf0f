/** Magnitude: |w|. Pruning by it changes the function least (METHODS.md claim 6). */

import * as tf from '@tensorflow/tfjs-core';
import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import type { Network } from '../engine/network.js';
import { scoresFor, weightOf } from './scores.js';

export function magnitudeScores(network: Network, mask: Mask): LayerScores {
  return scoresFor(mask, (layer) => tf.abs(weightOf(network, layer)));
}
