/**
 * `npm run bench:estimate [-- --seeds N] [-- --backend wasm|native] [-- --concurrency N]`: the
 * `--dry-run` estimate against the measured time on the mini suite (`reproduce mini`'s runs:
 * every method of the suite, seeds 0..N-1, default all 5).
 *
 * For each run: the estimate (measured on synthetic data, as a dry run does), then the real run
 * in this process, one after another, timed around executeRun. Then the estimate of the whole
 * suite as a sweep pool would run it against a real sweep of it (fresh store, fresh processes).
 * Prints estimate/measured per run, per method and overall; the issue's bar is ≤ 1.5× either way.
 * Numbers depend on the machine and its load (printed): quote them with it, never assert them.
 *
 * `--calibrate` also prints the fixed costs the model leaves out (measured less modelled, per run
 * and per pool process): where RUN_OVERHEAD_SECONDS and PROCESS_START_SECONDS come from.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadSuite } from '../src/claims/claims.js';
import { missingRuns } from '../src/claims/gate.js';
import { executeRun } from '../src/harness/execute.js';
import {
  estimateBasis,
  estimateTime,
  planConfigs,
  PROCESS_START_SECONDS,
  RUN_OVERHEAD_SECONDS,
  wallSeconds,
  type PlannedRun,
} from '../src/harness/plan.js';
import { methodLabel, targetOf } from '../src/harness/report-lines.js';
import { runSweep } from '../src/harness/sweep.js';
import { Store } from '../src/store/store.js';
import { table } from '../src/text/format.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '5' },
    backend: { type: 'string' },
    concurrency: { type: 'string' },
    calibrate: { type: 'boolean', default: false },
  },
});
const seeds = Number(values.seeds);
if (!Number.isSafeInteger(seeds) || seeds < 1 || seeds > 5) {
  console.error(`--seeds: expected 1 to 5, got ${JSON.stringify(values.seeds)}`);
  process.exit(2);
}
if (values.backend !== undefined && values.backend !== 'wasm' && values.backend !== 'native') {
  console.error(`--backend: expected wasm or native, got ${JSON.stringify(values.backend)}`);
  process.exit(2);
}
const cores = os.availableParallelism();
const concurrency = Number(values.concurrency ?? cores);

const suiteFile = fileURLToPath(new URL('../baselines/mini.claims.yaml', import.meta.url));
const loaded = loadSuite(
  suiteFile,
  {},
  values.backend === undefined ? {} : { backend: values.backend },
);
const scratch = mkdtempSync(join(os.tmpdir(), 'cyclesparse-bench-estimate-'));
const configs = missingRuns(loaded, new Store(join(scratch, 'empty'))).filter(
  (config) => config.seed < seeds,
);
const load = () => os.loadavg()[0]!.toFixed(2);
console.log(
  `mini suite: ${configs.length} runs (seeds 0..${seeds - 1}) on ${configs[0]!.training.backend}; ` +
    `${cores} cores, load ${load()} at the start; fixed costs in the model: ${RUN_OVERHEAD_SECONDS} s/run, ${PROCESS_START_SECONDS} s/process`,
);

const ratio = (estimate: number, measured: number) => estimate / measured;
const fmt = (x: number) => x.toFixed(2);

try {
  // 1. As a sweep (first, so the load average has none of this process's own training in it):
  //    the pool's share of threads per cell, `concurrency` cells at a time.
  const threads = Math.max(1, Math.floor(cores / concurrency));
  const pooled = await estimateTime(planConfigs(configs), { threads });
  const estimate = wallSeconds(pooled, concurrency, { threads })!;
  const loadAtEstimate = load();
  const summary = await runSweep(pooled, {
    store: join(scratch, 'sweep'),
    concurrency,
    progress: 'none',
  });
  const failed = summary.outcomes.filter((o) => o.state !== 'finished');
  if (failed.length > 0) throw new Error(`sweep: ${JSON.stringify(failed[0])}`);
  console.log(
    `sweep of ${pooled.length} runs, ${concurrency} at a time, ${threads} thread(s) each: ` +
      `estimate ${fmt(estimate)} s, measured ${fmt(summary.seconds)} s, ratio ${fmt(estimate / summary.seconds)} ` +
      `(load ${loadAtEstimate} when estimated, ${load()} at the end)`,
  );
  if (values.calibrate) {
    const noStart = wallSeconds(pooled, concurrency, { threads })! - PROCESS_START_SECONDS;
    console.log(
      `calibration: sweep measured − modelled without process start: ${fmt(summary.seconds - noStart)} s`,
    );
  }
  // 2. One after another in this process: each run's estimate (at the thread count a single
  //    `run` gets) against its own time.
  const single = await estimateTime(planConfigs(configs));
  const store = new Store(join(scratch, 'serial'));
  const rows: string[][] = [];
  const measured = new Map<string, number>();
  for (const run of single) {
    const started = performance.now();
    const outcome = await executeRun(store, run.config);
    const seconds = (performance.now() - started) / 1000;
    if (outcome.state !== 'finished') throw new Error(`${run.id}: ${JSON.stringify(outcome)}`);
    measured.set(run.id, seconds);
    rows.push([
      run.id,
      methodLabel(run.config),
      targetOf(run.config),
      String(run.config.seed),
      String(run.steps),
      fmt(run.seconds!),
      fmt(seconds),
      fmt(ratio(run.seconds!, seconds)),
    ]);
  }
  console.log(
    table([
      ['run', 'method', 'sparsity', 'seed', 'steps', 'estimate s', 'measured s', 'est/meas'],
      ...rows,
    ]),
  );
  console.log(estimateBasis(single).join('\n'));
  const sum = (runs: readonly PlannedRun[], f: (r: PlannedRun) => number) =>
    runs.reduce((s, r) => s + f(r), 0);
  const estimatedSerial = sum(single, (r) => r.seconds!);
  const measuredSerial = sum(single, (r) => measured.get(r.id)!);
  const ratios = single.map((r) => ratio(r.seconds!, measured.get(r.id)!));
  console.log(
    `one after another: estimate ${fmt(estimatedSerial)} s, measured ${fmt(measuredSerial)} s, ` +
      `ratio ${fmt(estimatedSerial / measuredSerial)} (per run ${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))}); load ${load()}`,
  );
  if (values.calibrate) {
    const modelled = single.map((r) => r.seconds! - RUN_OVERHEAD_SECONDS);
    const residual = single.map((r, i) => measured.get(r.id)! - modelled[i]!);
    // The first run also paid loading the data set; the rest show the per-run cost.
    const rest = residual.slice(1).sort((a, b) => a - b);
    console.log(
      `calibration: measured − modelled per run, median ${fmt(rest[rest.length >> 1]!)} s ` +
        `(first run ${fmt(residual[0]!)} s, range ${fmt(rest[0]!)}–${fmt(rest.at(-1)!)})`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
