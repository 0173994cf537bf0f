/**
 * Per-layer densities for random masks: how many weights each layer keeps so that the whole
 * network keeps exactly `keptCount(sparsity, N)` (N = all masked weights, dense layers included).
 *
 * Every distribution is "kept_l ∝ w_l, clamped at the layer size, surplus redistributed", with
 * the integer split done by {@link apportion}:
 * - uniform:  w_l = n_l                      (same density everywhere)
 * - ER:       w_l = n_l (c_in + c_out)/(c_in c_out)   (Erdős–Rényi, channels only)
 * - ERK:      w_l = n_l Σ shape / Π shape = Σ shape    (Erdős–Rényi-Kernel)
 * - balanced: w_l = 1                         (same kept count, small layers dense)
 * Layers that are forced dense (by name, or first/last) and layers with an explicit sparsity
 * override are fixed first; the rest share what is left of the budget.
 */

import { apportion } from './apportion.js';
import { InfeasibleError, InvalidArgumentError, requireSparsity } from './errors.js';
import { channels, layerSize, validateLayers, type LayerSpec } from './mask.js';
import { keptCount } from './selection.js';

export const DISTRIBUTIONS = ['uniform', 'er', 'erk', 'balanced'] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];

export interface DensityOptions {
  readonly distribution: Distribution;
  /** Target sparsity over all masked weights, dense and overridden layers included. */
  readonly sparsity: number;
  /** Layers kept fully dense. */
  readonly denseLayers?: readonly string[];
  /** Keep the first layer of the list dense (a common choice for the input conv). */
  readonly denseFirst?: boolean;
  /** Keep the last layer of the list dense (the classifier). */
  readonly denseLast?: boolean;
  /** Per-layer sparsity overrides, counted with the same rule as everything else. */
  readonly overrides?: Readonly<Record<string, number>>;
}

export interface LayerDensity {
  readonly name: string;
  readonly size: number;
  readonly kept: number;
  readonly density: number;
  /** How the count was set: by the distribution, forced dense, or an override. */
  readonly source: 'distribution' | 'dense' | 'override';
}

/** The distribution's proportionality weight w_l for one layer (see the module comment). */
export function distributionWeight(distribution: Distribution, layer: LayerSpec): number {
  const size = layerSize(layer);
  switch (distribution) {
    case 'uniform':
      return size;
    case 'balanced':
      return 1;
    case 'erk':
      return layer.shape.reduce((a, b) => a + b, 0);
    case 'er': {
      const c = channels(layer);
      // ER is defined on channels; for tensors that are neither 2-D nor 4-D it falls back to ERK.
      return c === undefined
        ? layer.shape.reduce((a, b) => a + b, 0)
        : (size * (c.in + c.out)) / (c.in * c.out);
    }
  }
}

/** Integer kept counts per layer; they sum to exactly `keptCount(sparsity, N)`. */
export function layerDensities(
  layers: readonly LayerSpec[],
  options: DensityOptions,
): LayerDensity[] {
  validateLayers(layers);
  if (!(DISTRIBUTIONS as readonly string[]).includes(options.distribution)) {
    throw new InvalidArgumentError(
      'distribution',
      `one of ${DISTRIBUTIONS.join(', ')}`,
      options.distribution,
    );
  }
  requireSparsity('sparsity', options.sparsity);
  const names = new Set(layers.map((l) => l.name));
  const dense = new Set(options.denseLayers ?? []);
  for (const name of dense) {
    if (!names.has(name)) {
      throw new InvalidArgumentError(
        'denseLayers',
        `names of layers (${[...names].join(', ')})`,
        name,
      );
    }
  }
  if (options.denseFirst) dense.add(layers[0]!.name);
  if (options.denseLast) dense.add(layers[layers.length - 1]!.name);
  const overrides = options.overrides ?? {};
  for (const [name, sparsity] of Object.entries(overrides)) {
    if (!names.has(name)) {
      throw new InvalidArgumentError(
        'overrides',
        `names of layers (${[...names].join(', ')})`,
        name,
      );
    }
    if (dense.has(name)) {
      throw new InvalidArgumentError(`overrides.${name}`, 'a layer that is not forced dense', name);
    }
    requireSparsity(`overrides.${name}`, sparsity);
  }

  const total = layers.reduce((s, l) => s + layerSize(l), 0);
  const budget = keptCount(options.sparsity, total);
  const fixed = new Map<string, { kept: number; source: 'dense' | 'override' }>();
  for (const layer of layers) {
    const size = layerSize(layer);
    const override = overrides[layer.name];
    if (dense.has(layer.name)) fixed.set(layer.name, { kept: size, source: 'dense' });
    else if (override !== undefined) {
      fixed.set(layer.name, { kept: keptCount(override, size), source: 'override' });
    }
  }
  const free = layers.filter((l) => !fixed.has(l.name));
  const fixedKept = [...fixed.values()].reduce((s, f) => s + f.kept, 0);
  const freeSize = free.reduce((s, l) => s + layerSize(l), 0);
  const remaining = budget - fixedKept;
  if (remaining < 0 || remaining > freeSize) {
    throw new InfeasibleError(
      'sparsity',
      `${options.sparsity} keeps ${budget} of ${total} weights, but the dense and overridden ` +
        `layers fix ${fixedKept} and the other layers hold ${freeSize}`,
    );
  }
  const shares = apportion(
    free.map((l) => distributionWeight(options.distribution, l)),
    free.map((l) => layerSize(l)),
    remaining,
  );
  const freeKept = new Map(free.map((l, i) => [l.name, shares[i]!]));
  return layers.map((layer) => {
    const size = layerSize(layer);
    const f = fixed.get(layer.name);
    const kept = f?.kept ?? freeKept.get(layer.name)!;
    return {
      name: layer.name,
      size,
      kept,
      density: kept / size,
      source: f?.source ?? 'distribution',
    };
  });
}
