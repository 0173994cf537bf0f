import { z } from 'zod';
import { defineMethod } from '../method.js';
import { trainPhase } from '../phases.js';

/** The control for C cycles: one dense cycle as long as all of them. */
export const oneCycle = defineMethod({
  name: 'one-cycle',
  description: 'one dense cycle as long as C cycles (their control)',
  options: z.object({ cycles: z.number().int().min(1).default(4) }),
  conventions: [],
  label: ({ cycles }) => `one-cycle ×${cycles}`,
  build: ({ cycles }, { epochsPerCycle }) => ({
    options: { cycles, epochsPerCycle },
    phases: [trainPhase('one-cycle', 0, 1, cycles * epochsPerCycle)],
  }),
});
