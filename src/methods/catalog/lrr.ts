import { z } from 'zod';
import { defineMethod, type MethodContext } from '../method.js';
import { trainPhase } from '../phases.js';
import {
  LEVEL_CONVENTIONS,
  checkLevels,
  levelOptions,
  levelPipeline,
  levelTarget,
  type LevelOptions,
} from './levels.js';

/** LRR's level loop: keep the trained weights, restart the whole learning-rate schedule. */
export function restartingLevels(
  options: LevelOptions & { readonly resetMomentum: boolean },
  context: MethodContext,
) {
  const e = context.epochsPerCycle;
  return levelPipeline(options, context, {
    first: [],
    firstTrain: trainPhase('level 0', 0, 1, e),
    between: () => [],
    retrain: (level) =>
      trainPhase(`level ${level}`, level, 1, e, { resetMomentumEachCycle: options.resetMomentum }),
    recorded: { resetMomentum: options.resetMomentum },
  });
}

/** LRR: as IMP, but learning-rate rewinding instead of weight rewinding. */
export const lrr = defineMethod({
  name: 'lrr',
  description: 'iterative magnitude pruning, restarting the learning-rate schedule',
  options: z.object({ ...levelOptions, resetMomentum: z.boolean().default(true) }),
  conventions: LEVEL_CONVENTIONS,
  target: levelTarget,
  check: checkLevels,
  build: restartingLevels,
});
