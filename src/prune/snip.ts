/**
 * SNIP (Lee et al. 2019): |∂L/∂w · w| on one mini-batch, for the masked network at
 * initialisation (training-mode BatchNorm, as the network would be trained). Pruned weights are
 * 0 in the network, so they score 0; they stay pruned whatever their score.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { Mask } from '../core/mask.js';
import type { LayerScores } from '../core/prune.js';
import type { Batch } from '../data/batches.js';
import { disposeStatistics, type Network } from '../engine/network.js';
import { weightOf } from './scores.js';

export function snipScores(network: Network, mask: Mask, batch: Batch): LayerScores {
  const [h, w, c] = network.spec.input;
  const weights = mask.names().map((layer) => weightOf(network, layer));
  // Scores are collected outside the tidy: tidy walks whatever it returns element by element.
  const scores: Record<string, Float32Array> = {};
  tf.tidy(() => {
    const images = tf.tensor4d(batch.images, [batch.size, h, w, c]);
    const oneHot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), network.spec.classes);
    const { grads } = tf.variableGrads(() => {
      const { logits, statistics } = network.forward(images, 'train');
      disposeStatistics(statistics);
      return tf.losses.softmaxCrossEntropy(oneHot, logits);
    }, weights);
    mask.names().forEach((layer, i) => {
      scores[layer] = tf
        .abs(tf.mul(grads[weights[i]!.name]!, weights[i]!))
        .dataSync() as Float32Array;
    });
  });
  return scores;
}
