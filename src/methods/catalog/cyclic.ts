import { z } from 'zod';
import { defineMethod } from '../method.js';
import { trainPhase } from '../phases.js';

/** C dense cycles (the paper's cyclic training without pruning). */
export const cyclic = defineMethod({
  name: 'cyclic',
  description: 'C dense cycles',
  options: z.object({ cycles: z.number().int().min(1).default(4) }),
  conventions: [],
  label: ({ cycles }) => `cyclic ×${cycles}`,
  build: ({ cycles }, { epochsPerCycle }) => ({
    options: { cycles, epochsPerCycle },
    phases: [trainPhase('cyclic', 0, cycles, epochsPerCycle)],
  }),
});
