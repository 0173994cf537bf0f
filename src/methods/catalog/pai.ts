import { z } from 'zod';
import { scorerNamesFor } from '../../prune/registry.js';
import { criterionOf, defineMethod } from '../method.js';
import { prunePhase, trainPhase } from '../phases.js';

/** Pruning at initialisation to `sparsity` with a scorer of the registry, then C cycles. */
export const pai = defineMethod({
  name: 'pai',
  description: 'pruning at initialisation, then C cycles',
  options: z.object({
    criterion: z.enum(scorerNamesFor('initialisation')),
    sparsity: z.number().min(0).lt(1),
    cycles: z.number().int().min(1).default(1),
  }),
  scorerField: { field: 'criterion', stage: 'initialisation' },
  conventions: ['counting'],
  target: { field: 'sparsity' },
  label: ({ criterion, cycles }) => `pai-${criterion}${cycles > 1 ? ` ×${cycles}` : ''}`,
  build: (options, { epochsPerCycle, rules }) => {
    const chosen = criterionOf('criterion', 'initialisation', options);
    const { name: _name, ...used } = chosen;
    const { criterion, sparsity, cycles } = options;
    return {
      method: `pai-${criterion}`,
      options: { criterion, sparsity, cycles, epochsPerCycle, ...used },
      phases: [
        prunePhase(
          { label: 'at initialisation', level: 1, stream: 'at initialisation' },
          chosen,
          { sparsity },
          rules,
        ),
        trainPhase('cyclic', 1, cycles, epochsPerCycle),
      ],
    };
  },
});
