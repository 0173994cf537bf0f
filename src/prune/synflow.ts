/**
 * SynFlow (Tanaka et al. 2020): make every parameter and BatchNorm statistic positive (|·|),
 * feed one all-ones input, R = Σ outputs, score |w · ∂R/∂w|. The network's own weights are never
 * touched (the positive copies are passed as overrides), so signs are kept by construction.
 *
 * Staying finite in float32: R is a product over layers and overflows on deep networks (each
 * layer multiplies the signal by roughly its fan-in sum of |w|). Each weight layer l is therefore
 * scaled by c_l = 1 / (mean over its outputs of the fan-in sum of |w ⊙ m|). For a network that
 * is linear in each layer's weights once everything is positive — no biases, BatchNorm at its
 * initial statistics, which is where pruning at initialisation scores — scaling one layer by c
 * multiplies R and *every* weight's score by c, so the ranking is unchanged exactly; nothing is
 * clipped. With trained biases or BatchNorm statistics the scaling is an approximation.
 *
 * Iterative SynFlow prunes in `iterations` rounds to densities (1 − s)^{k/K} (the exponential
 * schedule of the SynFlow paper; 100 rounds by default, 1 to match the authors' harness).
 */

import * as tf from '@tensorflow/tfjs-core';
import { requireInteger, requireSparsity } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { prune, type LayerScores } from '../core/prune.js';
import { keptCount } from '../core/selection.js';
import type { Network } from '../engine/network.js';
import { parameters } from '../models/spec.js';

/** The per-layer scale c_l (1 for a layer with nothing left). */
function layerScale(weight: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const outputs = weight.shape.at(-1)!;
    const fanInSum = tf.div(tf.sum(weight), outputs);
    return tf.where(tf.greater(fanInSum, 0), tf.div(1, fanInSum), tf.scalar(1));
  });
}

/** One SynFlow pass on the masked network: scores for every layer of `mask`. */
export function synflowScores(network: Network, mask: Mask): LayerScores {
  const [h, w, c] = network.spec.input;
  const weightNames = parameters(network.spec)
    .filter((p) => p.role === 'weight')
    .map((p) => p.name);
  // Scores are collected outside the tidy: tidy walks whatever it returns element by element.
  const scores: Record<string, Float32Array> = {};
  tf.tidy(() => {
    // Positive, masked, scaled weights: the variables SynFlow differentiates with respect to.
    const positive = weightNames.map((name) => {
      const layer = name.slice(0, -'.weight'.length);
      let value = tf.abs(network.param(name));
      if (mask.has(layer))
        value = tf.mul(value, tf.tensor(Float32Array.from(mask.toArray(layer)), value.shape));
      return tf.mul(value, layerScale(value));
    });
    const others = new Map<string, tf.Tensor>();
    for (const [name, variable] of [...network.params, ...network.buffers]) {
      if (!weightNames.includes(name)) others.set(name, tf.abs(variable));
    }
    const ones = tf.ones<tf.Rank.R4>([1, h, w, c]);
    const gradients = tf.grads((...weights: tf.Tensor[]) => {
      const overrides = new Map(others);
      weightNames.forEach((name, i) => overrides.set(name, weights[i]!));
      return tf.sum(network.forward(ones, 'eval', overrides).logits);
    })(positive);
    weightNames.forEach((name, i) => {
      const layer = name.slice(0, -'.weight'.length);
      if (mask.has(layer))
        scores[layer] = tf.mul(positive[i]!, gradients[i]!).dataSync() as Float32Array;
    });
  });
  return scores;
}

export interface SynflowOptions {
  readonly sparsity: number;
  /** Rounds of scoring and pruning (default 100). */
  readonly iterations?: number;
  readonly exclude?: readonly string[];
}

/** Prunes `mask` to `sparsity` by iterative SynFlow (global scope). */
export function synflowMask(network: Network, mask: Mask, options: SynflowOptions): Mask {
  requireSparsity('sparsity', options.sparsity);
  const rounds = requireInteger('iterations', options.iterations ?? 100, 1);
  let current = mask;
  for (let k = 1; k <= rounds; k++) {
    const sparsity = k === rounds ? options.sparsity : 1 - (1 - options.sparsity) ** (k / rounds);
    if (keptCount(sparsity, current.totalSize) >= current.totalKept) continue;
    current = prune(current, synflowScores(network, current), {
      sparsity,
      scope: 'global',
      ...(options.exclude ? { exclude: options.exclude } : {}),
    });
  }
  return current;
}
