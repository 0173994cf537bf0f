/**
 * Replaying a failing property: fast-check prints `{ seed, path }` with every counterexample.
 * Set them in the environment and filter to the one test, and the run replays that exact
 * counterexample without searching again:
 *
 *   FC_SEED=1234 FC_PATH="3:1:0" npx vitest run properties/pruning.test.ts -t "exact"
 *
 * FC_NUM_RUNS raises (or lowers) the number of generated cases for every property.
 */

import fc from 'fast-check';

function integerFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new Error(`${name}: expected an integer, got ${JSON.stringify(text)}`);
  return value;
}

const seed = integerFromEnv('FC_SEED');
const numRuns = integerFromEnv('FC_NUM_RUNS');
const path = process.env.FC_PATH;
if (path !== undefined && seed === undefined)
  throw new Error('FC_PATH: replaying a path needs FC_SEED too');

fc.configureGlobal({
  ...fc.readConfigureGlobal(),
  ...(seed === undefined ? {} : { seed }),
  ...(path === undefined || path === '' ? {} : { path, endOnFailure: true }),
  ...(numRuns === undefined ? {} : { numRuns }),
});
