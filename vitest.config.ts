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
    // CI also writes a JSON summary, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results.json' },
  },
});
