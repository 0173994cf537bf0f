/**
 * `cyclesparse verify`: the pruning contract's invariants checked on what another framework
 * saved. Each invariant is one check (checks/*.ts) calling the contract's own functions
 * (contracts/checks.ts, contracts/distribution.ts), so an artifact is held to exactly what the
 * property suites hold cyclesparse's pruners to. The levels are streamed through every check
 * once (artifact.ts): only the previous level is kept.
 */

import { openArtifact, readLevels, type VerifyOptions } from './artifact.js';
import { Tally, verdictOf, type Check, type CheckRun, type Verdict } from './checks/check.js';
import { collapse } from './checks/collapse.js';
import { counts } from './checks/counts.js';
import { distribution } from './checks/distribution.js';
import { masks } from './checks/masks.js';
import { monotone } from './checks/monotone.js';
import { rewind } from './checks/rewind.js';
import { scoreOrder } from './checks/score-order.js';
import { storedZero } from './checks/stored-zero.js';
import type { Manifest } from './manifest.js';

export type { CheckStatus, Offence } from './checks/check.js';
export type { VerifyOptions } from './artifact.js';

/**
 * The checks that see each admitted level, in the report's order after `masks` (which admits
 * them). `counts` comes before `score-order`: at each level it narrows the scopes that
 * score-order then ranks in.
 */
const LEVEL_CHECKS = [
  counts,
  monotone,
  storedZero,
  rewind,
  distribution,
  scoreOrder,
  collapse,
] as const;

export type CheckId = typeof masks.id | (typeof LEVEL_CHECKS)[number]['id'];

/** Each check's title, by id. */
export const CHECKS = Object.fromEntries(
  [masks, ...LEVEL_CHECKS].map((check) => [check.id, check.title]),
) as Readonly<Record<CheckId, string>>;

export interface CheckOutcome extends Verdict {
  readonly id: CheckId;
  readonly title: string;
}

export interface VerifyReport {
  readonly artifact: string;
  readonly manifest: string;
  readonly inferred: readonly string[];
  readonly method: Manifest['method'];
  readonly levels: number;
  readonly layers: number;
  readonly weights: number;
  /** Observed sparsity of the prunable weights at each level. */
  readonly sparsities: readonly number[];
  readonly checks: readonly CheckOutcome[];
  /** True when every checkable invariant holds. */
  readonly passed: boolean;
  readonly seconds: number;
}

/**
 * Checks the artifact at `path`. It reads only regular files inside the artifact's directory,
 * each within `options.maxBytes`, unless `options` allow more (docs/VERIFY.md, "Limits").
 */
export function verifyArtifact(path: string, options: VerifyOptions = {}): VerifyReport {
  const started = performance.now();
  const artifact = openArtifact(path, options);
  const begin = <Id extends string, Run extends CheckRun>(check: Check<Id, Run>) => {
    const tally = new Tally();
    return { check, tally, run: check.start(artifact, tally) };
  };
  const gate = begin(masks);
  const runs = LEVEL_CHECKS.map(begin);
  const sparsities: number[] = [];
  for (const level of readLevels(artifact, gate.run.admit)) {
    sparsities.push(level.pruned.total / artifact.total);
    for (const { run } of runs) run.visit(level);
  }
  const checks = [gate, ...runs].map(({ check, tally, run }): CheckOutcome => ({
    id: check.id,
    title: check.title,
    ...verdictOf(check, tally, run, artifact.manifest),
  }));
  return {
    artifact: path,
    manifest: artifact.source,
    inferred: artifact.inferred,
    method: artifact.manifest.method,
    levels: artifact.manifest.levels.length,
    layers: artifact.layers.length,
    weights: artifact.total,
    sparsities,
    checks,
    passed: checks.every((c) => c.status !== 'fail'),
    seconds: (performance.now() - started) / 1000,
  };
}
