/**
 * The store in DuckDB (an in-memory database): `runs` (the export rows), `epochs` (per-epoch
 * metrics) and `statuses` (one row per run), loaded with the types docs/EXPORT.md gives, for
 * export (DuckDB's COPY writes CSV, JSON Lines and Parquet), user SQL and `status`'s filter and
 * grouping. DuckDB's Node package is imported here only: the CLI loads this module lazily.
 */

import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { table } from '../text/format.js';
import { EXPORT_FORMATS, type ExportFormat } from './schema.js';
import {
  epochTable,
  exportTable,
  statusTableRows,
  type Cell,
  type Row,
  type Table,
} from './rows.js';

export { EXPORT_FORMATS, type ExportFormat };

/** An SQL identifier, quoted. */
export const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;
/** An SQL string literal. */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** Creates `name` from `table` (through a JSON Lines file read with the columns' types). */
async function load(connection: DuckDBConnection, name: string, table: Table, dir: string) {
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, table.rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const columns = table.columns.map((c) => `${literal(c.name)}: ${literal(c.type)}`).join(', ');
  await connection.run(
    `CREATE TABLE ${ident(name)} AS SELECT * FROM read_json(${literal(file)}, format = 'newline_delimited', columns = {${columns}})`,
  );
}

export interface ResultsDb {
  readonly connection: DuckDBConnection;
  /** The columns of `runs`, in order (fixed, then options). */
  readonly runColumns: Table['columns'];
  close(): void;
}

/** Opens `store` as DuckDB tables `runs`, `epochs` and `statuses`. */
export async function openResults(store: Store): Promise<ResultsDb> {
  const runs = store.list();
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-results-'));
  const exported = exportTable(runs);
  try {
    await load(connection, 'runs', exported, dir);
    await load(connection, 'epochs', epochTable(store, runs), dir);
    await load(connection, 'statuses', statusTableRows(runs), dir);
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    throw error;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    connection,
    runColumns: exported.columns,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** The format of `--format`, or else of the output file's extension; an unknown one is refused. */
export function exportFormat(format: string | undefined, out: string): ExportFormat {
  const named = format ?? /\.([^./\\]+)$/.exec(out)?.[1]?.toLowerCase();
  const known = named === 'ndjson' || named === 'json' ? 'jsonl' : named;
  if (known === undefined || !(EXPORT_FORMATS as readonly string[]).includes(known))
    throw new InvalidArgumentError(
      '--format',
      `one of ${EXPORT_FORMATS.join(', ')} (or an output file ending in .csv, .jsonl, .parquet)`,
      format ?? out,
    );
  return known as ExportFormat;
}

const COPY_OPTIONS: Record<ExportFormat, string> = {
  csv: 'FORMAT csv, HEADER true',
  jsonl: 'FORMAT json',
  parquet: 'FORMAT parquet',
};

/** Writes the export of `store` to `out`; returns the number of rows. */
export async function exportStore(
  store: Store,
  out: string,
  format: ExportFormat,
): Promise<number> {
  const db = await openResults(store);
  try {
    const columns = db.runColumns.map((c) => ident(c.name)).join(', ');
    await db.connection.run(
      `COPY (SELECT ${columns} FROM runs ORDER BY run_id, cycle) TO ${literal(out)} (${COPY_OPTIONS[format]})`,
    );
    const count = await db.connection.runAndReadAll('SELECT count(*)::INTEGER AS n FROM runs');
    return Number(count.getRowObjectsJS()[0]!.n);
  } finally {
    db.close();
  }
}

export interface QueryResult {
  readonly columns: readonly string[];
  /** Values as JSON can carry them (big integers as numbers when safe, else strings). */
  readonly rows: readonly Row[];
}

/** JSON-safe cells: DuckDB's JSON conversion gives BIGINTs as strings; safe ones become numbers. */
function jsonCell(value: unknown, type: string): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && /^(BIGINT|HUGEINT|UBIGINT)$/.test(type)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string')
    return value;
  return JSON.stringify(value);
}

/** Runs `sql` (one or more statements; the last one's rows are returned). */
export async function runSql(db: ResultsDb, sql: string, what = 'SQL'): Promise<QueryResult> {
  let reader;
  try {
    reader = await db.connection.runAndReadAll(sql);
  } catch (error) {
    // DuckDB's own message says what is wrong (parser, unknown column with candidates, …).
    throw new InvalidArgumentError(
      what,
      'SQL over the tables runs, epochs and statuses (docs/EXPORT.md)',
      sql,
      `${what}: ${(error as Error).message}`,
    );
  }
  const columns = reader.columnNames();
  const types = reader.columnTypes().map((t) => t.toString());
  const rows = reader
    .getRowsJson()
    .map((values) =>
      Object.fromEntries(columns.map((c, i) => [c, jsonCell(values[i], types[i]!)])),
    );
  return { columns, rows };
}

/** RFC 4180 CSV of a query's result: a header line, then one line per row; null is empty. */
export function queryCsv(result: QueryResult): string {
  const field = (value: Cell | undefined): string => {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [result.columns, ...result.rows.map((r) => result.columns.map((c) => r[c]))];
  return lines.map((cells) => `${cells.map(field).join(',')}\r\n`).join('');
}

/** A query's result as a text table (null shown as `null`). */
export function queryTable(result: QueryResult): string {
  const text = (value: Cell | undefined) =>
    value === null || value === undefined ? 'null' : String(value);
  return table([
    [...result.columns],
    ...result.rows.map((r) => result.columns.map((c) => text(r[c]))),
  ]);
}

/** Runs `sql` over `store`. */
export async function queryStore(store: Store, sql: string): Promise<QueryResult> {
  const db = await openResults(store);
  try {
    return await runSql(db, sql, 'query');
  } finally {
    db.close();
  }
}
