/**
 * The pruning contract: what any "prune to sparsity s by scores" implementation must satisfy,
 * stated on plain arrays so that a pruner from any code base (ours, a user's, an adapter around
 * another framework) can be checked. Laws (peers' invariant numbers from research/peers.md §1b):
 * - returns a 0/1 mask over exactly the request's layers and shapes (I4);
 * - masks only shrink: a weight pruned before stays pruned (I5, issue class #10, #22);
 * - excluded layers are left as they were and the global target is still met (I15);
 * - the pruned count is exactly the declared counting rule, globally or per layer, under ties
 *   (I1, I2);
 * - every newly pruned score ≤ every kept score in the same ranking (I3);
 * - ties go to the lowest flat index, when the pruner declares that tie-break;
 * - pruning level after level is monotone and lands on the rule's count at every level (I5);
 * - the same request gives the same mask (I12), and the inputs are not modified (I18).
 */

import fc from 'fast-check';
import type { LayerSpec } from '../core/mask.js';
import { layerSize } from '../core/mask.js';
import type { Scope } from '../core/prune.js';
import {
  layerListArbitrary,
  scoresArbitrary,
  sparsityArbitrary,
  type LayerListConstraints,
} from './arbitraries.js';
import {
  maskValuesViolation,
  prunedIn,
  revivalViolation,
  scoreOrderViolation,
  tieBreakViolation,
  type Violation,
} from './checks.js';
import { prunedCountBy, type CountingRule } from './counting.js';
import { expectThat, law, type Law } from './law.js';

export interface PruneRequest {
  /** Layers in flat-index order (global ties go to the earlier layer). */
  readonly layers: readonly LayerSpec[];
  /** One score per weight, row-major; smaller scores are pruned first. */
  readonly scores: Readonly<Record<string, Float32Array>>;
  /** The current mask, 1 = kept. Pruned weights must stay pruned. */
  readonly mask: Readonly<Record<string, Uint8Array>>;
  /** Target sparsity of all masked weights (global) or of each layer (layerwise). */
  readonly sparsity: number;
  /**
   * When present, prune this fraction of the weights still kept instead (over the non-excluded
   * layers, or in each layer): levels that compound, as torch.nn.utils.prune and open_lth do.
   * Only the level law of a contract with `levels: 'compound'` asks for it.
   */
  readonly fractionOfRemaining?: number;
  readonly scope: Scope;
  /** Layers to leave unchanged. */
  readonly exclude: readonly string[];
}

/** The pruned mask: 0/1 values per layer, row-major. */
export type PrunedMask = Readonly<Record<string, ArrayLike<number>>>;

export type PrunerUnderTest = (request: PruneRequest) => PrunedMask | Promise<PrunedMask>;

export interface PruningContractOptions {
  /** Scopes the pruner supports (default both). */
  readonly scopes?: readonly Scope[];
  /** How many of n weights sparsity s prunes (default cyclesparse's `round-half-up`). */
  readonly countingRule?: CountingRule;
  /** `lowest-flat-index` (default) adds the tie-break law; `unspecified` leaves ties free. */
  readonly tieBreak?: 'lowest-flat-index' | 'unspecified';
  /**
   * How the level law asks for level k: `cumulative` (default) as sparsity 1 − (1 − r)^k;
   * `compound` as `fractionOfRemaining` r, expecting count(r · remaining) more at each level.
   */
  readonly levels?: 'cumulative' | 'compound';
  /** Generate requests with excluded layers (default true). */
  readonly exclusions?: boolean;
  readonly layers?: LayerListConstraints;
}

function cloneRequest(request: PruneRequest): PruneRequest {
  const copy = <T extends Float32Array | Uint8Array>(record: Readonly<Record<string, T>>) =>
    Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v.slice() as T]));
  return {
    layers: request.layers.map((l) => ({ ...l, shape: [...l.shape] })),
    scores: copy(request.scores),
    mask: copy(request.mask),
    sparsity: request.sparsity,
    ...(request.fractionOfRemaining === undefined
      ? {}
      : { fractionOfRemaining: request.fractionOfRemaining }),
    scope: request.scope,
    exclude: [...request.exclude],
  };
}

const pruned = prunedIn;

/**
 * Requests the contract generates: a (partly pruned) mask whose pruned count never exceeds what
 * the target asks for, and exclusions only where the target stays reachable.
 */
export function pruneRequestArbitrary(
  options: PruningContractOptions = {},
): fc.Arbitrary<PruneRequest> {
  const rule = options.countingRule ?? 'round-half-up';
  return fc
    .record({
      layers: layerListArbitrary(options.layers),
      sparsity: sparsityArbitrary(),
      scope: fc.constantFrom(...(options.scopes ?? (['global', 'layerwise'] as const))),
      // Fraction of the target already pruned before the call (0: a dense start).
      prePruned: fc.oneof(
        fc.constant(0),
        fc.constant(1),
        fc.double({ min: 0, max: 1, noNaN: true }),
      ),
    })
    .chain((base) =>
      fc.record({
        base: fc.constant(base),
        scores: fc.tuple(...base.layers.map((l) => scoresArbitrary(layerSize(l)))),
        holes: fc.tuple(
          ...base.layers.map((l) =>
            fc.array(fc.boolean(), { minLength: layerSize(l), maxLength: layerSize(l) }),
          ),
        ),
        excludePicks: fc.array(fc.boolean(), {
          minLength: base.layers.length,
          maxLength: base.layers.length,
        }),
      }),
    )
    .map(({ base, scores, holes, excludePicks }) => {
      const { layers, sparsity, scope, prePruned } = base;
      const sizes = layers.map(layerSize);
      const total = sizes.reduce((a, b) => a + b, 0);
      let globalRoom = scope === 'global' ? prunedCountBy(rule, sparsity, total) : Infinity;
      const masks = layers.map((_, l) => {
        const mask = new Uint8Array(sizes[l]!).fill(1);
        let room = Math.min(
          globalRoom,
          Math.floor(prePruned * prunedCountBy(rule, sparsity, sizes[l]!)),
        );
        holes[l]!.forEach((hole, i) => {
          if (hole && room > 0) {
            mask[i] = 0;
            room--;
            globalRoom--;
          }
        });
        return mask;
      });
      const exclude: string[] = [];
      if (options.exclusions ?? true) {
        const targetKept = total - prunedCountBy(rule, sparsity, total);
        let excludedKept = 0;
        layers.forEach((layer, l) => {
          const kept = sizes[l]! - pruned(masks[l]!);
          if (excludePicks[l] && (scope === 'layerwise' || excludedKept + kept <= targetKept)) {
            exclude.push(layer.name);
            excludedKept += kept;
          }
        });
      }
      return {
        layers,
        scores: Object.fromEntries(layers.map((l, i) => [l.name, scores[i]!])),
        mask: Object.fromEntries(layers.map((l, i) => [l.name, masks[i]!])),
        sparsity,
        scope,
        exclude,
      };
    });
}

/** Fails the law with a violation's message, if there is one. */
function expectNone(violation: Violation | undefined): void {
  expectThat(violation === undefined, () => violation!.message);
}

function checkShape(request: PruneRequest, result: PrunedMask): void {
  expectNone(maskValuesViolation(request.layers, result));
}

async function run(pruner: PrunerUnderTest, request: PruneRequest): Promise<PrunedMask> {
  const result = await pruner(cloneRequest(request));
  checkShape(request, result);
  return result;
}

/** The laws every pruner must satisfy; run each with `checkLaw` or `fc.assert`. */
export function pruningContract(
  pruner: PrunerUnderTest,
  options: PruningContractOptions = {},
): Law[] {
  const rule = options.countingRule ?? 'round-half-up';
  const requests = pruneRequestArbitrary(options);
  const laws: Law[] = [
    law("returns a 0/1 mask over the request's layers and shapes", requests, async (request) => {
      await run(pruner, request);
    }),
    law('never revives a pruned weight (masks only shrink)', requests, async (request) => {
      const result = await run(pruner, request);
      expectNone(revivalViolation(request.layers, request.mask, result));
    }),
    law('leaves excluded layers exactly as they were', requests, async (request) => {
      const result = await run(pruner, request);
      for (const name of request.exclude) {
        const before = request.mask[name]!;
        const after = result[name]!;
        for (let i = 0; i < before.length; i++) {
          expectThat(after[i] === before[i], () => `excluded layer ${name}[${i}] changed`);
        }
      }
    }),
    law(`prunes exactly the ${rule} count, globally or per layer`, requests, async (request) => {
      const result = await run(pruner, request);
      if (request.scope === 'global') {
        const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
        const expected = prunedCountBy(rule, request.sparsity, total);
        const got = request.layers.reduce((s, l) => s + pruned(result[l.name]!), 0);
        expectThat(
          got === expected,
          () =>
            `pruned ${got} of ${total} weights at sparsity ${request.sparsity}, expected ${expected}`,
        );
      } else {
        for (const layer of request.layers) {
          if (request.exclude.includes(layer.name)) continue;
          const size = layerSize(layer);
          const expected = prunedCountBy(rule, request.sparsity, size);
          const got = pruned(result[layer.name]!);
          expectThat(
            got === expected,
            () =>
              `${layer.name}: pruned ${got} of ${size} at sparsity ${request.sparsity}, expected ${expected}`,
          );
        }
      }
    }),
    law('prunes no weight whose score is above a kept one', requests, async (request) => {
      const result = await run(pruner, request);
      expectNone(scoreOrderViolation(request, result));
    }),
    law('is deterministic: the same request gives the same mask', requests, async (request) => {
      const first = await run(pruner, request);
      const second = await run(pruner, request);
      for (const layer of request.layers) {
        const a = first[layer.name]!;
        const b = second[layer.name]!;
        for (let i = 0; i < a.length; i++) {
          expectThat(
            a[i] === b[i],
            () => `${layer.name}[${i}] differs between two identical calls`,
          );
        }
      }
    }),
    law('does not modify the scores or the mask it is given', requests, async (request) => {
      const given = cloneRequest(request);
      await pruner(given);
      for (const layer of request.layers) {
        const name = layer.name;
        for (let i = 0; i < layerSize(layer); i++) {
          expectThat(
            Object.is(given.scores[name]![i], request.scores[name]![i]) &&
              given.mask[name]![i] === request.mask[name]![i],
            () => `input ${name}[${i}] was modified`,
          );
        }
      }
    }),
    law(
      'prunes level after level monotonically, landing on the rule at every level',
      fc.record({
        request: pruneRequestArbitrary({ ...options, exclusions: false }),
        rate: fc.oneof(
          fc.constant(0.2),
          fc.constant(0.5),
          fc.double({ min: 0.05, max: 0.7, noNaN: true }),
        ),
        levels: fc.integer({ min: 1, max: 4 }),
      }),
      async ({ request, rate, levels }) => {
        let mask = Object.fromEntries(
          request.layers.map((l) => [l.name, new Uint8Array(layerSize(l)).fill(1)]),
        );
        const compound = options.levels === 'compound';
        const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
        const prunedNow = () => request.layers.reduce((s, l) => s + pruned(mask[l.name]!), 0);
        for (let level = 1; level <= levels; level++) {
          const sparsity = 1 - (1 - rate) ** level;
          // What each count should be after this level, from the counts before it.
          const expectedIn = (pruneBefore: number, size: number) =>
            compound
              ? pruneBefore + prunedCountBy(rule, rate, size - pruneBefore)
              : prunedCountBy(rule, sparsity, size);
          const expectedTotal = expectedIn(prunedNow(), total);
          const expectedLayer = new Map(
            request.layers.map((l) => [l.name, expectedIn(pruned(mask[l.name]!), layerSize(l))]),
          );
          const next = await run(pruner, {
            ...request,
            mask,
            sparsity,
            ...(compound ? { fractionOfRemaining: rate } : {}),
          });
          const nextMask = Object.fromEntries(
            request.layers.map((l) => [l.name, Uint8Array.from(next[l.name]!)]),
          );
          for (const layer of request.layers) {
            const name = layer.name;
            const size = layerSize(layer);
            for (let i = 0; i < size; i++) {
              expectThat(
                mask[name]![i] === 1 || nextMask[name]![i] === 0,
                () => `level ${level}: ${name}[${i}] came back`,
              );
            }
            if (request.scope === 'layerwise') {
              const expected = expectedLayer.get(name)!;
              expectThat(
                pruned(nextMask[name]!) === expected,
                () =>
                  `level ${level}: ${name} pruned ${pruned(nextMask[name]!)}, expected ${expected}`,
              );
            }
          }
          if (request.scope === 'global') {
            const got = request.layers.reduce((s, l) => s + pruned(nextMask[l.name]!), 0);
            const expected = expectedTotal;
            expectThat(
              got === expected,
              () => `level ${level} (sparsity ${sparsity}): pruned ${got}, expected ${expected}`,
            );
          }
          mask = nextMask;
        }
      },
    ),
  ];
  if ((options.tieBreak ?? 'lowest-flat-index') === 'lowest-flat-index') {
    laws.push(
      law('breaks ties by pruning the lowest flat index first', requests, async (request) => {
        const result = await run(pruner, request);
        expectNone(tieBreakViolation(request, result));
      }),
    );
  }
  return laws;
}
