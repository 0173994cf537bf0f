/**
 * The contracts can fail: each broken implementation below is a bug class users have reported
 * (research/peers.md §2), and the law that names it must reject it — while the rest of the
 * contract, told what the implementation really promises, accepts it. Seeds are fixed so that
 * "the law catches this bug" is checked the same way on every run.
 */

import { describe, expect, test } from 'vitest';
import {
  budgetContract,
  checkLaw,
  cyclesparseDensities,
  cyclesparseSchedule,
  distributionContract,
  prunedCountBy,
  pruningContract,
  scheduleContract,
  type CountingRule,
  type DistributionUnderTest,
  type Law,
  type PruneRequest,
  type PrunerUnderTest,
} from '../src/contracts/index.js';
import { cycleMultiplier, type ScheduleSpec } from '../src/core/lr-schedule.js';
import { layerSize } from '../src/core/mask.js';

const catches = { seed: 20261125, numRuns: 300 };

function lawNamed(laws: readonly Law[], fragment: string): Law {
  const found = laws.filter((l) => l.name.includes(fragment));
  if (found.length !== 1) throw new Error(`${found.length} laws mention "${fragment}", expected 1`);
  return found[0]!;
}

async function expectAllPass(laws: readonly Law[]): Promise<void> {
  for (const l of laws) await checkLaw(l, { seed: catches.seed });
}

/**
 * A plain sort-based pruner with the knobs that peers' pruners differ on.
 * `threshold`: prune every candidate with score <= the k-th smallest (torch.kthvalue style).
 */
function sortPruner(options: {
  rule: CountingRule;
  ties: 'lowest-first' | 'highest-first';
  respectMask: boolean;
  threshold?: boolean;
}): (request: PruneRequest) => Record<string, Uint8Array> {
  return (request) => {
    const out = Object.fromEntries(
      request.layers.map((l) => [l.name, Uint8Array.from(request.mask[l.name]!)]),
    );
    const candidates = request.layers.filter((l) => !request.exclude.includes(l.name));
    const units = request.scope === 'global' ? [candidates] : candidates.map((l) => [l]);
    for (const unit of units) {
      const all: { name: string; i: number; flat: number; score: number }[] = [];
      let flat = 0;
      for (const layer of unit) {
        const mask = request.mask[layer.name]!;
        if (!options.respectMask) out[layer.name]!.fill(1);
        request.scores[layer.name]!.forEach((score, i) => {
          if (mask[i] === 1 || !options.respectMask)
            all.push({ name: layer.name, i, flat: flat + i, score });
        });
        flat += layerSize(layer);
      }
      const size = unit.reduce((s, l) => s + layerSize(l), 0);
      const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
      const target =
        request.scope === 'global'
          ? prunedCountBy(options.rule, request.sparsity, total)
          : prunedCountBy(options.rule, request.sparsity, size);
      const already = request.layers.reduce(
        (s, l) => s + request.mask[l.name]!.filter((v) => v === 0).length,
        0,
      );
      const k =
        request.scope === 'global' && options.respectMask
          ? target - already
          : request.scope === 'global'
            ? target
            : target - (size - all.length);
      all.sort(
        (a, b) =>
          a.score - b.score ||
          (options.ties === 'lowest-first' ? a.flat - b.flat : b.flat - a.flat),
      );
      const chosen =
        options.threshold && k > 0
          ? all.filter((c) => c.score <= all[k - 1]!.score)
          : all.slice(0, Math.max(0, k));
      for (const c of chosen) out[c.name]![c.i] = 0;
    }
    return out;
  };
}

const honest = { rule: 'round-half-up', ties: 'lowest-first', respectMask: true } as const;

describe('pruningContract catches broken pruners', () => {
  test('a correct sort-based pruner passes the whole contract (the baseline for the cases below)', async () => {
    await expectAllPass(pruningContract(sortPruner(honest)));
  });
  test('a threshold pruner (score <= k-th smallest) over-prunes ties', async () => {
    const laws = pruningContract(sortPruner({ ...honest, threshold: true }), {
      scopes: ['global'],
    });
    await expect(checkLaw(lawNamed(laws, 'prunes exactly'), catches)).rejects.toThrow(
      /Property failed[\s\S]*seed/,
    );
  });
  test('a floor-counting pruner breaks round-half-up but keeps the floor contract', async () => {
    const floor = sortPruner({ ...honest, rule: 'floor' });
    await expect(
      checkLaw(lawNamed(pruningContract(floor), 'prunes exactly'), catches),
    ).rejects.toThrow(/expected/);
    await expectAllPass(pruningContract(floor, { countingRule: 'floor' }));
  });
  test('a pruner that re-ranks pruned weights revives them', async () => {
    const laws = pruningContract(sortPruner({ ...honest, respectMask: false }));
    await expect(checkLaw(lawNamed(laws, 'never revives'), catches)).rejects.toThrow(/came back/);
  });
  test('a highest-index-first tie-break breaks the declared tie-break but nothing else', async () => {
    const reversed = sortPruner({ ...honest, ties: 'highest-first' });
    await expect(
      checkLaw(lawNamed(pruningContract(reversed), 'breaks ties'), catches),
    ).rejects.toThrow(/comes later/);
    await expectAllPass(pruningContract(reversed, { tieBreak: 'unspecified' }));
  });
  test('a pruner that writes into its input mask is caught', async () => {
    const mutating: PrunerUnderTest = (request) => {
      const out = sortPruner(honest)(request);
      for (const layer of request.layers) request.mask[layer.name]!.set(out[layer.name]!);
      return out;
    };
    await expect(
      checkLaw(lawNamed(pruningContract(mutating), 'does not modify'), catches),
    ).rejects.toThrow(/modified/);
  });
});

describe('distributionContract catches broken layer densities', () => {
  const uniformBy =
    (round: (x: number) => number, clampOnly: boolean): DistributionUnderTest =>
    (request) => {
      const total = request.layers.reduce((s, l) => s + layerSize(l), 0);
      const density = 1 - request.sparsity;
      return Object.fromEntries(
        request.layers.map((l) => {
          const n = layerSize(l);
          if (request.denseLayers.includes(l.name)) return [l.name, n];
          // ERK-style per-layer density without redistributing what clamped layers give up.
          const share = clampOnly
            ? Math.min(
                1,
                (density * total * l.shape.reduce((a, b) => a + b, 0)) /
                  (n * request.layers.reduce((s, m) => s + m.shape.reduce((a, b) => a + b, 0), 0)),
              )
            : density;
          return [l.name, Math.min(n, round(share * n))];
        }),
      );
    };
  test('per-layer flooring misses the global budget', async () => {
    const laws = distributionContract(uniformBy(Math.floor, false), { distributions: ['uniform'] });
    await expect(checkLaw(lawNamed(laws, 'budget in total'), catches)).rejects.toThrow(/expected/);
  });
  test('ERK that clamps dense layers without redistributing misses the budget', async () => {
    const laws = distributionContract(uniformBy(Math.round, true), { distributions: ['erk'] });
    await expect(checkLaw(lawNamed(laws, 'budget in total'), catches)).rejects.toThrow(/expected/);
  });
});

describe('distributionContract catches a balanced distribution that is not balanced', () => {
  test('uniform densities under the name balanced fail the equal-count law', async () => {
    const mislabelled: DistributionUnderTest = (request) =>
      cyclesparseDensities({ ...request, distribution: 'uniform' });
    const laws = distributionContract(mislabelled, { distributions: ['balanced'] });
    await expect(checkLaw(lawNamed(laws, 'balanced:'), catches)).rejects.toThrow(
      /unequal balanced counts/,
    );
  });
});

describe('scheduleContract and budgetContract catch broken schedules', () => {
  test("TurboPrune's constant splitter (floor per cycle) loses epochs", async () => {
    const laws = budgetContract((total, cycles) =>
      Array.from({ length: cycles }, () => Math.floor(total / cycles)),
    );
    await expect(checkLaw(lawNamed(laws, 'conserves the epoch'), catches)).rejects.toThrow(
      /sum to/,
    );
  });
  test('a schedule that never restarts fails the restart law', async () => {
    const stretched = (spec: ScheduleSpec) => {
      const base = cyclesparseSchedule(spec);
      const units =
        spec.granularity === 'epoch' ? base.totalSteps / spec.stepsPerEpoch : base.totalSteps;
      return {
        totalSteps: base.totalSteps,
        learningRateAt: (step: number) =>
          spec.peak *
          cycleMultiplier(
            spec.shape,
            spec.granularity === 'epoch' ? Math.floor(step / spec.stepsPerEpoch) : step,
            units,
          ),
      };
    };
    const laws = scheduleContract(stretched);
    await expect(checkLaw(lawNamed(laws, 'repeats the same'), catches)).rejects.toThrow(/cycle/);
  });
  test('a warm-up that starts from zero misses the declared peak', async () => {
    const late = (spec: ScheduleSpec) => {
      const base = cyclesparseSchedule(spec);
      return {
        totalSteps: base.totalSteps,
        learningRateAt: (step: number) => (step === 0 ? 0 : base.learningRateAt(step - 1)),
      };
    };
    const laws = scheduleContract(late);
    await expect(checkLaw(lawNamed(laws, 'reaches the peak'), catches)).rejects.toThrow(
      /declared peak/,
    );
  });
});
