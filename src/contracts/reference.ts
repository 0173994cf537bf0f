/**
 * cyclesparse's own implementations wrapped in the contracts' plain-array interfaces. They are
 * what `properties/` checks, and a user can put them beside their own implementation as a
 * reference: the same request must give the same answer.
 */

import { DEFAULT_CONVENTIONS, type Conventions } from '../core/conventions.js';
import { layerDensities } from '../core/densities.js';
import { LrSchedule } from '../core/lr-schedule.js';
import { Mask } from '../core/mask.js';
import { prune } from '../core/prune.js';
import type { DistributionUnderTest } from './distribution.js';
import type { PrunerUnderTest } from './pruning.js';
import type { ScheduleFactory } from './schedule.js';

/** cyclesparse's pruner under a convention (default its own rules; `core/conventions.ts`). */
export function cyclesparsePrunerWith(conventions: Pick<Conventions, 'counting'>): PrunerUnderTest {
  return (request) => {
    const pruned = prune(Mask.fromArrays(request.layers, request.mask), request.scores, {
      ...(request.fractionOfRemaining === undefined
        ? { sparsity: request.sparsity }
        : { fractionOfRemaining: request.fractionOfRemaining }),
      scope: request.scope,
      exclude: request.exclude,
      counting: conventions.counting,
    });
    return Object.fromEntries(pruned.names().map((name) => [name, pruned.toArray(name)]));
  };
}

export const cyclesparsePruner: PrunerUnderTest = cyclesparsePrunerWith(DEFAULT_CONVENTIONS);

/** cyclesparse's layer densities under a convention (counting rule and layer counts). */
export function cyclesparseDensitiesWith(
  conventions: Pick<Conventions, 'counting' | 'layerCounts'>,
): DistributionUnderTest {
  return (request) =>
    Object.fromEntries(
      layerDensities(request.layers, {
        distribution: request.distribution,
        sparsity: request.sparsity,
        denseLayers: request.denseLayers,
        counting: conventions.counting,
        layerCounts: conventions.layerCounts,
      }).map((layer) => [layer.name, layer.kept]),
    );
}

export const cyclesparseDensities: DistributionUnderTest =
  cyclesparseDensitiesWith(DEFAULT_CONVENTIONS);

export const cyclesparseSchedule: ScheduleFactory = (spec) => new LrSchedule(spec);
