/**
 * SynFlow (Tanaka et al. 2020): make every parameter and BatchNorm statistic positive (|·|),
 * feed one all-ones input, R = Σ outputs, score |w · ∂R/∂w|. The network's own weights are never
 * touched (the positive copies are passed to the engine as stand-ins for one request), so signs
 * are kept by construction.
 *
 * Staying finite in float32: R is a sum over input-output paths of products of weights and
 * overflows on deep networks (1.4e25 for ResNet-20, 5.7e70 for ResNet-56, 5.2e71 for ResNet-50 at
 * initialisation). The engine divides the activation after every top-level node of the model by
 * its mean, a constant for the gradient (`normalize`). Every path from the input to the output
 * passes each such point exactly once, residual blocks included (a block is one top-level node),
 * so R and every score are multiplied by one common factor and the ranking is the unscaled
 * one. (Scaling each layer's weights instead, as an earlier version did, is exact for chains
 * only: a block's body and shortcut are scaled differently.) Checked against the float64
 * definition on residual networks in properties/methods.test.ts.
 *
 * Iterative SynFlow prunes in `iterations` rounds to densities (1 − s)^{k/K} (the exponential
 * schedule of the SynFlow paper; 100 rounds by default, 1 to match the authors' harness),
 * scoring the network masked by the previous round's mask.
 */

import { z } from 'zod';
import { requireInteger, requireSparsity } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { prune, type LayerScores, type Scope } from '../core/prune.js';
import { keptCount, type CountingRule } from '../core/selection.js';
import type { EngineModel } from '../engine/engine.js';
import { parameters } from '../models/spec.js';
import { defineScorer, scopeOption, sparsityOf } from './scorer.js';

/** One SynFlow pass on the masked network: scores for every layer of `mask`. */
export async function synflowScores(model: EngineModel, mask: Mask): Promise<LayerScores> {
  const values = await model.read();
  const weights = parameters(model.spec).filter((p) => p.role === 'weight');
  // Every parameter and BatchNorm statistic as its absolute value, masked weights 0.
  const positive = new Map<string, Float32Array>();
  for (const [name, data] of values) positive.set(name, data.map(Math.abs));
  for (const { name } of weights) {
    const layer = name.slice(0, -'.weight'.length);
    if (!mask.has(layer)) continue;
    const kept = mask.toArray(layer);
    const w = positive.get(name)!;
    for (let i = 0; i < w.length; i++) if (kept[i] === 0) w[i] = 0;
  }
  const { gradients } = await model.gradients({
    input: { kind: 'ones' },
    mode: 'eval',
    objective: 'logit-sum',
    normalize: true,
    values: positive,
    wrt: mask.names().map((layer) => `${layer}.weight`),
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
  /** Every round ranks all weights together (global, default) or each layer on its own. */
  readonly scope?: Scope;
  readonly exclude?: readonly string[];
  /** How each round's sparsity becomes a count (default cyclesparse's round-half-up). */
  readonly counting?: CountingRule;
}

/** Prunes `mask` to `sparsity` by iterative SynFlow. */
export async function synflowMask(
  model: EngineModel,
  mask: Mask,
  options: SynflowOptions,
): Promise<Mask> {
  requireSparsity('sparsity', options.sparsity);
  const rounds = requireInteger('iterations', options.iterations ?? 100, 1);
  const scope = options.scope ?? 'global';
  let current = mask;
  for (let k = 1; k <= rounds; k++) {
    const sparsity = k === rounds ? options.sparsity : 1 - (1 - options.sparsity) ** (k / rounds);
    // A round that prunes nothing is skipped (global counts only: per layer, rounding may differ).
    if (
      scope === 'global' &&
      keptCount(sparsity, current.totalSize, options.counting) >= current.totalKept
    )
      continue;
    current = prune(current, await synflowScores(model, current), {
      sparsity,
      scope,
      ...(options.exclude ? { exclude: options.exclude } : {}),
      ...(options.counting ? { counting: options.counting } : {}),
    });
  }
  return current;
}

export const synflow = defineScorer({
  name: 'synflow',
  description: '|w · ∂R/∂w| of the all-positive network on an all-ones input, in rounds',
  stages: ['initialisation'],
  options: z.object({
    scope: scopeOption,
    /** Rounds (100 by default, as the SynFlow paper; 1 matches the authors' harness). */
    synflowIterations: z.number().int().min(1).default(100),
  }),
  score: ({ model, mask }) => synflowScores(model, mask),
  select: (context, options) =>
    synflowMask(context.model, context.mask, {
      sparsity: sparsityOf(context, 'synflow'),
      iterations: options.synflowIterations,
      scope: options.scope,
      counting: context.counting,
    }),
});
