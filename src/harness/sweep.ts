/**
 * Running many cells on one machine: a pool of child processes (tinypool), `concurrency` at a
 * time, each executing runs one after another against the shared store — finished cells are skipped and
 * interrupted ones resume, so re-running a stopped sweep continues where it stopped.
 *
 * Progress is read from the store itself (epochs recorded in each run's metrics), so workers need
 * no channel back: on a terminal, one bar per running cell and an overall bar with ETA
 * (cli-progress); in CI or without a TTY, one plain line per event.
 */

import cliProgress from 'cli-progress';
import { Tinypool } from 'tinypool';
import { Store, type RunStatus } from '../store/store.js';
import { cellThreads, type PlannedRun } from './plan.js';
import type { CellOutcome, CellTask } from './pool-task.js';
import type { SinkSpec } from '../sinks/sink.js';

export interface SweepOptions {
  readonly store: string;
  readonly concurrency: number;
  readonly progress: 'bars' | 'lines' | 'none';
  /** Where progress lines go (stderr by default, so stdout stays machine-readable). */
  readonly write?: (line: string) => void;
  /** `--log` sinks, built in each cell process (checked by the caller before the sweep). */
  readonly log?: readonly SinkSpec[];
}

export interface SweepSummary {
  readonly outcomes: readonly CellOutcome[];
  readonly seconds: number;
  readonly interrupted: boolean;
  /** The signal that interrupted the sweep (SIGINT for Ctrl-C, SIGTERM, SIGHUP). */
  readonly signal?: StopSignal;
}

/** The signals that stop a sweep, a run or the gate gracefully: the store resumes them. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Bars on a terminal outside CI, plain lines otherwise. */
export function defaultProgress(): 'bars' | 'lines' {
  return process.stderr.isTTY && !process.env.CI ? 'bars' : 'lines';
}

const poolTask = new URL(
  import.meta.url.endsWith('.ts') ? './pool-task.ts' : './pool-task.js',
  import.meta.url,
);

export async function runSweep(
  plan: readonly PlannedRun[],
  options: SweepOptions,
): Promise<SweepSummary> {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const store = new Store(options.store);
  const started = performance.now();
  const pool = new Tinypool({
    filename: poolTask.href,
    runtime: 'child_process',
    maxThreads: options.concurrency,
    minThreads: 0,
    // Each pool process runs cell after cell: a process's start (module loading, TF.js and its
    // wasm module) cost ~0.8 s of a 2.2 s mini cell. A run leaves no state that changes another's
    // numbers (tested: the same cells give bit-identical results in fresh and reused processes);
    // after a runtime failure (a wasm abort may leave the module unusable) the pool's processes
    // are replaced.
    isolateWorkers: false,
    // Tinypool forks children with only the env given here. Pass ours on, and split the cores
    // between parallel runs so native kernels do not oversubscribe them (wasm is 1 thread anyway).
    env: {
      ...process.env,
      CYCLESPARSE_THREADS: String(cellThreads(options.concurrency)),
    },
  });
  const bars =
    options.progress === 'bars'
      ? new cliProgress.MultiBar(
          {
            format: '{label} |{bar}| {value}/{total} {unit} {eta_formatted}',
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  const overall = bars?.create(plan.length, 0, { label: 'sweep'.padEnd(26), unit: 'runs' });
  const cellBars = new Map<string, cliProgress.SingleBar>();
  let done = 0;
  const poll = setInterval(() => {
    if (bars === undefined) return;
    for (const run of plan) {
      let status: RunStatus;
      try {
        status = store.status(run.id);
      } catch {
        continue; // a stored file it cannot read: the cell's own outcome says which
      }
      if (status.state === 'running' && !cellBars.has(run.id))
        cellBars.set(
          run.id,
          bars.create(run.epochs, 0, { label: run.id.padEnd(26), unit: 'epochs' }),
        );
      cellBars.get(run.id)?.update(Math.min(status.epochs, run.epochs));
    }
  }, 500);
  let interrupted = false;
  let signal: StopSignal | undefined;
  const stop = (received: NodeJS.Signals) => {
    interrupted = true;
    signal = received as StopSignal;
    // A second signal gets its default action: the process is killed, its runs resume later.
    for (const name of STOP_SIGNALS) process.removeListener(name, stop);
    void pool.destroy();
  };
  for (const name of STOP_SIGNALS) process.on(name, stop);
  try {
    const outcomes = await Promise.all(
      plan.map(async (run) => {
        const task: CellTask = {
          config: run.config,
          store: options.store,
          ...(options.log === undefined ? {} : { log: options.log }),
        };
        let outcome: CellOutcome;
        try {
          outcome = (await pool.run(task)) as CellOutcome;
          if (outcome.state === 'failed' && outcome.kind === 'runtime') void pool.recycleWorkers();
        } catch (error) {
          outcome = interrupted
            ? { state: 'interrupted', id: run.id }
            : // The pool process itself failed (crashed or was killed).
              { state: 'failed', id: run.id, error: (error as Error).message, kind: 'runtime' };
        }
        done++;
        overall?.update(done);
        const bar = cellBars.get(run.id);
        if (bar !== undefined) bars?.remove(bar); // one bar per *running* cell
        if (options.progress === 'lines') write(`[${done}/${plan.length}] ${describe(outcome)}`);
        return outcome;
      }),
    );
    return {
      outcomes,
      seconds: (performance.now() - started) / 1000,
      interrupted,
      ...(signal === undefined ? {} : { signal }),
    };
  } finally {
    clearInterval(poll);
    bars?.stop();
    for (const name of STOP_SIGNALS) process.removeListener(name, stop);
    await pool.destroy();
  }
}

export function describe(outcome: CellOutcome): string {
  switch (outcome.state) {
    case 'finished':
    case 'diverged':
      return `${outcome.id} ${outcome.state}${outcome.skipped ? ' (already in the store)' : outcome.resumed ? ' (resumed)' : ''}`;
    case 'running-elsewhere':
      return `${outcome.id} is running in another process: left to it`;
    case 'failed':
      return `${outcome.id} FAILED: ${outcome.error}`;
    case 'interrupted':
      return `${outcome.id} interrupted (resumes on the next run)`;
  }
}
