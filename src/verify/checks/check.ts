/**
 * What every check of `cyclesparse verify` is: one invariant, what it needs to be checkable, and
 * a run that sees the artifact's levels one at a time. The driver (verify.ts) streams each level
 * through every run once and turns each run's tally into pass, fail or not-checkable.
 */

import type { Manifest } from '../manifest.js';
import type { Artifact, Level } from '../artifact.js';
import { offenceAt, type Offence } from '../offence.js';

export { offenceAt, type Offence } from '../offence.js';

export type CheckStatus = 'pass' | 'fail' | 'not-checkable';

/** A check's result, before the report adds its id and title. */
export interface Verdict {
  readonly status: CheckStatus;
  readonly detail: string;
  /** The first offending level, file, tensor and flat index, for a failure. */
  readonly where?: Offence;
}

/** What one check has seen so far: its first failure, and how many levels (or files) it could check. */
export class Tally {
  failure: { detail: string; where: Offence } | undefined;
  checked = 0;

  fail(detail: string, where: Offence): void {
    this.failure ??= { detail, where };
  }

  /** Fails with a contract check's violation at `level`, where it found one. */
  failOn(
    violation: { message: string; layer?: string; index?: number } | undefined,
    level: number,
    file?: string,
  ): void {
    if (violation)
      this.fail(`level ${level}: ${violation.message}`, offenceAt(level, file, violation));
  }
}

/** A check under way on one artifact. */
export interface CheckRun {
  /** The report's detail when the check passed. */
  passDetail(): string;
}

export interface LevelRun extends CheckRun {
  /** One level whose masks are valid (`masks` admitted it), in order. */
  visit(level: Level): void;
}

export interface Check<Id extends string, Run extends CheckRun = LevelRun> {
  readonly id: Id;
  /** The invariant, as the report names it. */
  readonly title: string;
  /** What it needs to be checkable: the report's detail when no level had it. */
  needs(manifest: Manifest): string;
  /** Starts it on one artifact; what it finds goes into `tally`. */
  start(artifact: Artifact, tally: Tally): Run;
}

/** The report's verdict on a finished run. */
export function verdictOf(
  check: Check<string, CheckRun>,
  { failure, checked }: Tally,
  run: CheckRun,
  manifest: Manifest,
): Verdict {
  if (failure) return { status: 'fail', detail: failure.detail, where: failure.where };
  if (checked === 0) return { status: 'not-checkable', detail: check.needs(manifest) };
  return { status: 'pass', detail: run.passDetail() };
}
