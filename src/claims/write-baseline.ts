/**
 * Measured baselines from a suite's runs: per configuration side of its claims, the values over
 * seeds and their interval, with where they came from (format in claims/baselines.ts).
 */

import { basename, resolve } from 'node:path';
import { cyclesparseVersion, gitCommit } from '../harness/provenance.js';
import { estimate } from '../stats/inference.js';
import type { BaselineProvenance, MeasuredBaselines } from './baselines.js';
import { evaluateSuite, suiteRuns, type Claim, type LoadedSuite, type RunValue } from './claims.js';
import type { RunSource, RunSummary } from './run-source.js';

/** What a baseline records of its making beyond the suite and its runs. */
export interface BaselineOrigin {
  /** The claims suite file it was measured for (its name is recorded). */
  readonly suiteFile: string;
  /** When it was measured (default: now). */
  readonly date?: Date;
  /** The cyclesparse version (default: package.json's, harness/provenance.ts). */
  readonly version?: string;
  /** The git commit (default: the checkout cyclesparse runs from, or null). */
  readonly commit?: string | null;
}

function backendOf(result: RunSummary | undefined): BaselineProvenance['backend'] {
  if (result === undefined) return { name: 'unknown', version: null, threads: 0 };
  const { name, tfjsVersion, threads, torch } = result.backend;
  return {
    name,
    version: tfjsVersion ?? torch?.torchVersion ?? null,
    threads,
    ...(torch === undefined ? {} : { device: torch.device }),
  };
}

/**
 * The runs of one side of a claim, in seed order; undefined for a side the claim lacks or one
 * of external results (those are not cyclesparse's to measure). From the suite's own definition
 * of a claim's runs (a suite of that side alone), not by cutting the claim's run list, which
 * has no runs for an external side.
 */
function sideIds(loaded: LoadedSuite, claim: Claim, key: 'a' | 'b'): string[] | undefined {
  const side = (claim as { a: Claim['a']; b?: Claim['a'] })[key];
  if (side === undefined || ('external' in side && typeof side.external === 'string'))
    return undefined;
  const alone = { ...claim, a: side, b: undefined } as unknown as Claim;
  return [...suiteRuns({ ...loaded.suite, claims: [alone] }).keys()];
}

/**
 * A measured baseline for every configuration side of the suite's claims, keyed
 * `<claim id>/a` and `<claim id>/b`, from the suite's runs, with its provenance.
 */
export function measuredBaseline(
  loaded: LoadedSuite,
  source: RunSource,
  value: RunValue,
  origin: BaselineOrigin,
): MeasuredBaselines {
  const { suite } = loaded;
  const cells: MeasuredBaselines['cells'] = {};
  let first: RunSummary | undefined;
  const verdict = evaluateSuite(loaded, value, [], { checkBaselines: false });
  for (const claim of verdict.claims) {
    if (claim.kind === 'within-baseline') continue; // it reads a cell, it does not define one
    const definition = suite.claims.find((c) => c.id === claim.id)!;
    for (const key of ['a', 'b'] as const) {
      const runIds = sideIds(loaded, definition, key);
      if (runIds === undefined || runIds.length === 0) continue;
      const values = runIds.map((id) => value(id, claim.metric, claim.cycle));
      if (values.some((v) => v === undefined)) continue;
      first ??= source.result(runIds[0]!);
      const e = estimate(values as number[]);
      cells[`${claim.id}/${key}`] = {
        mean: e.mean,
        sd: e.sd,
        n: e.n,
        ci: e.ci === null ? null : [e.ci[0], e.ci[1]],
        level: e.level,
        metric: claim.metric,
        // Written only when not the last cycle, so baselines of last-cycle claims read as before.
        ...(claim.cycle === 'last' ? {} : { cycle: claim.cycle }),
        values: values as number[],
        runIds: [...runIds],
      };
    }
  }
  const created = (origin.date ?? new Date()).toISOString();
  const version = origin.version ?? cyclesparseVersion();
  const engine = Object.fromEntries(
    Object.entries(suite.engine ?? {}).filter(([, v]) => v !== undefined),
  ) as BaselineProvenance['engine'];
  return {
    suite: suite.suite,
    created,
    cyclesparse: version,
    backend:
      first === undefined
        ? { name: 'unknown', tfjsVersion: 'unknown', threads: 0 }
        : { ...first.backend },
    provenance: {
      cyclesparse: version,
      commit: origin.commit === undefined ? gitCommit() : origin.commit,
      backend: backendOf(first),
      engine,
      overrides: (suite.overrides ?? []).map(
        (o) => `${o.key}=${typeof o.value === 'string' ? o.value : JSON.stringify(o.value)}`,
      ),
      seeds: [...suite.seeds],
      metric: suite.metric,
      cycle: suite.cycle,
      date: created,
      suiteFile: basename(origin.suiteFile),
    },
    cells,
  };
}

/** A side of runs a measured baseline has no cell for, and why (its runs without a value). */
export interface SideWithoutCell {
  /** `<claim id>/a` or `<claim id>/b`. */
  readonly key: string;
  readonly why: string;
}

/**
 * The sides of runs of the suite's claims that `baseline` has no cell for: a cell needs a value
 * for every seed. Why, per side: how many of its runs failed, diverged, have a result without
 * the claim's value (too few cycles), or are not in the store (not run: `--no-run`, left to
 * another process, or run under other overrides, backend or engine, which give other run ids).
 */
export function sidesWithoutCells(
  loaded: LoadedSuite,
  baseline: MeasuredBaselines,
  source: RunSource,
  value: RunValue,
): SideWithoutCell[] {
  const { suite } = loaded;
  const verdict = evaluateSuite(loaded, value, [], { checkBaselines: false });
  const sides: SideWithoutCell[] = [];
  for (const claim of verdict.claims) {
    if (claim.kind === 'within-baseline') continue;
    const definition = suite.claims.find((c) => c.id === claim.id)!;
    for (const key of ['a', 'b'] as const) {
      const runIds = sideIds(loaded, definition, key);
      if (runIds === undefined || runIds.length === 0) continue;
      if (baseline.cells[`${claim.id}/${key}`] !== undefined) continue;
      const reasons = new Map<string, number>();
      for (const id of runIds) {
        if (value(id, claim.metric, claim.cycle) !== undefined) continue;
        const state = source.state(id);
        const reason =
          state ??
          (source.result(id) === undefined
            ? 'not in the store'
            : `without a ${claim.metric} value${claim.cycle === 'last' ? '' : ` of cycle ${claim.cycle}`}`);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      const why = [...reasons].map(([reason, n]) => `${n} ${reason}`).join(', ');
      sides.push({ key: `${claim.id}/${key}`, why: `${why} of its ${runIds.length} runs` });
    }
  }
  return sides;
}

/** The within-baseline claims of the suite that read `file` (paths compared resolved). */
export function claimsReading(loaded: LoadedSuite, file: string): string[] {
  const target = resolve(file);
  return loaded.suite.claims
    .filter(
      (claim) =>
        claim.kind === 'within-baseline' && resolve(loaded.dir, claim.baseline.file) === target,
    )
    .map((claim) => claim.id);
}
