/**
 * Random masks: per-layer kept counts from a layer-density distribution of the core (uniform,
 * ER, ERK, balanced), then inside each layer either exactly that many weights at random (the
 * top-k of uniform random scores; default) or each weight kept with probability equal to the
 * layer's density (Bernoulli: exact only in expectation, as some peers do).
 */

import { z } from 'zod';
import { DISTRIBUTIONS, layerDensities, type DensityOptions } from '../core/densities.js';
import { InvalidArgumentError } from '../core/errors.js';
import { Mask, type LayerSpec } from '../core/mask.js';
import { prune, pruneToKeptCounts, type LayerScores } from '../core/prune.js';
import type { RandomStream } from '../core/random.js';
import { defineScorer, sparsityOf } from './scorer.js';

export const SAMPLINGS = ['exact', 'bernoulli'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

/** Uniform random scores in [0, 1) for every weight of every layer, in layer order. */
export function randomScores(layers: readonly LayerSpec[], stream: RandomStream): LayerScores {
  return Object.fromEntries(
    layers.map((l) => [
      l.name,
      stream.fillUniform(new Float32Array(l.shape.reduce((a, b) => a * b, 1))) as Float32Array,
    ]),
  );
}

export function randomMask(
  layers: readonly LayerSpec[],
  options: DensityOptions & { readonly sampling?: Sampling },
  stream: RandomStream,
): Mask {
  const sampling = options.sampling ?? 'exact';
  if (!(SAMPLINGS as readonly string[]).includes(sampling)) {
    throw new InvalidArgumentError('sampling', `one of ${SAMPLINGS.join(', ')}`, sampling);
  }
  const densities = layerDensities(layers, options);
  if (sampling === 'exact') {
    return pruneToKeptCounts(
      Mask.dense(layers),
      randomScores(layers, stream),
      Object.fromEntries(densities.map((d) => [d.name, d.kept])),
    );
  }
  return Mask.fromArrays(
    layers,
    Object.fromEntries(
      densities.map((d) => [
        d.name,
        Uint8Array.from({ length: d.size }, () => (stream.float() < d.density ? 1 : 0)),
      ]),
    ),
  );
}

/**
 * From a dense network: a mask with the distribution's layer densities. From a pruned one: the
 * kept weights ranked by uniform random scores, all layers together.
 */
export const random = defineScorer({
  name: 'random',
  description: 'uniform random scores; from dense, layer densities from a distribution',
  stages: ['initialisation', 'trained'],
  options: z.object({
    distribution: z.enum(DISTRIBUTIONS).default('erk'),
    sampling: z.enum(SAMPLINGS).default('exact'),
  }),
  conventions: ['layerCounts'],
  score: ({ layers, stream }) => Promise.resolve(randomScores(layers, stream)),
  select: (context, options) =>
    Promise.resolve(
      context.mask.totalKept === context.mask.totalSize
        ? randomMask(
            context.layers,
            {
              distribution: options.distribution,
              sparsity: sparsityOf(context, 'random'),
              sampling: options.sampling,
              counting: context.counting,
              layerCounts: context.layerCounts,
            },
            context.stream,
          )
        : prune(context.mask, randomScores(context.layers, context.stream), {
            ...context.target,
            scope: 'global',
            counting: context.counting,
          }),
    ),
});
