/**
 * The export's fixed columns (docs/EXPORT.md lists the same, checked by a test), and the version
 * of the export and of `status --json`. Bump EXPORT_SCHEMA_VERSION when a fixed column is removed,
 * renamed, changes type or meaning; adding a column keeps the version.
 */

export const EXPORT_SCHEMA_VERSION = 1;
/** The version of `status --json` (each element says it as `schemaVersion`). */
export const STATUS_JSON_VERSION = 1;

/** What `cyclesparse export` writes (DuckDB's COPY formats csv, json as lines, parquet). */
export const EXPORT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface Column {
  readonly name: string;
  /** A DuckDB type name. */
  readonly type: string;
  readonly meaning: string;
}

/** One row per run × cycle of every run with a result.json; in this order, before the options. */
export const FIXED_COLUMNS: readonly Column[] = [
  { name: 'schema_version', type: 'INTEGER', meaning: 'the export schema version (1)' },
  { name: 'run_id', type: 'VARCHAR', meaning: 'the run id (its directory in the store)' },
  { name: 'method', type: 'VARCHAR', meaning: 'the method name (`method.name`)' },
  { name: 'status', type: 'VARCHAR', meaning: '`completed` or `diverged`' },
  { name: 'seed', type: 'BIGINT', meaning: 'the run seed' },
  { name: 'backend', type: 'VARCHAR', meaning: 'the engine backend the run used' },
  { name: 'threads', type: 'INTEGER', meaning: 'threads the engine used' },
  {
    name: 'cycle',
    type: 'INTEGER',
    meaning: '1-based position of the cycle in the run (as `<id>@<cycle>`)',
  },
  { name: 'cycles', type: 'INTEGER', meaning: 'number of cycles the run recorded' },
  { name: 'phase', type: 'VARCHAR', meaning: 'the phase the cycle belongs to' },
  { name: 'level', type: 'INTEGER', meaning: 'the sparsity level index of the cycle' },
  { name: 'cycle_epochs', type: 'INTEGER', meaning: 'epochs trained in the cycle' },
  { name: 'cycle_steps', type: 'BIGINT', meaning: 'optimizer steps in the cycle' },
  {
    name: 'sparsity',
    type: 'DOUBLE',
    meaning: 'fraction of prunable weights removed during the cycle',
  },
  {
    name: 'train_loss_final',
    type: 'DOUBLE',
    meaning: 'training loss of the cycle’s last epoch (null: not finite)',
  },
  {
    name: 'train_loss_best',
    type: 'DOUBLE',
    meaning: 'lowest training loss over the cycle (null: not finite)',
  },
  {
    name: 'train_accuracy_final',
    type: 'DOUBLE',
    meaning: 'training accuracy (fraction) of the last epoch',
  },
  {
    name: 'train_accuracy_best',
    type: 'DOUBLE',
    meaning: 'highest training accuracy over the cycle',
  },
  {
    name: 'test_loss_final',
    type: 'DOUBLE',
    meaning: 'test loss after the cycle’s last epoch (null: not finite)',
  },
  {
    name: 'test_loss_best',
    type: 'DOUBLE',
    meaning: 'lowest test loss over the cycle (null: not finite)',
  },
  {
    name: 'test_accuracy_final',
    type: 'DOUBLE',
    meaning: 'test accuracy (fraction) after the last epoch',
  },
  { name: 'test_accuracy_best', type: 'DOUBLE', meaning: 'highest test accuracy over the cycle' },
  { name: 'flops_dense', type: 'DOUBLE', meaning: 'training FLOPs of the cycle, dense-equivalent' },
  {
    name: 'flops_sparse',
    type: 'DOUBLE',
    meaning: 'training FLOPs of the cycle counting only kept weights',
  },
  {
    name: 'started',
    type: 'TIMESTAMP',
    meaning: 'UTC time the run’s last process started training it (null: stored before provenance)',
  },
  {
    name: 'finished',
    type: 'TIMESTAMP',
    meaning: 'UTC time the run finished (null: stored before provenance)',
  },
  {
    name: 'resumed_after',
    type: 'INTEGER',
    meaning: 'epochs already stored when that process started (null: stored before provenance)',
  },
  {
    name: 'cyclesparse_version',
    type: 'VARCHAR',
    meaning: 'cyclesparse version that finished the run (null: before provenance)',
  },
  {
    name: 'git_commit',
    type: 'VARCHAR',
    meaning: 'git commit of the checkout it ran from (null: not a checkout, or before provenance)',
  },
  {
    name: 'host',
    type: 'VARCHAR',
    meaning: 'host name that finished the run (null: before provenance)',
  },
];

/** The `epochs` view of `cyclesparse query`: one row per line of a run's metrics.jsonl. */
export const EPOCH_COLUMNS: readonly Column[] = [
  {
    name: 'run_id',
    type: 'VARCHAR',
    meaning: 'the run id (from the line; the directory for older lines)',
  },
  {
    name: 'line',
    type: 'INTEGER',
    meaning: '1-based line number in metrics.jsonl (the step of metric sinks, plus one)',
  },
  {
    name: 'at',
    type: 'TIMESTAMP',
    meaning: 'UTC time the line was written (null for older lines)',
  },
  { name: 'phase', type: 'VARCHAR', meaning: 'the phase' },
  { name: 'level', type: 'INTEGER', meaning: 'the sparsity level index' },
  { name: 'epoch', type: 'INTEGER', meaning: '0-based epoch within the phase' },
  { name: 'cycle', type: 'INTEGER', meaning: '0-based cycle within the phase' },
  { name: 'train_loss', type: 'DOUBLE', meaning: 'training loss (null: not finite)' },
  { name: 'train_accuracy', type: 'DOUBLE', meaning: 'training accuracy (fraction)' },
  { name: 'learning_rate', type: 'DOUBLE', meaning: 'learning rate of the epoch’s last step' },
  { name: 'steps', type: 'BIGINT', meaning: 'optimizer steps in the epoch' },
  { name: 'seconds', type: 'DOUBLE', meaning: 'wall-clock seconds of the epoch' },
  { name: 'test_loss', type: 'DOUBLE', meaning: 'test loss after the epoch (null: not finite)' },
  { name: 'test_accuracy', type: 'DOUBLE', meaning: 'test accuracy (fraction) after the epoch' },
];

/** The `statuses` view (and what `status --where/--group-by` see): one row per run, any state. */
export const STATUS_COLUMNS: readonly Column[] = [
  { name: 'run_id', type: 'VARCHAR', meaning: 'the run id' },
  {
    name: 'state',
    type: 'VARCHAR',
    meaning: 'pending, running, interrupted, finished, diverged, failed or unreadable',
  },
  { name: 'epochs', type: 'INTEGER', meaning: 'epochs recorded in metrics.jsonl' },
  { name: 'error', type: 'VARCHAR', meaning: 'why a failed or unreadable run is so (else null)' },
  { name: 'method', type: 'VARCHAR', meaning: 'the method name (null: configuration unreadable)' },
  { name: 'seed', type: 'BIGINT', meaning: 'the run seed' },
  {
    name: 'sparsity',
    type: 'DOUBLE',
    meaning: 'sparsity at the end of the last cycle (null: no result)',
  },
  {
    name: 'test_accuracy_final',
    type: 'DOUBLE',
    meaning: 'last cycle’s final test accuracy (null: no result)',
  },
  {
    name: 'test_accuracy_best',
    type: 'DOUBLE',
    meaning: 'last cycle’s best test accuracy (null: no result)',
  },
];

/** The accuracy columns `status --group-by` summarises (mean ± 95% t-interval over the group). */
export const GROUPED_METRICS = ['test_accuracy_final', 'test_accuracy_best'] as const;
