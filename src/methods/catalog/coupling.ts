import { z } from 'zod';
import { requireInteger } from '../../core/errors.js';
import { defineMethod } from '../method.js';
import { trainPhase } from '../phases.js';
import type { Phase } from '../types.js';
import {
  LEVEL_CONVENTIONS,
  checkLevels,
  levelOptions,
  levelTarget,
  warmupEpochs,
} from './levels.js';
import { restartingLevels } from './lrr.js';
import { rewindingLevels } from './wr.js';

export const COUPLING_INITS = ['fresh', 'original', 'warmup', 'signs-only'] as const;

/**
 * Coupling experiments: the mask LRR (or WR) finds at the target, applied to a fresh
 * initialisation (another stream of the seed), the original one, the warm-up weights (dense
 * weights after the warm-up epochs of the first cycle), or fresh magnitudes with the warm-up
 * signs; then C cycles of training.
 */
export const coupling = defineMethod({
  name: 'coupling',
  description: 'an LRR or WR mask on another initialisation, then C cycles',
  options: z.object({
    source: z.enum(['lrr', 'wr']).default('lrr'),
    init: z.enum(COUPLING_INITS),
    cycles: z.number().int().min(1).default(4),
    warmupEpochs: z.number().int().min(1).optional(),
    ...levelOptions,
  }),
  conventions: [...LEVEL_CONVENTIONS, 'lrBoundaries'],
  target: levelTarget,
  check: checkLevels,
  label: ({ source, init }) => `coupling-${source}-${init}`,
  build: (options, context) => {
    const { source, init, cycles } = options;
    const e = requireInteger('epochsPerCycle', context.epochsPerCycle, 2);
    const warmup = requireInteger(
      'warmupEpochs',
      options.warmupEpochs ?? warmupEpochs(context.shape, e, context.rules),
      1,
      e - 1,
    );
    const found =
      source === 'lrr'
        ? restartingLevels({ ...options, resetMomentum: true }, context)
        : rewindingLevels({ ...options, rewindEpoch: warmup }, context);
    // The source's first training also remembers the warm-up weights.
    const warmupName = source === 'wr' ? 'rewind' : 'warmup';
    const firstTrain = found.phases.findIndex((p) => p.kind === 'train');
    const phases = found.phases.map((phase, i): Phase =>
      i === firstTrain && phase.kind === 'train'
        ? { ...phase, snapshotAfter: { epochs: warmup, name: warmupName } }
        : phase,
    );
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
        trainPhase('coupled', level, cycles, e),
      ],
    };
  },
});
