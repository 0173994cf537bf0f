/**
 * Metric sinks: where a run's per-epoch metrics stream besides the store (TensorBoard event
 * files, an MLflow tracking server). The store stays the record: a sink is told what happened and
 * can never change or lose a stored result — a sink that fails mid-run is warned about once and
 * dropped, and training goes on.
 *
 * Sinks are named on the command line by `--log` specs (plain data, so they cross into sweep
 * cell processes); each process builds its own sinks from them ({@link createSinks}).
 */

import type { RunConfig } from '../config/schema.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { EpochRecord } from '../methods/types.js';

/** What `--log` names. */
export type SinkSpec =
  { readonly kind: 'tensorboard'; readonly dir: string } | { readonly kind: 'mlflow' };

export const LOG_SPEC_FORMS = 'tensorboard=DIR or mlflow';

/**
 * One `--log` value. One token per sink (`tensorboard=DIR`, not `tensorboard DIR`): a second
 * token would be taken from the positional arguments (the configuration file, `key=value`
 * overrides) that may follow the option.
 */
export function parseLogSpec(value: string): SinkSpec {
  const text = value.trim();
  if (text === 'mlflow') return { kind: 'mlflow' };
  const match = /^tensorboard=(.+)$/.exec(text);
  if (match !== null) return { kind: 'tensorboard', dir: match[1]! };
  if (text === 'tensorboard')
    throw new InvalidArgumentError(
      '--log',
      LOG_SPEC_FORMS,
      value,
      `--log: tensorboard needs a directory: --log tensorboard=DIR (allowed: ${LOG_SPEC_FORMS})`,
    );
  throw new InvalidArgumentError('--log', LOG_SPEC_FORMS, value);
}

/** The start of a run that is trained here (not one skipped as finished). */
export interface RunStart {
  readonly id: string;
  readonly config: RunConfig;
  /** The backend the run trains on (the engine's name). */
  readonly backend: string;
  /**
   * Epochs already in the store (a resumed run): the step of the first epoch this process
   * reports. Steps are positions in the run's metrics.jsonl, counted from 0.
   */
  readonly firstStep: number;
  /** The cyclesparse version training it (the run's provenance says the same). */
  readonly version?: string;
}

/** One epoch's metrics, as stored in the run's metrics.jsonl (line `step`). */
export interface EpochEvent {
  readonly step: number;
  readonly phase: string;
  readonly level: number;
  readonly epoch: number;
  readonly cycle: number;
  /** Metric name → value, named as {@link epochValues} names them. */
  readonly values: Readonly<Record<string, number>>;
  /** When the epoch was recorded, in milliseconds since 1970. */
  readonly time: number;
}

/** How the run ended; `interrupted` runs resume later (under the same run id). */
export interface RunEnd {
  readonly status: 'finished' | 'diverged' | 'failed';
}

export interface MetricSink {
  /** For warnings: which sink (and where it writes). */
  readonly name: string;
  start(run: RunStart): Promise<void>;
  epoch(event: EpochEvent): Promise<void>;
  end(event: RunEnd): Promise<void>;
}

/** The metrics of one epoch record, under the names every sink uses. */
export function epochValues(record: EpochRecord): Record<string, number> {
  return {
    'train/loss': record.metrics.trainLoss,
    'train/accuracy': record.metrics.trainAccuracy,
    'train/learning_rate': record.metrics.learningRate,
    'train/seconds': record.metrics.seconds,
    'test/loss': record.test.loss,
    'test/accuracy': record.test.accuracy,
    cycle: record.metrics.cycle,
    level: record.level,
  };
}

/** The event for the epoch record stored at line `step`. */
export function epochEvent(record: EpochRecord, step: number, time = Date.now()): EpochEvent {
  return {
    step,
    phase: record.phase,
    level: record.level,
    epoch: record.metrics.epoch,
    cycle: record.metrics.cycle,
    values: epochValues(record),
    time,
  };
}

/**
 * The resolved configuration as flat `dotted.key` → text pairs (MLflow params). Arrays and
 * values of arrays are written as JSON; an absent optional value is left out.
 */
export function flattenParams(value: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (v: unknown, key: string) => {
    if (v === undefined) return;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>))
        visit(inner, key === '' ? k : `${key}.${k}`);
      return;
    }
    out[key] = typeof v === 'string' ? v : JSON.stringify(v);
  };
  visit(value, prefix);
  return out;
}

/**
 * Several sinks as one. A sink that throws is reported once through `warn` and not called
 * again: stored results never depend on a sink, and training goes on.
 */
export function fanOut(
  sinks: readonly MetricSink[],
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): MetricSink {
  const live = new Set(sinks);
  let started = false;
  let id: string | undefined;
  const each = async (call: (sink: MetricSink) => Promise<void>) => {
    for (const sink of [...live]) {
      try {
        await call(sink);
      } catch (error) {
        live.delete(sink);
        warn(
          `warning: ${sink.name}${id === undefined ? '' : ` (run ${id})`}: ${(error as Error).message}; no more metrics go to it (training goes on, the store keeps every result)`,
        );
      }
    }
  };
  return {
    name: sinks.map((s) => s.name).join(', '),
    start: (run) => {
      started = true;
      id = run.id;
      return each((s) => s.start(run));
    },
    epoch: (event) => each((s) => s.epoch(event)),
    // A run that failed before it started training (its configuration, its data) never started
    // its sinks: nothing to end.
    end: (event) => (started ? each((s) => s.end(event)) : Promise.resolve()),
  };
}
