/**
 * The level loop IMP, WR, LRR and the coupling experiments share: train, then per level prune a
 * fraction of the remaining weights by magnitude, do what the method does between pruning and
 * retraining, retrain. Levels are a count or a target sparsity (exactly one).
 */

import { z } from 'zod';
import { pruningLevels } from '../../core/density-schedule.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { shapeBoundaries, type CycleShape } from '../../core/lr-schedule.js';
import type { Conventions } from '../../core/conventions.js';
import { scopeOption } from '../../prune/scorer.js';
import type { BuiltPipeline, MethodContext, OptionIssue } from '../method.js';
import { prunePhase, type TrainPhase } from '../phases.js';
import type { Phase } from '../types.js';

export const levelOptions = {
  /** Fraction of the remaining weights pruned per level. */
  rate: z.number().gt(0).lt(1).default(0.2),
  levels: z.number().int().min(1).optional(),
  targetSparsity: z.number().min(0).lt(1).optional(),
  /** With a target: make the last level exactly the target (default) or stop past it. */
  lastLevel: z.enum(['clamp', 'geometric']).default('clamp'),
  /** Magnitude ranks all weights together (global) or each layer on its own. */
  scope: scopeOption,
};

export type LevelOptions = z.output<z.ZodObject<typeof levelOptions>>;

/** The convention rules the level loop reads. */
export const LEVEL_CONVENTIONS = ['counting', 'levels'] as const;

/** A sweep's sparsity is the target, and replaces a count of levels. */
export const levelTarget = { field: 'targetSparsity', replaces: ['levels'] } as const;

export function checkLevels(options: LevelOptions): OptionIssue[] {
  return (options.levels === undefined) === (options.targetSparsity === undefined)
    ? [{ path: 'levels', expected: 'either levels or targetSparsity (exactly one)' }]
    : [];
}

/** Warm-up length of `shape` on a cycle of `epochs` epochs (at least 1): WR's default rewind point. */
export function warmupEpochs(
  shape: CycleShape,
  epochs: number,
  rules: Pick<Conventions, 'lrBoundaries'>,
): number {
  return Math.max(
    1,
    Math.min(epochs - 1, shapeBoundaries(shape, epochs, rules.lrBoundaries).warmup),
  );
}

/** What a level method does around its loop. */
export interface LevelSteps {
  /** Phases before the first training (IMP's snapshot of the initialisation). */
  readonly first: readonly Phase[];
  readonly firstTrain: TrainPhase;
  /** Between pruning level k and retraining it (IMP/WR rewind; LRR nothing). */
  readonly between: (level: number) => readonly Phase[];
  readonly retrain: (level: number) => TrainPhase;
  /** Options of the method beyond the loop's, recorded with them. */
  readonly recorded: Readonly<Record<string, unknown>>;
}

export function levelPipeline(
  options: LevelOptions,
  context: MethodContext,
  steps: LevelSteps,
): BuiltPipeline {
  if (context.weights === undefined)
    throw new InvalidArgumentError('weights', 'the number of prunable weights', undefined);
  const { rate, scope, lastLevel } = options;
  const plan =
    options.levels !== undefined
      ? pruningLevels({ rate, levels: options.levels }, context.weights, context.rules)
      : pruningLevels(
          { rate, targetSparsity: options.targetSparsity!, lastLevel },
          context.weights,
          context.rules,
        );
  const phases: Phase[] = [...steps.first, steps.firstTrain];
  plan.slice(1).forEach(({ target }, i) => {
    const level = i + 1;
    phases.push(
      prunePhase(
        { label: `level ${level}`, level, stream: `level ${level}` },
        { name: 'magnitude', scope },
        target,
        context.rules,
      ),
      ...steps.between(level),
      steps.retrain(level),
    );
  });
  const count =
    options.levels !== undefined
      ? { levels: options.levels }
      : { targetSparsity: options.targetSparsity, lastLevel };
  return {
    options: {
      epochsPerCycle: context.epochsPerCycle,
      rate,
      ...count,
      scope,
      ...steps.recorded,
    },
    phases,
  };
}
