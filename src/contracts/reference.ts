/**
 * cyclesparse's own implementations wrapped in the contracts' plain-array interfaces. They are
 * what `properties/` checks, and a user can put them beside their own implementation as a
 * reference: the same request must give the same answer.
 */

import { layerDensities } from '../core/densities.js';
import { LrSchedule } from '../core/lr-schedule.js';
import { Mask } from '../core/mask.js';
import { prune } from '../core/prune.js';
import type { DistributionUnderTest } from './distribution.js';
import type { PrunerUnderTest } from './pruning.js';
import type { ScheduleFactory } from './schedule.js';

export const cyclesparsePruner: PrunerUnderTest = (request) => {
  const pruned = prune(Mask.fromArrays(request.layers, request.mask), request.scores, {
    sparsity: request.sparsity,
    scope: request.scope,
    exclude: request.exclude,
  });
  return Object.fromEntries(pruned.names().map((name) => [name, pruned.toArray(name)]));
};

export const cyclesparseDensities: DistributionUnderTest = (request) =>
  Object.fromEntries(
    layerDensities(request.layers, {
      distribution: request.distribution,
      sparsity: request.sparsity,
      denseLayers: request.denseLayers,
    }).map((layer) => [layer.name, layer.kept]),
  );

export const cyclesparseSchedule: ScheduleFactory = (spec) => new LrSchedule(spec);
