/**
 * The layer-density contract: what a "how many weights does each layer keep" function must
 * satisfy for random masks (uniform, ER, ERK, balanced). Laws (I11 of research/peers.md):
 * - an integer kept count in [0, n_l] for every layer, and forced-dense layers fully dense;
 * - the counts sum to exactly the network budget N − prunedCount(s, N) (issue class #6);
 * - counts are proportional to the distribution's weights — ERK's Σ shape, balanced's equal
 *   share — within a declared tolerance, and a layer is full only where its share would fill it;
 * - optionally house-monotone: raising the sparsity never raises a layer's count.
 */

import fc from 'fast-check';
import { DISTRIBUTIONS, type Distribution } from '../core/densities.js';
import { layerSize, type LayerSpec } from '../core/mask.js';
import { layerListArbitrary, sparsityArbitrary, type LayerListConstraints } from './arbitraries.js';
import type { Violation } from './checks.js';
import { prunedCountBy, type CountingRule } from './counting.js';
import { expectThat, law, type Law } from './law.js';

export interface DistributionRequest {
  readonly layers: readonly LayerSpec[];
  readonly distribution: Distribution;
  /** Target sparsity over all layers, dense ones included. */
  readonly sparsity: number;
  /** Layers that keep every weight. */
  readonly denseLayers: readonly string[];
}

/** Kept weights per layer name. */
export type KeptCounts = Readonly<Record<string, number>>;

export type DistributionUnderTest = (
  request: DistributionRequest,
) => KeptCounts | Promise<KeptCounts>;

export interface DistributionContractOptions {
  readonly distributions?: readonly Distribution[];
  readonly countingRule?: CountingRule;
  /**
   * How far (in weights) a count may sit from its exact proportional share λ·w_l. 0.5 (default)
   * is exact rounding with one common λ; floor-then-fix-up implementations need 1.
   */
  readonly tolerance?: number;
  /**
   * `apportion` (default): the counts sum to exactly the network budget. `per-layer`: each layer
   * is counted by itself from a real-valued share (rigl, per-layer pruners), so the total may
   * miss the budget by less than one weight per layer and shares hold within one weight.
   */
  readonly layerCounts?: 'apportion' | 'per-layer';
  /** Add the law that raising the sparsity never raises a layer's count (default true). */
  readonly houseMonotone?: boolean;
  readonly layers?: LayerListConstraints;
}

export function distributionRequestArbitrary(
  options: DistributionContractOptions = {},
): fc.Arbitrary<DistributionRequest> {
  const rule = options.countingRule ?? 'round-half-up';
  return fc
    .record({
      layers: layerListArbitrary(options.layers),
      distribution: fc.constantFrom(...(options.distributions ?? DISTRIBUTIONS)),
      sparsity: sparsityArbitrary(),
      densePicks: fc.array(fc.boolean(), { maxLength: 8 }),
    })
    .map(({ layers, distribution, sparsity, densePicks }) => {
      const total = layers.reduce((s, l) => s + layerSize(l), 0);
      let room = total - prunedCountBy(rule, sparsity, total);
      const denseLayers = layers
        .filter((l, i) => {
          if (!densePicks[i] || layerSize(l) > room) return false;
          room -= layerSize(l);
          return true;
        })
        .map((l) => l.name);
      return { layers, distribution, sparsity, denseLayers };
    });
}

function checkCounts(request: DistributionRequest, kept: KeptCounts): void {
  for (const layer of request.layers) {
    const count = kept[layer.name];
    const size = layerSize(layer);
    expectThat(
      typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= size,
      () => `${layer.name}: kept ${String(count)}, expected an integer in [0, ${size}]`,
    );
  }
}

/**
 * What each distribution makes a layer's kept count proportional to, from the definitions in
 * the papers (written here again, not taken from core/densities.ts, so the law checks the core
 * rather than restating it): uniform keeps the same fraction of every layer (∝ size); balanced
 * the same number (∝ 1); ERK (Evci et al.) a density ∝ Σ dims / Π dims, so a count ∝ Σ dims; ER
 * (Mocanu et al.) a density ∝ (in + out) / (in · out) over channels, so a count ∝
 * size · (in + out) / (in · out), and ERK's where a layer has no channels.
 */
function keptShare(distribution: Distribution, layer: LayerSpec): number {
  const dims = layer.shape;
  const size = dims.reduce((a, b) => a * b, 1);
  const sumOfDims = dims.reduce((a, b) => a + b, 0);
  if (distribution === 'uniform') return size;
  if (distribution === 'balanced') return 1;
  if (distribution === 'erk') return sumOfDims;
  const layout = layer.layout ?? (dims.length === 2 ? 'io' : dims.length === 4 ? 'hwio' : 'none');
  const [cin, cout] =
    layout === 'io'
      ? [dims[0]!, dims[1]!]
      : layout === 'oi'
        ? [dims[1]!, dims[0]!]
        : layout === 'hwio'
          ? [dims[2]!, dims[3]!]
          : layout === 'oihw'
            ? [dims[1]!, dims[0]!]
            : [0, 0];
  return cin === 0 ? sumOfDims : (size * (cin + cout)) / (cin * cout);
}

/**
 * Counts proportional to the distribution's weights w_l: one share λ with |kept_l − λ·w_l| ≤
 * `tolerance` for every layer not forced dense, where a full layer only needs λ·w_l ≥ its size.
 * Shared by the contract's law and `cyclesparse verify`.
 */
export function proportionalityViolation(
  request: Pick<DistributionRequest, 'layers' | 'distribution' | 'denseLayers'>,
  kept: KeptCounts,
  tolerance: number,
): Violation | undefined {
  let lower = 0;
  let upper = Infinity;
  let lowerLayer = '';
  let upperLayer = '';
  for (const layer of request.layers) {
    if (request.denseLayers.includes(layer.name)) continue;
    const w = keptShare(request.distribution, layer);
    const count = kept[layer.name]!;
    const lo = (count - tolerance) / w;
    const hi = count === layerSize(layer) ? Infinity : (count + tolerance) / w;
    if (lo > lower) [lower, lowerLayer] = [lo, layer.name];
    if (hi < upper) [upper, upperLayer] = [hi, layer.name];
  }
  if (lower <= upper * (1 + 1e-12)) return undefined;
  return {
    message:
      `no common share λ: ${lowerLayer} needs λ >= ${lower}, ${upperLayer} needs λ <= ${upper} ` +
      `(${request.distribution}, counts ${JSON.stringify(kept)})`,
    layer: lowerLayer,
  };
}

export function distributionContract(
  densities: DistributionUnderTest,
  options: DistributionContractOptions = {},
): Law[] {
  const rule = options.countingRule ?? 'round-half-up';
  const perLayer = options.layerCounts === 'per-layer';
  const tolerance = options.tolerance ?? (perLayer ? 1 : 0.5);
  const requests = distributionRequestArbitrary(options);
  const run = async (request: DistributionRequest): Promise<KeptCounts> => {
    const kept = await densities(request);
    checkCounts(request, kept);
    return kept;
  };
  const laws = [
    law('keeps an integer count in [0, layer size] in every layer', requests, async (request) => {
      await run(request);
    }),
    law(
      perLayer
        ? `misses the ${rule} budget by less than one weight per counted layer`
        : `keeps exactly the ${rule} budget in total`,
      requests,
      async (request) => {
        const kept = await run(request);
        const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
        const expected = total - prunedCountBy(rule, request.sparsity, total);
        const got = request.layers.reduce((s, l) => s + kept[l.name]!, 0);
        const slack = perLayer ? request.layers.length - request.denseLayers.length : 0;
        expectThat(
          Math.abs(got - expected) <= slack,
          () =>
            `kept ${got} of ${total} at sparsity ${request.sparsity}, expected ${expected}` +
            (slack > 0 ? ` ± ${slack}` : ''),
        );
      },
    ),
    law('keeps forced-dense layers fully dense', requests, async (request) => {
      const kept = await run(request);
      for (const name of request.denseLayers) {
        const size = layerSize(request.layers.find((l) => l.name === name)!);
        expectThat(kept[name] === size, () => `dense layer ${name} kept ${kept[name]} of ${size}`);
      }
    }),
    law(
      'keeps counts proportional to the distribution weights, filling a layer only where its share would',
      requests,
      async (request) => {
        const kept = await run(request);
        const violation = proportionalityViolation(request, kept, tolerance);
        expectThat(violation === undefined, () => violation!.message);
      },
    ),
  ];
  if ((options.distributions ?? DISTRIBUTIONS).includes('balanced')) {
    laws.push(
      law(
        'balanced: layers below their size keep counts within one of each other',
        distributionRequestArbitrary({ ...options, distributions: ['balanced'] }),
        async (request) => {
          const kept = await run(request);
          const free = request.layers.filter(
            (l) => !request.denseLayers.includes(l.name) && kept[l.name]! < layerSize(l),
          );
          const counts = free.map((l) => kept[l.name]!);
          expectThat(
            counts.length === 0 || Math.max(...counts) - Math.min(...counts) <= 1,
            () => `unequal balanced counts ${JSON.stringify(kept)}`,
          );
          // A full layer is one whose equal share would not fit: it is no larger than any free count.
          for (const layer of request.layers) {
            if (request.denseLayers.includes(layer.name) || kept[layer.name]! < layerSize(layer))
              continue;
            expectThat(
              counts.every((c) => layerSize(layer) <= c + 1),
              () =>
                `${layer.name} is full at ${layerSize(layer)} while others keep ${Math.min(...counts)}`,
            );
          }
        },
      ),
    );
  }
  if (options.houseMonotone ?? true) {
    laws.push(
      law(
        'never raises a layer count when the sparsity rises',
        fc.tuple(requests, sparsityArbitrary()),
        async ([request, other]) => {
          const higher = { ...request, sparsity: Math.max(request.sparsity, other) };
          const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
          const denseSize = request.layers
            .filter((l) => request.denseLayers.includes(l.name))
            .reduce((s, l) => s + layerSize(l), 0);
          fc.pre(denseSize <= total - prunedCountBy(rule, higher.sparsity, total));
          const a = await run(request);
          const b = await run(higher);
          for (const layer of request.layers) {
            expectThat(
              b[layer.name]! <= a[layer.name]!,
              () =>
                `${layer.name}: ${a[layer.name]} at ${request.sparsity} but ${b[layer.name]} at ${higher.sparsity}`,
            );
          }
        },
      ),
    );
  }
  return laws;
}
