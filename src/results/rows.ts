/**
 * The store as flat rows: the export's (one per run × cycle of every run with a result), the
 * per-epoch metrics, and one status row per run. Every resolved option of a run's configuration
 * is a column of its own, named by its dotted path (`training.batchSize`, `method.sparsity`).
 */

import type { RunConfig } from '../config/schema.js';
import type { RunStatus, Store } from '../store/store.js';
import {
  EPOCH_COLUMNS,
  EXPORT_SCHEMA_VERSION,
  FIXED_COLUMNS,
  STATUS_COLUMNS,
  type Column,
} from './schema.js';

export type Cell = string | number | boolean | null;
export type Row = Readonly<Record<string, Cell>>;

export interface Table {
  readonly columns: readonly Column[];
  readonly rows: readonly Row[];
}

/** A number JSON and SQL can carry: NaN and ±Infinity (a diverged loss) become null. */
const finite = (value: number): number | null => (Number.isFinite(value) ? value : null);

/**
 * `config` as dotted paths to values. Arrays (and empty objects) are one value, their JSON text:
 * a column per element would change the columns with the array's length.
 */
export function flattenConfig(config: RunConfig): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  const visit = (value: unknown, path: string): void => {
    if (value === undefined) return;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > 0) {
        for (const [key, inner] of entries) visit(inner, path === '' ? key : `${path}.${key}`);
        return;
      }
    }
    out[path] =
      value === null || typeof value === 'string' || typeof value === 'boolean'
        ? value
        : typeof value === 'number'
          ? finite(value)
          : JSON.stringify(value);
  };
  visit(config, '');
  // The fixed `seed` column is the configuration's seed: not repeated.
  delete out.seed;
  return out;
}

/** The DuckDB type of an option column from its values: BIGINT, DOUBLE, BOOLEAN or VARCHAR. */
function inferType(values: readonly Cell[]): string {
  const present = values.filter((v) => v !== null);
  if (present.length === 0) return 'VARCHAR';
  if (present.every((v) => typeof v === 'boolean')) return 'BOOLEAN';
  if (present.every((v) => typeof v === 'number'))
    return present.every((v) => Number.isSafeInteger(v)) ? 'BIGINT' : 'DOUBLE';
  return 'VARCHAR';
}

/** The option columns of `rows` (sorted by name), typed from their values; mixed types as text. */
function optionColumns(rows: Record<string, Cell>[], fixed: readonly Column[]): Column[] {
  const taken = new Set(fixed.map((c) => c.name));
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))]
    .filter((n) => !taken.has(n))
    .sort();
  return names.map((name) => {
    const type = inferType(rows.map((r) => r[name] ?? null));
    if (type === 'VARCHAR')
      for (const r of rows) {
        const v = r[name];
        if (v !== undefined && v !== null && typeof v !== 'string') r[name] = JSON.stringify(v);
      }
    return { name, type, meaning: 'resolved configuration option' };
  });
}

function withOptions(rows: Record<string, Cell>[], fixed: readonly Column[]): Table {
  const columns = [...fixed, ...optionColumns(rows, fixed)];
  const complete = rows.map((r) =>
    Object.fromEntries(columns.map((c) => [c.name, r[c.name] ?? null])),
  );
  return { columns, rows: complete };
}

/** The export: one row per run × cycle of every run of `runs` with a result. */
export function exportTable(runs: readonly RunStatus[]): Table {
  const rows: Record<string, Cell>[] = [];
  for (const run of runs) {
    const { result, config } = run;
    if (result === undefined || config === undefined) continue;
    const p = result.provenance;
    const options = flattenConfig(config);
    result.cycles.forEach((c, i) => {
      rows.push({
        schema_version: EXPORT_SCHEMA_VERSION,
        run_id: run.id,
        method: config.method.name,
        status: result.status,
        seed: config.seed,
        backend: result.backend.name,
        threads: result.backend.threads,
        cycle: i + 1,
        cycles: result.cycles.length,
        phase: c.phase,
        level: c.level,
        cycle_epochs: c.epochs,
        cycle_steps: c.steps,
        sparsity: c.sparsity,
        train_loss_final: finite(c.trainLoss.final),
        train_loss_best: finite(c.trainLoss.best),
        train_accuracy_final: c.trainAccuracy.final,
        train_accuracy_best: c.trainAccuracy.best,
        test_loss_final: finite(c.testLoss.final),
        test_loss_best: finite(c.testLoss.best),
        test_accuracy_final: c.testAccuracy.final,
        test_accuracy_best: c.testAccuracy.best,
        flops_dense: c.flopsDense,
        flops_sparse: c.flopsSparse,
        started: p?.started ?? null,
        finished: p?.finished ?? null,
        resumed_after: p?.resumedAfter ?? null,
        cyclesparse_version: p?.version ?? null,
        git_commit: p?.commit ?? null,
        host: p?.host ?? null,
        ...options,
      });
    });
  }
  return withOptions(rows, FIXED_COLUMNS);
}

/** Per-epoch metrics of every run (of runs whose metrics can be read). */
export function epochTable(store: Store, runs: readonly RunStatus[]): Table {
  const rows: Row[] = [];
  for (const run of runs) {
    if (run.state === 'unreadable') continue;
    store.metrics(run.id).forEach((e, i) => {
      rows.push({
        run_id: e.run ?? run.id,
        line: i + 1,
        at: e.at ?? null,
        phase: e.phase,
        level: e.level,
        epoch: e.metrics.epoch,
        cycle: e.metrics.cycle,
        train_loss: finite(e.metrics.trainLoss),
        train_accuracy: e.metrics.trainAccuracy,
        learning_rate: e.metrics.learningRate,
        steps: e.metrics.steps,
        seconds: e.metrics.seconds,
        test_loss: finite(e.test.loss),
        test_accuracy: e.test.accuracy,
      });
    });
  }
  return { columns: EPOCH_COLUMNS, rows };
}

/** One row per run, any state, with its options and its last cycle's metrics. */
export function statusTableRows(runs: readonly RunStatus[]): Table {
  const rows = runs.map((run): Record<string, Cell> => {
    const last = run.result?.cycles.at(-1);
    return {
      run_id: run.id,
      state: run.state,
      epochs: run.epochs,
      error: run.error ?? null,
      method: run.config?.method.name ?? null,
      seed: run.config?.seed ?? null,
      sparsity: last?.sparsity ?? null,
      test_accuracy_final: last?.testAccuracy.final ?? null,
      test_accuracy_best: last?.testAccuracy.best ?? null,
      ...(run.config === undefined ? {} : flattenConfig(run.config)),
    };
  });
  return withOptions(rows, STATUS_COLUMNS);
}
