/**
 * A law is one named fast-check property that an implementation must satisfy. Contracts are
 * lists of laws built for one implementation, in the style of fast-check's own
 * `ArbitraryAssertions`: every implementation — ours or a user's — is held to the same list.
 *
 * Laws are async properties so that an implementation under test may return a promise (a pruner
 * that reads tensors back from a GPU, say). Run one with {@link checkLaw} or `fc.assert`; a
 * failure reports `{ seed, path }`, and passing them back replays the counterexample exactly.
 */

import fc from 'fast-check';

export interface Law {
  /** What must hold, as a sentence: used as the test name. */
  readonly name: string;
  readonly property: fc.IAsyncProperty<unknown>;
}

/**
 * Runs one law; rejects with fast-check's report when it fails: the counterexample, `{ seed,
 * path }` to replay it, and the law's own message saying what went wrong.
 */
export async function checkLaw(law: Law, parameters: fc.Parameters<unknown> = {}): Promise<void> {
  await fc.assert(law.property, { includeErrorInReport: true, ...parameters });
}

/** Builds a law from one arbitrary and an assertion that throws (or returns false) on failure. */
export function law<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<boolean | void> | boolean | void,
): Law {
  const property = fc.asyncProperty(arbitrary, async (value) => {
    const result = await predicate(value);
    return result !== false;
  });
  return { name, property };
}

/** Throws an Error with `message` unless `condition` holds (laws report by throwing). */
export function expectThat(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}
