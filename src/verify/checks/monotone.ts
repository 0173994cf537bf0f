/** `monotone`: a weight pruned at one level stays pruned at every later level. */

import { revivalViolation } from '../../contracts/checks.js';
import type { Check } from './check.js';

export const monotone: Check<'monotone'> = {
  id: 'monotone',
  title: 'masks only shrink from level to level',
  needs: () => 'fewer than one level',
  start: ({ manifest, layers }, tally) => ({
    visit(level) {
      tally.checked++;
      tally.failOn(
        revivalViolation(layers, level.before.masks, level.masks),
        level.index,
        level.masksFile,
      );
    },
    passDetail: () => `${manifest.levels.length} level(s)`,
  }),
};
