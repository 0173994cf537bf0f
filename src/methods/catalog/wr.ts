import { z } from 'zod';
import { requireInteger } from '../../core/errors.js';
import { defineMethod, type MethodContext } from '../method.js';
import { trainPhase } from '../phases.js';
import {
  LEVEL_CONVENTIONS,
  checkLevels,
  levelOptions,
  levelPipeline,
  levelTarget,
  warmupEpochs,
  type LevelOptions,
} from './levels.js';

/**
 * WR's level loop rewinding to the weights (and optimizer state) after `rewindEpoch` epochs of
 * the first cycle (default: the shape's warm-up), then training the rest of the cycle from there.
 */
export function rewindingLevels(
  options: LevelOptions & { readonly rewindEpoch?: number | undefined },
  context: MethodContext,
  recorded: Readonly<Record<string, unknown>> = {},
) {
  const e = requireInteger('epochsPerCycle', context.epochsPerCycle, 2);
  const rewindEpoch = requireInteger(
    'rewindEpoch',
    options.rewindEpoch ?? warmupEpochs(context.shape, e, context.rules),
    1,
    e - 1,
  );
  return levelPipeline(options, context, {
    first: [],
    firstTrain: trainPhase('level 0', 0, 1, e, {
      snapshotAfter: { epochs: rewindEpoch, name: 'rewind' },
    }),
    between: () => [{ kind: 'rewind', to: 'rewind', optimizer: 'snapshot' }],
    retrain: (level) => trainPhase(`level ${level}`, level, 1, e, { startEpoch: rewindEpoch }),
    recorded: { rewindEpoch, ...recorded },
  });
}

/** WR: as IMP, but rewinding to early-training weights. */
export const wr = defineMethod({
  name: 'wr',
  description: 'iterative magnitude pruning, rewinding to the weights after the warm-up',
  options: z.object({ ...levelOptions, rewindEpoch: z.number().int().min(1).optional() }),
  conventions: [...LEVEL_CONVENTIONS, 'lrBoundaries'],
  target: levelTarget,
  check: checkLevels,
  build: (options, context) => rewindingLevels(options, context),
});
