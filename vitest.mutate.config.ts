import { defineConfig } from 'vitest/config';

// The tests that exercise the mutated folders (stryker.config.mjs): the core's, the properties,
// the methods', the trainer's, the engine's and verify's. Integration tests of the CLI, store and
// queue are left out: they would multiply the run time and add little for these folders.
export default defineConfig({
  resolve: {
    alias: {
      'cyclesparse/contracts': new URL('./src/contracts/index.ts', import.meta.url).pathname,
    },
  },
  test: {
    // MUTATE_TESTS=fast: the unit and property tests of the core and the contracts only (the
    // run `npm run mutate:core` uses: minutes, not hours).
    include:
      process.env.MUTATE_TESTS === 'fast'
        ? [
            'src/core/**/*.test.ts',
            'properties/{contracts,conventions,densities,example-user-pruner,levels,mask,pruning,schedules,streams}.test.ts',
          ]
        : [
            'src/core/**/*.test.ts',
            'src/methods/**/*.test.ts',
            'src/train/trainer.test.ts',
            'src/engine/engine.test.ts',
            'src/verify/verify.test.ts',
            'properties/**/*.test.ts',
          ],
    setupFiles: ['properties/setup.ts'],
    testTimeout: 120_000,
    // A fixed seed: a mutant is killed or survives alike on every run.
    env: { FC_SEED: '20261127', FC_NUM_RUNS: '25' },
  },
});
