/**
 * The methods of the paper (METHODS.md) as pipelines of phases. Each builder validates its
 * options, fills the defaults and returns them with the phases, so every stored result says
 * exactly what ran. IMP, WR and LRR share one level loop and differ only in what happens between
 * pruning and retraining; SCULPT is a PaI mask, cycles, one prune and one more cycle.
 *
 * Cycle lengths are in epochs and the schedule's shape is the setup's, so a 3-epoch CPU run has
 * the shape of the paper's 150-epoch one. Where the paper fixes an epoch (WR's rewind point and
 * the warm-up weights after 10 of 150 epochs), the default is the shape's warm-up length for the
 * cycle at hand, which is 10 at 150 epochs.
 */

import {
  DEFAULT_CONVENTIONS,
  conventionsOf,
  type ConventionRule,
  type Conventions,
} from '../core/conventions.js';
import { DISTRIBUTIONS, type Distribution } from '../core/densities.js';
import { pruningLevels } from '../core/density-schedule.js';
import {
  InvalidArgumentError,
  requireInteger,
  requireNumber,
  requireSparsity,
} from '../core/errors.js';
import { shapeBoundaries, type CycleShape } from '../core/lr-schedule.js';
import type { PruneTarget, Scope } from '../core/prune.js';
import { SAMPLINGS, type Sampling } from '../prune/random.js';
import type { Criterion, Phase, Pipeline } from './runner.js';

function choice<T extends string>(
  argument: string,
  value: T | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  const chosen = value ?? fallback;
  if (!allowed.includes(chosen))
    throw new InvalidArgumentError(argument, `one of ${allowed.join(', ')}`, chosen);
  return chosen;
}

const train = (
  label: string,
  level: number,
  cycles: number,
  epochsPerCycle: number,
  extra: Partial<Extract<Phase, { kind: 'train' }>> = {},
): Phase => ({
  kind: 'train',
  label,
  level,
  cycles,
  epochsPerCycle,
  resetMomentumEachCycle: true,
  ...extra,
});

export interface PruneSettings {
  readonly scope: Scope;
  readonly distribution: Distribution;
  readonly sampling: Sampling;
  readonly synflowIterations: number;
}

const prunePhase = (
  label: string,
  level: number,
  criterion: Criterion,
  target: PruneTarget,
  settings: PruneSettings,
  rules: Conventions,
): Phase => ({
  kind: 'prune',
  label,
  level,
  criterion,
  target,
  ...settings,
  counting: rules.counting,
  layerCounts: rules.layerCounts,
});

/** Conventions (`core/conventions.ts`): any rule left out is cyclesparse's. */
export interface ConventionOptions {
  readonly conventions?: Partial<Conventions> | undefined;
}

/**
 * The convention rules a method's pipeline acts on: every pruning method counts; levels that
 * compound or not exist only in the level loop; per-layer counts only for random masks drawn
 * from a layer-density distribution; the LR boundaries set WR's and coupling's default rewind
 * point (the trainer's schedule uses them for every method: see the configuration).
 */
export function conventionsUsed(method: {
  readonly name: string;
  readonly criterion?: string | undefined;
  readonly start?: string | undefined;
}): ConventionRule[] {
  switch (method.name) {
    case 'imp':
    case 'lrr':
      return ['counting', 'levels'];
    case 'wr':
    case 'coupling':
      return ['counting', 'levels', 'lrBoundaries'];
    case 'pai':
      return method.criterion === 'random' ? ['counting', 'layerCounts'] : ['counting'];
    case 'sculpt':
      return method.start === 'random' ? ['counting', 'layerCounts'] : ['counting'];
    default:
      return [];
  }
}

/** The rules of `options`, validated, cyclesparse's where one is left out. */
function rulesOf(options: ConventionOptions): Conventions {
  return conventionsOf('cyclesparse', options.conventions ?? {});
}

/** The rules of `options` (validated, defaults filled) and the record of the non-default ones. */
function rulesFor(
  options: ConventionOptions,
  used: readonly ConventionRule[],
): { rules: Conventions; recorded: Record<string, unknown> } {
  const rules = rulesOf(options);
  const changed = used.filter((rule) => rules[rule] !== DEFAULT_CONVENTIONS[rule]);
  return {
    rules,
    recorded:
      changed.length === 0
        ? {}
        : { conventions: Object.fromEntries(changed.map((rule) => [rule, rules[rule]])) },
  };
}

export interface PruneOptions {
  /** Scope of score-based pruning (default global, as the authors' code). */
  readonly scope?: Scope | undefined;
  /** Layer densities of random masks from a dense start (default ERK). */
  readonly distribution?: Distribution | undefined;
  /** Exact top-k of random scores in each layer (default) or Bernoulli per weight. */
  readonly sampling?: Sampling | undefined;
  /** SynFlow rounds (default 100; 1 matches the authors' harness). */
  readonly synflowIterations?: number | undefined;
}

/** The default of every prune setting (the configuration fills the ones a run uses from here). */
export const PRUNE_DEFAULTS: PruneSettings = Object.freeze({
  scope: 'global',
  distribution: 'erk',
  sampling: 'exact',
  synflowIterations: 100,
});

/**
 * The settings each criterion uses when it prunes a dense network (PaI, SCULPT's start mask):
 * a random mask takes its layer densities from a distribution (so no scope); SNIP and SynFlow
 * rank scores globally or per layer; only SynFlow has rounds. Any other setting would be recorded
 * and do nothing, so it is refused.
 */
export const SETTINGS_USED: Readonly<
  Record<(typeof PAI_CRITERIA)[number], readonly (keyof PruneSettings)[]>
> = {
  random: ['distribution', 'sampling'],
  snip: ['scope'],
  synflow: ['scope', 'synflowIterations'],
};

/** The settings `criterion` uses, validated, with defaults; any other one given is refused. */
export function settingsFor(
  criterion: (typeof PAI_CRITERIA)[number],
  options: PruneOptions,
  criterionArgument = 'criterion',
): Partial<PruneSettings> {
  const used = SETTINGS_USED[criterion];
  for (const key of Object.keys(PRUNE_DEFAULTS) as (keyof PruneSettings)[]) {
    if (options[key] !== undefined && !used.includes(key))
      throw new InvalidArgumentError(
        key,
        `no ${key} for ${criterionArgument} ${criterion} (it uses ${used.join(' and ')})`,
        options[key],
      );
  }
  const all = pruneSettings(options);
  return Object.fromEntries(used.map((key) => [key, all[key]]));
}

function pruneSettings(options: PruneOptions): PruneSettings {
  return {
    scope: choice('scope', options.scope, ['global', 'layerwise'] as const, PRUNE_DEFAULTS.scope),
    distribution: choice(
      'distribution',
      options.distribution,
      DISTRIBUTIONS,
      PRUNE_DEFAULTS.distribution,
    ),
    sampling: choice('sampling', options.sampling, SAMPLINGS, PRUNE_DEFAULTS.sampling),
    synflowIterations: requireInteger(
      'synflowIterations',
      options.synflowIterations ?? PRUNE_DEFAULTS.synflowIterations,
      1,
    ),
  };
}

/** One dense cycle. */
export function dense(options: { epochs: number }): Pipeline {
  const epochs = requireInteger('epochs', options.epochs, 1);
  return { method: 'dense', options: { epochs }, phases: [train('dense', 0, 1, epochs)] };
}

/** C dense cycles (the paper's cyclic training without pruning). */
export function cyclic(options: { cycles: number; epochsPerCycle: number }): Pipeline {
  const cycles = requireInteger('cycles', options.cycles, 1);
  const epochsPerCycle = requireInteger('epochsPerCycle', options.epochsPerCycle, 1);
  return {
    method: 'cyclic',
    options: { cycles, epochsPerCycle },
    phases: [train('cyclic', 0, cycles, epochsPerCycle)],
  };
}

/** The control for C cycles: one cycle of the same total length. */
export function oneCycleControl(options: { cycles: number; epochsPerCycle: number }): Pipeline {
  const cycles = requireInteger('cycles', options.cycles, 1);
  const epochsPerCycle = requireInteger('epochsPerCycle', options.epochsPerCycle, 1);
  return {
    method: 'one-cycle',
    options: { cycles, epochsPerCycle },
    phases: [train('one-cycle', 0, 1, cycles * epochsPerCycle)],
  };
}

export interface IterativeOptions extends ConventionOptions {
  readonly epochsPerCycle: number;
  /** Fraction of the remaining weights pruned per level (default 0.2). */
  readonly rate?: number;
  /** Either a number of levels or a target sparsity. */
  readonly levels?: number;
  readonly targetSparsity?: number;
  /** With a target: make the last level exactly the target (default) or stop past it. */
  readonly lastLevel?: 'clamp' | 'geometric';
  readonly scope?: Scope;
  /** Number of prunable weights (from the model): needed to plan exact level counts. */
  readonly weights: number;
}

function levelPlan(
  options: IterativeOptions,
  rules: Conventions,
): {
  rate: number;
  targets: PruneTarget[];
  resolved: Record<string, unknown>;
} {
  const rate = requireNumber('rate', options.rate ?? 0.2, {
    min: 0,
    max: 1,
    openMin: true,
    openMax: true,
  });
  if ((options.levels === undefined) === (options.targetSparsity === undefined)) {
    throw new InvalidArgumentError('levels', 'either levels or targetSparsity (exactly one)', {
      levels: options.levels,
      targetSparsity: options.targetSparsity,
    });
  }
  const lastLevel = choice(
    'lastLevel',
    options.lastLevel,
    ['clamp', 'geometric'] as const,
    'clamp',
  );
  const plan =
    options.levels !== undefined
      ? pruningLevels(
          { rate, levels: requireInteger('levels', options.levels, 1) },
          options.weights,
          rules,
        )
      : pruningLevels(
          {
            rate,
            targetSparsity: requireSparsity('targetSparsity', options.targetSparsity!),
            lastLevel,
          },
          options.weights,
          rules,
        );
  return {
    rate,
    targets: plan.slice(1).map((l) => l.target),
    resolved:
      options.levels !== undefined
        ? { levels: options.levels }
        : { targetSparsity: options.targetSparsity, lastLevel },
  };
}

/** Warm-up length of `shape` on a cycle of `epochs` epochs (at least 1): WR's default rewind point. */
export function warmupEpochs(
  shape: CycleShape,
  epochs: number,
  rules: Pick<Conventions, 'lrBoundaries'> = DEFAULT_CONVENTIONS,
): number {
  return Math.max(
    1,
    Math.min(epochs - 1, shapeBoundaries(shape, epochs, rules.lrBoundaries).warmup),
  );
}

type Between = (level: number) => Phase[];

function iterative(
  method: string,
  options: IterativeOptions,
  first: Phase[],
  firstTrain: Phase,
  between: Between,
  retrain: (level: number) => Phase,
  extra: Record<string, unknown>,
): Pipeline {
  const epochsPerCycle = requireInteger('epochsPerCycle', options.epochsPerCycle, 1);
  const { rules, recorded } = rulesFor(options, conventionsUsed({ name: method }));
  const { rate, targets, resolved } = levelPlan(options, rules);
  const scope = choice('scope', options.scope, ['global', 'layerwise'] as const, 'global');
  const settings: PruneSettings = { ...PRUNE_DEFAULTS, scope }; // magnitude uses only the scope
  const phases: Phase[] = [...first, firstTrain];
  targets.forEach((target, i) => {
    const level = i + 1;
    phases.push(
      prunePhase(`level ${level}`, level, 'magnitude', target, settings, rules),
      ...between(level),
      retrain(level),
    );
  });
  return {
    method,
    options: { epochsPerCycle, rate, ...resolved, scope, ...extra, ...recorded },
    phases,
  };
}

/** IMP: train, prune 20% of the remaining weights by magnitude, rewind to initialisation. */
export function imp(options: IterativeOptions): Pipeline {
  const e = options.epochsPerCycle;
  return iterative(
    'imp',
    options,
    [{ kind: 'snapshot', name: 'init' }],
    train('level 0', 0, 1, e),
    () => [{ kind: 'rewind', to: 'init', optimizer: 'reset' }],
    (level) => train(`level ${level}`, level, 1, e),
    {},
  );
}

/**
 * WR: as IMP, but rewind to the weights (and optimizer state) after `rewindEpoch` epochs of the
 * first cycle, then train the rest of the cycle from there.
 */
export function wr(
  options: IterativeOptions & { readonly rewindEpoch?: number; readonly shape: CycleShape },
): Pipeline {
  const e = requireInteger('epochsPerCycle', options.epochsPerCycle, 2);
  const rewindEpoch = requireInteger(
    'rewindEpoch',
    options.rewindEpoch ?? warmupEpochs(options.shape, e, rulesOf(options)),
    1,
    e - 1,
  );
  return iterative(
    'wr',
    options,
    [],
    train('level 0', 0, 1, e, { snapshotAfter: { epochs: rewindEpoch, name: 'rewind' } }),
    () => [{ kind: 'rewind', to: 'rewind', optimizer: 'snapshot' }],
    (level) => train(`level ${level}`, level, 1, e, { startEpoch: rewindEpoch }),
    { rewindEpoch },
  );
}

/** LRR: as IMP, but keep the trained weights and restart the whole learning-rate schedule. */
export function lrr(options: IterativeOptions & { readonly resetMomentum?: boolean }): Pipeline {
  const e = options.epochsPerCycle;
  const resetMomentum = options.resetMomentum ?? true;
  return iterative(
    'lrr',
    options,
    [],
    train('level 0', 0, 1, e),
    () => [],
    (level) => train(`level ${level}`, level, 1, e, { resetMomentumEachCycle: resetMomentum }),
    { resetMomentum },
  );
}

export const PAI_CRITERIA = ['snip', 'synflow', 'random'] as const;

/** Pruning at initialisation (SNIP, SynFlow or random) to `sparsity`, then C cycles. */
export function pai(
  options: PruneOptions &
    ConventionOptions & {
      criterion: (typeof PAI_CRITERIA)[number];
      sparsity: number;
      cycles?: number;
      epochsPerCycle: number;
    },
): Pipeline {
  const criterion = choice('criterion', options.criterion, PAI_CRITERIA, 'random');
  const sparsity = requireSparsity('sparsity', options.sparsity);
  const cycles = requireInteger('cycles', options.cycles ?? 1, 1);
  const epochsPerCycle = requireInteger('epochsPerCycle', options.epochsPerCycle, 1);
  const used = settingsFor(criterion, options);
  const { rules, recorded } = rulesFor(options, conventionsUsed({ name: 'pai', criterion }));
  return {
    method: `pai-${criterion}`,
    options: { criterion, sparsity, cycles, epochsPerCycle, ...used, ...recorded },
    phases: [
      prunePhase(
        'at initialisation',
        1,
        criterion,
        { sparsity },
        { ...PRUNE_DEFAULTS, ...used },
        rules,
      ),
      train('cyclic', 1, cycles, epochsPerCycle),
    ],
  };
}

export const COUPLING_INITS = ['fresh', 'original', 'warmup', 'signs-only'] as const;

/**
 * Coupling experiments: the mask LRR (or WR) finds at `targetSparsity`, applied to a fresh
 * initialisation (another stream of the seed), the original one, the warm-up weights (dense
 * weights after the warm-up epochs of the first cycle), or fresh magnitudes with the warm-up
 * signs; then C cycles of training.
 */
export function coupling(
  options: IterativeOptions & {
    readonly source?: 'lrr' | 'wr';
    readonly init: (typeof COUPLING_INITS)[number];
    readonly cycles: number;
    readonly warmupEpochs?: number;
    readonly shape: CycleShape;
  },
): Pipeline {
  const source = choice('source', options.source, ['lrr', 'wr'] as const, 'lrr');
  const init = choice('init', options.init, COUPLING_INITS, 'fresh');
  const cycles = requireInteger('cycles', options.cycles, 1);
  const e = requireInteger('epochsPerCycle', options.epochsPerCycle, 2);
  const warmup = requireInteger(
    'warmupEpochs',
    options.warmupEpochs ?? warmupEpochs(options.shape, e, rulesOf(options)),
    1,
    e - 1,
  );
  const found = source === 'lrr' ? lrr(options) : wr({ ...options, rewindEpoch: warmup });
  // The source's first training also remembers the initial and the warm-up weights.
  const phases = found.phases.map((phase, i): Phase =>
    i === found.phases.findIndex((p) => p.kind === 'train') && phase.kind === 'train'
      ? { ...phase, snapshotAfter: { epochs: warmup, name: source === 'wr' ? 'rewind' : 'warmup' } }
      : phase,
  );
  const warmupName = source === 'wr' ? 'rewind' : 'warmup';
  const reinit: Phase =
    init === 'fresh'
      ? { kind: 'reinitialize', weights: 'fresh', stream: 'init/coupling' }
      : init === 'original'
        ? { kind: 'reinitialize', weights: 'snapshot', snapshot: 'init' }
        : init === 'warmup'
          ? { kind: 'reinitialize', weights: 'snapshot', snapshot: warmupName }
          : {
              kind: 'reinitialize',
              weights: 'signs-only',
              snapshot: warmupName,
              stream: 'init/coupling',
            };
  const level = phases.filter((p) => p.kind === 'prune').length;
  return {
    method: `coupling-${source}-${init}`,
    options: { ...found.options, source, init, cycles, warmupEpochs: warmup },
    phases: [
      { kind: 'snapshot', name: 'init' },
      ...phases,
      reinit,
      train('coupled', level, cycles, e),
    ],
  };
}

/**
 * SCULPT-ing: a PaI mask at `startSparsity`, C cycles, one-shot global pruning of the trained
 * weights to `targetSparsity` (magnitude by default), no rewind, one more cycle.
 */
export function sculpt(
  options: PruneOptions &
    ConventionOptions & {
      readonly start: (typeof PAI_CRITERIA)[number];
      readonly startSparsity: number;
      readonly targetSparsity: number;
      readonly cycles: number;
      readonly epochsPerCycle: number;
      readonly criterion?: 'magnitude' | 'random' | 'snip';
    },
): Pipeline {
  const start = choice('start', options.start, PAI_CRITERIA, 'random');
  const startSparsity = requireSparsity('startSparsity', options.startSparsity);
  const targetSparsity = requireSparsity('targetSparsity', options.targetSparsity);
  if (!(targetSparsity >= startSparsity)) {
    throw new InvalidArgumentError(
      'targetSparsity',
      `at least startSparsity (${startSparsity})`,
      targetSparsity,
    );
  }
  const criterion = choice(
    'criterion',
    options.criterion,
    ['magnitude', 'random', 'snip'] as const,
    'magnitude',
  );
  const cycles = requireInteger('cycles', options.cycles, 1);
  const epochsPerCycle = requireInteger('epochsPerCycle', options.epochsPerCycle, 1);
  // The settings serve the start mask; the coupling prune is global, as the authors' code.
  const used = settingsFor(start, options, 'start');
  const { rules, recorded } = rulesFor(options, conventionsUsed({ name: 'sculpt', start }));
  return {
    method: 'sculpt',
    options: {
      start,
      startSparsity,
      targetSparsity,
      criterion,
      cycles,
      epochsPerCycle,
      ...used,
      ...recorded,
    },
    phases: [
      prunePhase(
        'start mask',
        1,
        start,
        { sparsity: startSparsity },
        { ...PRUNE_DEFAULTS, ...used },
        rules,
      ),
      train('cyclic', 1, cycles, epochsPerCycle),
      prunePhase(
        'coupling prune',
        2,
        criterion,
        { sparsity: targetSparsity },
        PRUNE_DEFAULTS,
        rules,
      ),
      train('retrain', 2, 1, epochsPerCycle),
    ],
  };
}
