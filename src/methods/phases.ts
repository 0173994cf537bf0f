/** Phase constructors the method definitions share. */

import type { Conventions } from '../core/conventions.js';
import type { PruneTarget } from '../core/prune.js';
import type { CriterionChoice, Phase } from './types.js';

export type TrainPhase = Extract<Phase, { kind: 'train' }>;

export function trainPhase(
  label: string,
  level: number,
  cycles: number,
  epochsPerCycle: number,
  extra: Partial<TrainPhase> = {},
): TrainPhase {
  return {
    kind: 'train',
    label,
    level,
    cycles,
    epochsPerCycle,
    resetMomentumEachCycle: true,
    ...extra,
  };
}

/**
 * A prune. `stream` keys its random streams: each method fixes its own (changing one changes
 * every stored result of that method), independently of the label.
 */
export function prunePhase(
  at: { readonly label: string; readonly level: number; readonly stream: string },
  criterion: CriterionChoice,
  target: PruneTarget,
  rules: Conventions,
): Phase {
  return {
    kind: 'prune',
    ...at,
    criterion,
    target,
    counting: rules.counting,
    layerCounts: rules.layerCounts,
  };
}
