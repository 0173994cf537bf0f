import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import the contracts the way users do, from the package's own subpath.
  resolve: {
    alias: {
      'cyclesparse/contracts': new URL('./src/contracts/index.ts', import.meta.url).pathname,
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'properties/**/*.test.ts'],
    setupFiles: ['properties/setup.ts'],
    testTimeout: 60_000,
    // vitest's default is one worker on a 2-core machine; most of the suite's time is child
    // processes and waits, so two files at once finish sooner (process-heavy tests have 3 minutes).
    maxWorkers: 2,
    // CI also writes a JSON summary, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results.json' },
  },
});
