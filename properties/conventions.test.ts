/**
 * Conventions (core/conventions.ts): every contract holds under each preset's rules. The counts
 * are compared with the peers' own in conventions-peers.test.ts.
 */

import { describe, test } from 'vitest';
import {
  checkLaw,
  cyclesparseDensitiesWith,
  cyclesparsePrunerWith,
  cyclesparseSchedule,
  distributionContract,
  pruningContract,
  scheduleContract,
} from '../src/contracts/index.js';
import { CONVENTIONS, CONVENTION_NAMES } from '../src/core/conventions.js';

const runs = { numRuns: 40 };

for (const name of CONVENTION_NAMES.filter((n) => n !== 'cyclesparse')) {
  const rules = CONVENTIONS[name];
  describe(`contracts under conventions: ${name}`, () => {
    const pruning = pruningContract(cyclesparsePrunerWith(rules), {
      countingRule: rules.counting,
      levels: rules.levels,
    });
    for (const law of pruning) test(`pruning: ${law.name}`, () => checkLaw(law, runs));
    const densities = distributionContract(cyclesparseDensitiesWith(rules), {
      countingRule: rules.counting,
      layerCounts: rules.layerCounts,
    });
    for (const law of densities) test(`densities: ${law.name}`, () => checkLaw(law, runs));
    const schedules = scheduleContract(cyclesparseSchedule, { boundaries: rules.lrBoundaries });
    for (const law of schedules) test(`schedule: ${law.name}`, () => checkLaw(law, runs));
  });
}
