/**
 * The gate: make sure every run a claims suite needs is in the store (running the missing ones
 * in parallel), evaluate the claims, and say whether the release may go (every gating claim
 * holds). Also writes a suite's measured baseline from the same runs.
 */

import { planConfigs } from '../harness/plan.js';
import { runSweep, type StopSignal, type SweepOptions } from '../harness/sweep.js';
import type { RunConfig } from '../config/schema.js';
import { Store } from '../store/store.js';
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
import { storeSource, type RunSource, type RunSummary } from './run-source.js';

export interface GateOptions {
  readonly store: string;
  /** Run what is missing (default true); false reports those claims as missing. */
  readonly run: boolean;
  readonly concurrency: number;
  readonly progress: SweepOptions['progress'];
  readonly external?: readonly ExternalRow[];
  /** Called once the runs are in the store, before the claims are evaluated (to write a baseline). */
  readonly beforeEvaluate?: (source: RunSource, value: RunValue) => void;
  /** `--log` sinks the runs it trains stream their metrics to (checked by the caller). */
  readonly log?: SweepOptions['log'];
}

/**
 * Best or final test accuracy of a stored result's last cycle, or of its k-th (1-based; undefined
 * when the run has fewer).
 */
export function metricOf(
  result: RunSummary | undefined,
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
  source: RunSource,
  log: (line: string) => void = () => {},
): Promise<RunValue> {
  const analysis = new Map<string, number>();
  const wanted = evaluateSuite(loaded, () => undefined, [], { checkBaselines: false })
    .claims.filter((c) => ANALYSIS_METRICS.has(c.metric))
    .flatMap((c) => c.runIds.map((id) => ({ id, metric: c.metric })));
  const ids = [...new Set(wanted.map((w) => w.id))].filter(
    (id) => source.result(id)?.status === 'completed',
  );
  for (const [n, id] of ids.entries()) {
    log(`analysing ${id} (${n + 1}/${ids.length})`);
    const series = await source.cycleSeries(id);
    const meanOverPairs = (barrier: (pair: (typeof series.pairs)[number]) => number) =>
      series.pairs.reduce((s, p) => s + barrier(p), 0) / series.pairs.length;
    if (series.pairs.length > 0) {
      analysis.set(
        `${id}:barrier`,
        meanOverPairs((p) => p.testErrorBarrier),
      );
      analysis.set(
        `${id}:barrier-linear`,
        meanOverPairs((p) => p.testErrorBarrierLinear),
      );
    }
    analysis.set(`${id}:sharpness`, await source.sharpness(id));
  }
  // Analysis metrics are over a run's cycles as a whole: loadSuite refuses another cycle for them.
  return (id, metric, cycle = 'last') =>
    metric === 'best' || metric === 'final'
      ? metricOf(source.result(id), metric, cycle)
      : analysis.get(`${id}:${metric}`);
}

/** Configurations the suite needs that have no result in the store yet. */
export function missingRuns(loaded: LoadedSuite, store: Store): RunConfig[] {
  return [...suiteRuns(loaded.suite)]
    .filter(([id]) => store.result(id) === undefined)
    .map(([, config]) => config);
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
  const source = storeSource(store);
  const value = interrupted
    ? () => undefined
    : await suiteValues(loaded, source, (line) => {
        if (options.progress !== 'none') process.stderr.write(`${line}\n`);
      });
  if (!interrupted) options.beforeEvaluate?.(source, value); // never from half a suite
  const verdict = evaluateSuite(loaded, value, options.external ?? [], {
    runState: (id) => source.state(id),
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
