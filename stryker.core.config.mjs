// `npm run mutate:core`: the core's counting and schedule rules (conventions, layer densities,
// pruning levels, LR schedules, prune) against their own unit and property tests
// (MUTATE_TESTS=fast in vitest.mutate.config.ts). The full run (`npm run mutate`) instruments the
// selection and apportionment hot loops too and takes many hours on 2 cores; this one, about an
// hour.
import base from './stryker.config.mjs';

process.env.MUTATE_TESTS = 'fast';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: [
    'src/core/conventions.ts',
    'src/core/densities.ts',
    'src/core/density-schedule.ts',
    'src/core/lr-schedule.ts',
    'src/core/prune.ts',
  ],
  htmlReporter: { fileName: 'reports/mutation/core/index.html' },
  jsonReporter: { fileName: 'reports/mutation/core/mutation.json' },
};
