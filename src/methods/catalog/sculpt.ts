import { z } from 'zod';
import { scorerNamed, scorerNamesFor } from '../../prune/registry.js';
import { criterionOf, defineMethod } from '../method.js';
import { prunePhase, trainPhase } from '../phases.js';

/**
 * SCULPT-ing: a PaI mask at `startSparsity`, C cycles, one-shot pruning of the trained weights to
 * `targetSparsity` (magnitude by default, the scorer's default options: global, as the authors'
 * code), no rewind, one more cycle. The flat scorer options serve the start mask.
 */
export const sculpt = defineMethod({
  name: 'sculpt',
  description: 'a PaI mask, C cycles, one prune of the trained weights, one more cycle',
  options: z.object({
    start: z.enum(scorerNamesFor('initialisation')).default('random'),
    startSparsity: z.number().min(0).lt(1).default(0.2),
    targetSparsity: z.number().min(0).lt(1),
    cycles: z.number().int().min(1).default(4),
    criterion: z.enum(scorerNamesFor('trained')).default('magnitude'),
  }),
  scorerField: { field: 'start', stage: 'initialisation' },
  conventions: ['counting'],
  target: { field: 'targetSparsity' },
  check: ({ startSparsity, targetSparsity }) =>
    targetSparsity >= startSparsity
      ? []
      : [{ path: 'targetSparsity', expected: `at least startSparsity (${startSparsity})` }],
  build: (options, { epochsPerCycle, rules }) => {
    const start = criterionOf('start', 'initialisation', options);
    const { name: _name, ...used } = start;
    const { startSparsity, targetSparsity, cycles, criterion } = options;
    return {
      options: {
        start: options.start,
        startSparsity,
        targetSparsity,
        criterion,
        cycles,
        epochsPerCycle,
        ...used,
      },
      phases: [
        prunePhase(
          { label: 'start mask', level: 1, stream: 'start mask' },
          start,
          { sparsity: startSparsity },
          rules,
        ),
        trainPhase('cyclic', 1, cycles, epochsPerCycle),
        prunePhase(
          { label: 'coupling prune', level: 2, stream: 'coupling prune' },
          { name: criterion, ...scorerNamed(criterion, 'trained').options.parse({}) },
          { sparsity: targetSparsity },
          rules,
        ),
        trainPhase('retrain', 2, 1, epochsPerCycle),
      ],
    };
  },
});
