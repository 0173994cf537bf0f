/**
 * SynFlow (Tanaka et al. 2020): make every parameter and BatchNorm statistic positive (|·|),
 * feed one all-ones input, R = Σ outputs, score |w · ∂R/∂w|. The network's own weights are never
 * touched (the positive copies are passed to the engine as stand-ins for one request), so signs
 * are kept by construction.
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

import { requireInteger, requireSparsity } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { prune, type LayerScores } from '../core/prune.js';
import { keptCount } from '../core/selection.js';
import type { EngineModel } from '../engine/engine.js';
import { parameters } from '../models/spec.js';

/** |w| ⊙ mask scaled by c_l = 1 / (mean over outputs of the fan-in sum), in float32. */
function positiveScaled(
  weight: Float32Array,
  outputs: number,
  kept: Uint8Array | null,
): Float32Array {
  const positive = new Float32Array(weight.length);
  let sum = 0;
  for (let i = 0; i < weight.length; i++) {
    positive[i] = kept === null || kept[i] === 1 ? Math.abs(weight[i]!) : 0;
    sum += positive[i]!;
  }
  const fanInSum = sum / outputs;
  const scale = fanInSum > 0 ? Math.fround(1 / fanInSum) : 1;
  for (let i = 0; i < positive.length; i++) positive[i] = positive[i]! * scale;
  return positive;
}

/** One SynFlow pass on the masked network: scores for every layer of `mask`. */
export async function synflowScores(model: EngineModel, mask: Mask): Promise<LayerScores> {
  const values = await model.read();
  const weights = parameters(model.spec).filter((p) => p.role === 'weight');
  // Positive, masked, scaled weights (the values SynFlow differentiates with respect to); every
  // other parameter and BatchNorm statistic as its absolute value.
  const positive = new Map<string, Float32Array>();
  for (const [name, data] of values) positive.set(name, data.map(Math.abs));
  for (const { name, shape } of weights) {
    const layer = name.slice(0, -'.weight'.length);
    const kept = mask.has(layer) ? mask.toArray(layer) : null;
    positive.set(name, positiveScaled(values.get(name)!, shape.at(-1)!, kept));
  }
  const { gradients } = await model.gradients({
    input: { kind: 'ones' },
    mode: 'eval',
    objective: 'logit-sum',
    values: positive,
    wrt: weights.map((p) => p.name),
  });
  const scores: Record<string, Float32Array> = {};
  for (const layer of mask.names()) {
    const p = positive.get(`${layer}.weight`)!;
    const g = gradients.get(`${layer}.weight`)!;
    scores[layer] = Float32Array.from(p, (v, i) => v * g[i]!);
  }
  return scores;
}

export interface SynflowOptions {
  readonly sparsity: number;
  /** Rounds of scoring and pruning (default 100). */
  readonly iterations?: number;
  readonly exclude?: readonly string[];
}

/** Prunes `mask` to `sparsity` by iterative SynFlow (global scope). */
export async function synflowMask(
  model: EngineModel,
  mask: Mask,
  options: SynflowOptions,
): Promise<Mask> {
  requireSparsity('sparsity', options.sparsity);
  const rounds = requireInteger('iterations', options.iterations ?? 100, 1);
  let current = mask;
  for (let k = 1; k <= rounds; k++) {
    const sparsity = k === rounds ? options.sparsity : 1 - (1 - options.sparsity) ** (k / rounds);
    if (keptCount(sparsity, current.totalSize) >= current.totalKept) continue;
    current = prune(current, await synflowScores(model, current), {
      sparsity,
      scope: 'global',
      ...(options.exclude ? { exclude: options.exclude } : {}),
    });
  }
  return current;
}
