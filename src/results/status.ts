/**
 * `status --where/--group-by` through DuckDB: the condition and the grouping are SQL over the
 * `statuses` table (one row per run, docs/EXPORT.md); a group's accuracies are summarised as
 * mean ± 95% t-interval over its runs with a result (its seeds, when grouped by all else).
 */

import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import type { Store } from '../store/store.js';
import { table } from '../text/format.js';
import { ident, openResults, runSql } from './duck.js';
import type { Cell } from './rows.js';
import { GROUPED_METRICS, STATUS_JSON_VERSION } from './schema.js';

/** The ids of the runs matching `where` (an SQL condition over `statuses`), in id order. */
export async function runsWhere(store: Store, where: string): Promise<string[]> {
  const db = await openResults(store);
  try {
    const { rows } = await runSql(
      db,
      `SELECT run_id FROM statuses WHERE (${where}) ORDER BY run_id`,
      '--where',
    );
    return rows.map((r) => String(r.run_id));
  } finally {
    db.close();
  }
}

export interface MetricSummary {
  /** Runs with a value (finished or diverged). */
  readonly n: number;
  readonly mean: number | null;
  readonly sd: number | null;
  /** The 95% t-interval of the mean; null with fewer than two values. */
  readonly low: number | null;
  readonly high: number | null;
}

export interface StatusGroup {
  readonly schemaVersion: number;
  /** The grouping columns' values. */
  readonly group: Readonly<Record<string, Cell>>;
  /** Runs in the group, any state. */
  readonly runs: number;
  readonly states: Readonly<Record<string, number>>;
  readonly metrics: Readonly<Record<(typeof GROUPED_METRICS)[number], MetricSummary>>;
}

export const CONFIDENCE = 0.95;

function summary(n: number, mean: Cell, sd: Cell): MetricSummary {
  if (n === 0 || typeof mean !== 'number')
    return { n, mean: null, sd: null, low: null, high: null };
  if (n < 2 || typeof sd !== 'number') return { n, mean, sd: null, low: null, high: null };
  const half = tQuantile(1 - (1 - CONFIDENCE) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, low: mean - half, high: mean + half };
}

/**
 * The runs matching `where` (all when undefined) grouped by `groupBy` (columns of `statuses`),
 * sorted by the group's values. Means and standard deviations are DuckDB's; the t quantile
 * is @stdlib's.
 */
export async function statusGroups(
  store: Store,
  groupBy: readonly string[],
  where?: string,
): Promise<StatusGroup[]> {
  const db = await openResults(store);
  try {
    const keys = groupBy.map(ident).join(', ');
    const aggregates = GROUPED_METRICS.flatMap((m) => [
      `count(${ident(m)})::INTEGER AS ${ident(`${m}:n`)}`,
      `avg(${ident(m)}) AS ${ident(`${m}:mean`)}`,
      `stddev_samp(${ident(m)}) AS ${ident(`${m}:sd`)}`,
    ]).join(', ');
    const { rows } = await runSql(
      db,
      `SELECT ${keys}, count(*)::INTEGER AS "runs", list(state) AS "states", ${aggregates}
       FROM statuses ${where === undefined ? '' : `WHERE (${where})`}
       GROUP BY ${keys} ORDER BY ${keys}`,
      where === undefined ? '--group-by' : '--where/--group-by',
    );
    return rows.map((row) => {
      const states: Record<string, number> = {};
      for (const state of JSON.parse(String(row.states)) as string[])
        states[state] = (states[state] ?? 0) + 1;
      return {
        schemaVersion: STATUS_JSON_VERSION,
        group: Object.fromEntries(groupBy.map((k) => [k, row[k] ?? null])),
        runs: Number(row.runs),
        states,
        metrics: Object.fromEntries(
          GROUPED_METRICS.map((m) => [
            m,
            summary(Number(row[`${m}:n`]), row[`${m}:mean`] ?? null, row[`${m}:sd`] ?? null),
          ]),
        ) as StatusGroup['metrics'],
      };
    });
  } finally {
    db.close();
  }
}

const percent = (value: number | null): string => (value === null ? '-' : (100 * value).toFixed(2));

/** `mean ± half-width` in percent; the mean alone for one run, '-' for none. */
function interval(s: MetricSummary): string {
  if (s.mean === null) return '-';
  if (s.low === null || s.high === null) return percent(s.mean);
  return `${percent(s.mean)} ± ${(100 * (s.high - s.mean)).toFixed(2)}`;
}

/** The groups as a table (accuracies in percent, mean ± half of the 95% t-interval). */
export function groupTable(groups: readonly StatusGroup[], groupBy: readonly string[]): string {
  if (groups.length === 0) return 'no runs match';
  return table([
    [...groupBy, 'runs', 'with result', 'test acc % (95% CI)', 'best % (95% CI)'],
    ...groups.map((g) => [
      ...groupBy.map((k) => {
        const v = g.group[k];
        return v === null || v === undefined ? 'null' : String(v);
      }),
      String(g.runs),
      String(g.metrics.test_accuracy_final.n),
      interval(g.metrics.test_accuracy_final),
      interval(g.metrics.test_accuracy_best),
    ]),
  ]);
}
