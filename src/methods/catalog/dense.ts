import { z } from 'zod';
import { defineMethod } from '../method.js';
import { trainPhase } from '../phases.js';

/** One dense cycle. */
export const dense = defineMethod({
  name: 'dense',
  description: 'one dense cycle',
  options: z.object({}),
  conventions: [],
  build: (_options, { epochsPerCycle }) => ({
    options: { epochs: epochsPerCycle },
    phases: [trainPhase('dense', 0, 1, epochsPerCycle)],
  }),
});
