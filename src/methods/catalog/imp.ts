import { z } from 'zod';
import { defineMethod } from '../method.js';
import { trainPhase } from '../phases.js';
import {
  LEVEL_CONVENTIONS,
  checkLevels,
  levelOptions,
  levelPipeline,
  levelTarget,
} from './levels.js';

/** IMP: train, prune 20% of the remaining weights by magnitude, rewind to initialisation. */
export const imp = defineMethod({
  name: 'imp',
  description: 'iterative magnitude pruning, rewinding to initialisation',
  options: z.object(levelOptions),
  conventions: LEVEL_CONVENTIONS,
  target: levelTarget,
  check: checkLevels,
  build: (options, context) =>
    levelPipeline(options, context, {
      first: [{ kind: 'snapshot', name: 'init' }],
      firstTrain: trainPhase('level 0', 0, 1, context.epochsPerCycle),
      between: () => [{ kind: 'rewind', to: 'init', optimizer: 'reset' }],
      retrain: (level) => trainPhase(`level ${level}`, level, 1, context.epochsPerCycle),
      recorded: {},
    }),
});
