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
 *
 * With `layerCounts: 'per-layer'` (the convention of rigl and of libraries that prune layer by
 * layer, `conventions.ts`) the split is done in real numbers instead, as rigl's ERK loop does
 * it — density_l = ε·w_l/n_l with ε set by the continuous budget, the layers whose density would
 * pass 1 made dense and ε solved again — and each layer's pruned count is then the counting rule
 * applied to its own sparsity·n_l. The total then misses the exact budget by up to one weight
 * per layer, as it does in those libraries. Uniform without fixed layers is sparsity s in every
 * layer exactly (no ε), as a per-layer pruner would be called.
 */

import { apportion } from './apportion.js';
import { LAYER_COUNT_RULES, type LayerCountRule } from './conventions.js';
import { InfeasibleError, InvalidArgumentError, requireSparsity } from './errors.js';
import { channels, layerSize, validateLayers, type LayerSpec } from './mask.js';
import { COUNTING_RULE, keptCount, type CountingRule } from './selection.js';

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
  /** How a sparsity of n weights becomes a count (default cyclesparse's round-half-up). */
  readonly counting?: CountingRule;
  /** Exact network budget split among layers (default), or each layer counted by itself. */
  readonly layerCounts?: LayerCountRule;
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

/**
 * The distribution's density weight w_l / n_l for one layer, computed as rigl computes its raw
 * probability (Σ shape / Π shape for ERK), so per-layer counts match that library bit for bit.
 */
function rawDensity(distribution: Distribution, layer: LayerSpec): number {
  const size = layerSize(layer);
  const erk = () => layer.shape.reduce((a, b) => a + b, 0) / size;
  switch (distribution) {
    case 'uniform':
      return 1;
    case 'balanced':
      return 1 / size;
    case 'erk':
      return erk();
    case 'er': {
      const c = channels(layer);
      return c === undefined ? erk() : (c.in + c.out) / (c.in * c.out);
    }
  }
}

/**
 * Per-layer sparsities of the free layers in real numbers (rigl's ERK loop): kept_l = ε·w_l
 * where Σ kept_l = N(1 − s) − (what the fixed layers keep beyond their share); a layer whose
 * density would pass 1 becomes dense and ε is solved again. Sums run in layer order with rigl's
 * terms (a dense layer subtracts n·s), so float results match that library's.
 */
function continuousSparsities(
  layers: readonly LayerSpec[],
  fixed: ReadonlyMap<string, { readonly kept: number }>,
  options: DensityOptions,
): Map<string, number> {
  const s = options.sparsity;
  const free = layers.filter((l) => !fixed.has(l.name));
  if (fixed.size === 0 && options.distribution === 'uniform')
    return new Map(free.map((l) => [l.name, s]));
  const dense = new Set<string>();
  for (;;) {
    let rhs = 0;
    let divisor = 0;
    for (const layer of layers) {
      const size = layerSize(layer);
      const kept = fixed.get(layer.name)?.kept;
      if (dense.has(layer.name) || kept === size) rhs -= size * s;
      else if (kept !== undefined) rhs += size * (1 - s) - kept;
      else {
        rhs += size * (1 - s);
        divisor += rawDensity(options.distribution, layer) * size;
      }
    }
    const open = free.filter((l) => !dense.has(l.name));
    const epsilon = divisor > 0 ? rhs / divisor : 0;
    const highest = Math.max(...open.map((l) => rawDensity(options.distribution, l)));
    if (open.length > 0 && highest * epsilon > 1) {
      for (const l of open) if (rawDensity(options.distribution, l) === highest) dense.add(l.name);
      continue;
    }
    return new Map(
      free.map((l) => [
        l.name,
        dense.has(l.name) ? 0 : Math.max(0, 1 - epsilon * rawDensity(options.distribution, l)),
      ]),
    );
  }
}

/**
 * Integer kept counts per layer; they sum to exactly `keptCount(sparsity, N)` (with
 * `layerCounts: 'per-layer'`, each layer is counted by itself instead: see the module comment).
 */
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
  const layerCounts = options.layerCounts ?? 'apportion';
  if (!(LAYER_COUNT_RULES as readonly string[]).includes(layerCounts))
    throw new InvalidArgumentError(
      'layerCounts',
      `one of ${LAYER_COUNT_RULES.join(', ')}`,
      layerCounts,
    );
  const rule = options.counting ?? COUNTING_RULE;
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
  const budget = keptCount(options.sparsity, total, rule);
  const fixed = new Map<string, { kept: number; source: 'dense' | 'override' }>();
  for (const layer of layers) {
    const size = layerSize(layer);
    const override = overrides[layer.name];
    if (dense.has(layer.name)) fixed.set(layer.name, { kept: size, source: 'dense' });
    else if (override !== undefined) {
      fixed.set(layer.name, { kept: keptCount(override, size, rule), source: 'override' });
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
  let freeKept: Map<string, number>;
  if (layerCounts === 'per-layer') {
    const sparsities = continuousSparsities(layers, fixed, options);
    freeKept = new Map(
      free.map((l) => [
        l.name,
        keptCount(Math.min(sparsities.get(l.name)!, 1 - Number.EPSILON), layerSize(l), rule),
      ]),
    );
  } else {
    const shares = apportion(
      free.map((l) => distributionWeight(options.distribution, l)),
      free.map((l) => layerSize(l)),
      remaining,
    );
    freeKept = new Map(free.map((l, i) => [l.name, shares[i]!]));
  }
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
