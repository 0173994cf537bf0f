/**
 * The gate: make sure every run a claims suite needs is in the store (running the missing ones
 * in parallel), evaluate the claims, and say whether the release may go (every gating claim
 * holds). Also writes a suite's measured baseline from the same runs.
 */

import { cycleSeries, storedSharpness } from '../analysis/stored.js';
import { planConfigs } from '../harness/plan.js';
import { runSweep, type StopSignal, type SweepOptions } from '../harness/sweep.js';
import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/runner.js';
import { Store } from '../store/store.js';
import { estimate } from '../stats/inference.js';
import type { MeasuredBaselines } from './baselines.js';
import {
  ANALYSIS_METRICS,
  type Cycle,
  evaluateSuite,
  type RunValue,
  suiteRuns,
  type ExternalRow,
  type LoadedSuite,
  type SuiteVerdict,
} from './claims.js';

export interface GateOptions {
  readonly store: string;
  /** Run what is missing (default true); false reports those claims as missing. */
  readonly run: boolean;
  readonly concurrency: number;
  readonly progress: SweepOptions['progress'];
  readonly external?: readonly ExternalRow[];
  /** Called once the runs are in the store, before the claims are evaluated (to write a baseline). */
  readonly beforeEvaluate?: (store: Store, value: RunValue) => void;
  /** `--log` sinks the runs it trains stream their metrics to (checked by the caller). */
  readonly log?: SweepOptions['log'];
}

/**
 * Best or final test accuracy of a stored result's last cycle, or of its k-th (1-based; undefined
 * when the run has fewer).
 */
export function metricOf(
  result: PipelineResult | undefined,
  metric: 'best' | 'final',
  cycle: Cycle = 'last',
): number | undefined {
  const record = cycle === 'last' ? result?.cycles.at(-1) : result?.cycles[cycle - 1];
  if (record === undefined || result?.status !== 'completed') return undefined;
  return metric === 'best' ? record.testAccuracy.best : record.testAccuracy.final;
}

/**
 * The value of every run under every metric the suite's claims use. Accuracies are read from
 * results; analysis metrics are computed from the runs' stored cycle networks (cached beside the
 * runs, so only the first gate pays): `barrier` is the mean test-error barrier between
 * consecutive cycles, `sharpness` the top Hessian eigenvalue at the end of the last cycle.
 */
export async function suiteValues(
  loaded: LoadedSuite,
  store: Store,
  log: (line: string) => void = () => {},
): Promise<RunValue> {
  const analysis = new Map<string, number>();
  const wanted = evaluateSuite(loaded, () => undefined, [], { checkBaselines: false })
    .claims.filter((c) => ANALYSIS_METRICS.has(c.metric))
    .flatMap((c) => c.runIds.map((id) => ({ id, metric: c.metric })));
  const ids = [...new Set(wanted.map((w) => w.id))].filter(
    (id) => store.result(id)?.status === 'completed',
  );
  for (const [n, id] of ids.entries()) {
    log(`analysing ${id} (${n + 1}/${ids.length})`);
    const series = await cycleSeries(store, id);
    if (series.pairs.length > 0)
      analysis.set(
        `${id}:barrier`,
        series.pairs.reduce((s, p) => s + p.testErrorBarrier, 0) / series.pairs.length,
      );
    const last = series.cycles.at(-1);
    analysis.set(
      `${id}:sharpness`,
      last?.sharpness ?? (await storedSharpness(store, id)).result.eigenvalues[0]!.value,
    );
  }
  // Analysis metrics are over a run's cycles as a whole: loadSuite refuses another cycle for them.
  return (id, metric, cycle = 'last') =>
    metric === 'best' || metric === 'final'
      ? metricOf(store.result(id), metric, cycle)
      : analysis.get(`${id}:${metric}`);
}

/** Configurations the suite needs that have no result in the store yet. */
export function missingRuns(loaded: LoadedSuite, store: Store): RunConfig[] {
  return [...suiteRuns(loaded.suite)]
    .filter(([id]) => store.result(id) === undefined)
    .map(([, config]) => config);
}

/** How a needed run without a value ended, from the store: failed, diverged, or neither. */
export function runStateIn(store: Store): (id: string) => 'failed' | 'diverged' | undefined {
  return (id) => {
    const { state } = store.status(id);
    return state === 'failed' || state === 'diverged' ? state : undefined;
  };
}

export interface GateOutcome {
  readonly verdict: SuiteVerdict;
  readonly seconds: number;
  readonly ran: number;
  readonly interrupted: boolean;
  /** The signal that interrupted it. */
  readonly signal?: StopSignal;
  /** Needed runs that another process was running (left to it; their claims are missing). */
  readonly runningElsewhere: readonly string[];
}

export async function gate(loaded: LoadedSuite, options: GateOptions): Promise<GateOutcome> {
  const store = new Store(options.store);
  const missing = missingRuns(loaded, store);
  let seconds = 0;
  let interrupted = false;
  let signal: StopSignal | undefined;
  let runningElsewhere: string[] = [];
  if (options.run && missing.length > 0) {
    const summary = await runSweep(planConfigs(missing), {
      store: options.store,
      concurrency: options.concurrency,
      progress: options.progress,
      ...(options.log === undefined ? {} : { log: options.log }),
    });
    seconds = summary.seconds;
    interrupted = summary.interrupted;
    signal = summary.signal;
    runningElsewhere = summary.outcomes
      .filter((o) => o.state === 'running-elsewhere')
      .map((o) => o.id);
  }
  const value = interrupted
    ? () => undefined
    : await suiteValues(loaded, store, (line) => {
        if (options.progress !== 'none') process.stderr.write(`${line}\n`);
      });
  if (!interrupted) options.beforeEvaluate?.(store, value); // never from half a suite
  const verdict = evaluateSuite(loaded, value, options.external ?? [], {
    runState: runStateIn(store),
  });
  return {
    verdict,
    seconds,
    ran: options.run ? missing.length : 0,
    interrupted,
    ...(signal === undefined ? {} : { signal }),
    runningElsewhere,
  };
}

/**
 * A measured baseline for every configuration side of the suite's claims, keyed
 * `<claim id>/a` and `<claim id>/b`, from the runs in the store.
 */
export function measuredBaseline(
  loaded: LoadedSuite,
  store: Store,
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
      const results = runIds.map((id) => store.result(id));
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
