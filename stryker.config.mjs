// Mutation testing (`npm run mutate`; not part of `npm test`: it runs for hours on 2 cores).
// Mutates the folders that hold the rules (core, prune, methods, the optimizer, the trainer, the
// contracts) and runs, per mutant, only the tests that cover it. Properties run with a fixed
// seed so that a mutant is killed or not on every run alike. Report: reports/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/core/**/*.ts',
    'src/prune/**/*.ts',
    'src/methods/**/*.ts',
    'src/engine/sgd.ts',
    'src/train/**/*.ts',
    'src/contracts/**/*.ts',
    '!**/*.test.ts',
  ],
  // Module-level constants would run every test per mutant; their values are pinned by tests.
  ignoreStatic: true,
  concurrency: 2,
  timeoutFactor: 1.5,
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 40,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
