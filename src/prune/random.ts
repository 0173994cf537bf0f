/**
 * Random masks: per-layer kept counts from a layer-density distribution of the core (uniform,
 * ER, ERK, balanced), then inside each layer either exactly that many weights at random (the
 * top-k of uniform random scores; default) or each weight kept with probability equal to the
 * layer's density (Bernoulli: exact only in expectation, as some peers do).
 */

import { layerDensities, type DensityOptions } from '../core/densities.js';
import { InvalidArgumentError } from '../core/errors.js';
import { Mask, type LayerSpec } from '../core/mask.js';
import { pruneToKeptCounts, type LayerScores } from '../core/prune.js';
import type { RandomStream } from '../core/random.js';

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
