/**
 * Measured baselines from a suite's runs: per configuration side of its claims, the values over
 * seeds and their interval (format in claims/baselines.ts).
 */

import { estimate } from '../stats/inference.js';
import type { MeasuredBaselines } from './baselines.js';
import { evaluateSuite, type LoadedSuite, type RunValue } from './claims.js';
import type { RunSource } from './run-source.js';

/**
 * A measured baseline for every configuration side of the suite's claims, keyed
 * `<claim id>/a` and `<claim id>/b`, from the runs in the store.
 */
export function measuredBaseline(
  loaded: LoadedSuite,
  source: RunSource,
  value: RunValue,
  version: string,
): MeasuredBaselines {
  const { suite } = loaded;
  const cells: MeasuredBaselines['cells'] = {};
  let backend: MeasuredBaselines['backend'] | undefined;
  const verdict = evaluateSuite(loaded, value, [], { checkBaselines: false });
  for (const claim of verdict.claims) {
    if (claim.kind === 'within-baseline') continue; // it reads a cell, it does not define one
    const ids = claim.runIds;
    const half =
      claim.kind === 'greater' || claim.kind === 'equivalent' ? suite.seeds.length : ids.length;
    const sides: [string, readonly string[]][] = [[`${claim.id}/a`, ids.slice(0, half)]];
    if (half < ids.length) sides.push([`${claim.id}/b`, ids.slice(half)]);
    for (const [key, runIds] of sides) {
      if (runIds.length === 0) continue;
      const results = runIds.map((id) => source.result(id));
      const values = runIds.map((id) => value(id, claim.metric, claim.cycle));
      if (values.some((v) => v === undefined)) continue;
      backend ??= { ...results[0]!.backend };
      const e = estimate(values as number[]);
      cells[key] = {
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
  return {
    suite: suite.suite,
    created: new Date().toISOString(),
    cyclesparse: version,
    backend: backend ?? { name: 'unknown', tfjsVersion: 'unknown', threads: 0 },
    cells,
  };
}
