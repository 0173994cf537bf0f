/**
 * The core's self-check: runs the core end to end on a real layer list and checks each result
 * against an independent computation (the sort-based reference selection, the counting rule,
 * the budget sums). It is what `cyclesparse self-check` prints; a library user gets the same
 * report as data.
 */

import { layerDensities, DISTRIBUTIONS } from './core/densities.js';
import { pruningLevels } from './core/density-schedule.js';
import { CIFAR_STEP_WARMUP, LrSchedule, oneCycleControl, splitBudget } from './core/lr-schedule.js';
import { Mask, type LayerSpec } from './core/mask.js';
import { prune, type LayerScores } from './core/prune.js';
import { randomStream } from './core/random.js';
import { keptCount, prunedCount, selectToPruneReference } from './core/selection.js';
import { requireInteger, requireSparsity } from './core/errors.js';
import { prunableLayers } from './models/spec.js';
import { modelSpec, type ModelName } from './models/zoo.js';

export interface SelfCheckOptions {
  readonly model: ModelName;
  /** ResNet-18/50 only. */
  readonly stem?: 'cifar' | 'imagenet';
  readonly sparsity: number;
  readonly seed: number;
}

export type CheckResult =
  | {
      readonly name: string;
      readonly state: 'passed';
      readonly detail: string;
      readonly ms: number;
    }
  | {
      readonly name: string;
      readonly state: 'failed';
      readonly detail: string;
      readonly ms: number;
    };

export interface SelfCheckReport {
  readonly options: SelfCheckOptions;
  readonly weights: number;
  readonly layers: number;
  readonly checks: readonly CheckResult[];
  readonly passed: boolean;
}

function timed(name: string, check: () => { ok: boolean; detail: string }): CheckResult {
  const start = performance.now();
  const { ok, detail } = check();
  const ms = performance.now() - start;
  return ok ? { name, state: 'passed', detail, ms } : { name, state: 'failed', detail, ms };
}

function randomScores(layers: readonly LayerSpec[], seed: number): LayerScores {
  const stream = randomStream(seed, 'selfCheck/scores');
  // Rounded to 1/64 so that ties are everywhere: the tie-break is part of what is checked.
  return Object.fromEntries(
    layers.map((l) => {
      const scores = new Float32Array(l.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < scores.length; i++) scores[i] = Math.round(stream.normal() * 64) / 64;
      return [l.name, scores];
    }),
  );
}

export function runSelfCheck(options: SelfCheckOptions): SelfCheckReport {
  requireSparsity('sparsity', options.sparsity);
  requireInteger('seed', options.seed, 0);
  const layers = prunableLayers(
    modelSpec(options.model, options.stem === undefined ? {} : { stem: options.stem }),
  );
  const dense = Mask.dense(layers);
  const scores = randomScores(layers, options.seed);
  const { sparsity } = options;
  const total = dense.totalSize;
  const checks: CheckResult[] = [];

  checks.push(
    timed('global pruning: fast selection equals the sort-based reference', () => {
      const fast = prune(dense, scores, { sparsity, scope: 'global' });
      const reference = selectToPruneReference(
        layers.map((l) => ({ scores: scores[l.name]!, alive: dense.bitsOf(l.name) })),
        prunedCount(sparsity, total),
      );
      const same = layers.every((l, i) =>
        fast.bitsOf(l.name).every((w, j) => w === reference[i]![j]),
      );
      const exact = fast.totalKept === keptCount(sparsity, total);
      return {
        ok: same && exact,
        detail: `kept ${fast.totalKept} of ${total} (sparsity ${fast.sparsity().toFixed(6)})`,
      };
    }),
  );
  checks.push(
    timed('layerwise pruning: every layer prunes exactly round-half-up(s·n)', () => {
      const result = prune(dense, scores, { sparsity, scope: 'layerwise' });
      const wrong = result.perLayer().filter((l) => l.kept !== keptCount(sparsity, l.size));
      return {
        ok: wrong.length === 0,
        detail:
          wrong.length === 0
            ? `${layers.length} layers exact`
            : `wrong: ${wrong.map((l) => l.name).join(', ')}`,
      };
    }),
  );
  for (const distribution of DISTRIBUTIONS) {
    checks.push(
      timed(`${distribution} layer densities sum to the global budget`, () => {
        const densities = layerDensities(layers, { distribution, sparsity });
        const kept = densities.reduce((s, l) => s + l.kept, 0);
        const inRange = densities.every((l) => l.kept >= 0 && l.kept <= l.size);
        const min = Math.min(...densities.map((l) => l.density));
        return {
          ok: kept === keptCount(sparsity, total) && inRange,
          detail: `kept ${kept}, layer densities ${min.toFixed(4)}–${Math.max(...densities.map((l) => l.density)).toFixed(4)}`,
        };
      }),
    );
  }
  checks.push(
    timed('IMP levels at 20% per level: monotone masks on the planned counts', () => {
      const plan = pruningLevels(
        { rate: 0.2, targetSparsity: sparsity, lastLevel: 'clamp' },
        total,
      );
      let mask = dense;
      for (const level of plan.slice(1)) {
        const next = prune(mask, scores, { sparsity: level.sparsity, scope: 'global' });
        if (!next.isSubsetOf(mask) || next.totalKept !== level.kept) {
          return {
            ok: false,
            detail: `level ${level.level}: kept ${next.totalKept}, planned ${level.kept}`,
          };
        }
        mask = next;
      }
      return { ok: true, detail: `${plan.length - 1} levels to sparsity ${sparsity}` };
    }),
  );
  checks.push(
    timed('cyclic schedule conserves its epoch budget; the one-cycle control matches it', () => {
      const spec = {
        peak: 0.1,
        shape: CIFAR_STEP_WARMUP,
        granularity: 'epoch' as const,
        stepsPerEpoch: 196,
        cycleEpochs: splitBudget(150, 4),
      };
      const cyclic = new LrSchedule(spec);
      const control = new LrSchedule(oneCycleControl(spec));
      // Cycles of the same length must run the same rates from their first step on.
      const restarts = cyclic.cycleStarts.every((start, c) => {
        const twin = spec.cycleEpochs.indexOf(spec.cycleEpochs[c]!);
        const twinStart = cyclic.cycleStarts[twin]!;
        return Array.from({ length: cyclic.cycleSteps(c) }, (_, i) => i).every(
          (i) => cyclic.learningRateAt(start + i) === cyclic.learningRateAt(twinStart + i),
        );
      });
      return {
        ok: cyclic.totalEpochs === 150 && control.totalSteps === cyclic.totalSteps && restarts,
        detail: `cycles [${spec.cycleEpochs.join(', ')}] epochs, ${cyclic.totalSteps} steps each way`,
      };
    }),
  );
  return {
    options,
    weights: total,
    layers: layers.length,
    checks,
    passed: checks.every((c) => c.state === 'passed'),
  };
}
