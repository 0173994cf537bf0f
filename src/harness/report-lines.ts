/**
 * Plain-text summaries of runs for the terminal: what `run`, `sweep --dry-run` and `status`
 * print. Kept apart from the CLI so a library user gets the same strings.
 */

import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/runner.js';
import type { RunStatus } from '../store/store.js';
import type { Metric, SuiteVerdict } from '../claims/claims.js';
import type { PlannedRun } from './plan.js';

/** The sparsity a configuration targets, or '-' for dense methods. */
export function targetOf(config: RunConfig): string {
  const m = config.method;
  if (m.name === 'pai') return String(m.sparsity);
  if ('targetSparsity' in m && m.targetSparsity !== undefined) return String(m.targetSparsity);
  if ('levels' in m && m.levels !== undefined) return `${m.levels} levels`;
  return '-';
}

export function methodLabel(config: RunConfig): string {
  const m = config.method;
  if (m.name === 'pai') return `pai-${m.criterion}${m.cycles > 1 ? ` ×${m.cycles}` : ''}`;
  if (m.name === 'coupling') return `coupling-${m.source}-${m.init}`;
  if (m.name === 'cyclic' || m.name === 'one-cycle') return `${m.name} ×${m.cycles}`;
  return m.name;
}

/** Aligned text table (first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function seconds(value: number | null): string {
  if (value === null) return '-';
  if (value < 90) return `${value.toFixed(0)} s`;
  if (value < 5400) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function planTable(plan: readonly PlannedRun[]): string {
  const rows = plan.map((run) => [
    run.id,
    methodLabel(run.config),
    targetOf(run.config),
    String(run.config.seed),
    String(run.epochs),
    String(run.steps),
    seconds(run.seconds),
  ]);
  const total = plan.reduce((s, r) => s + (r.seconds ?? 0), 0);
  const unmeasured = plan.filter((r) => r.unmeasured !== undefined);
  const reasons = [...new Set(unmeasured.map((r) => r.unmeasured!))].map((r) => `  - ${r}`);
  return [
    table([['run', 'method', 'sparsity', 'seed', 'epochs', 'steps', 'estimate'], ...rows]),
    `${plan.length} runs, ${plan.reduce((s, r) => s + r.epochs, 0)} epochs, about ${seconds(total)} on one core` +
      (unmeasured.length > 0 ? ` for the ${plan.length - unmeasured.length} runs measured` : ''),
    ...(unmeasured.length > 0
      ? [`${unmeasured.length} runs have no estimate on this backend:`, ...reasons]
      : []),
  ].join('\n');
}

/** 2.41e13 → "24.1 T": FLOP counts span MNIST (giga) to ImageNet (exa). */
export function siUnits(value: number): string {
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];
  let at = 0;
  while (Math.abs(value) >= 1000 && at < prefixes.length - 1) {
    value /= 1000;
    at += 1;
  }
  return `${value.toPrecision(3)} ${prefixes[at]}`.trimEnd();
}

export function resultLine(result: PipelineResult): string {
  const last = result.cycles.at(-1);
  if (last === undefined) return `${result.method}: ${result.status}, no epoch trained`;
  return (
    `${result.method} ${result.status}: sparsity ${last.sparsity.toFixed(4)}, test accuracy ${(100 * last.testAccuracy.final).toFixed(2)}% ` +
    `(best ${(100 * last.testAccuracy.best).toFixed(2)}%), ${result.cost.epochs} epochs, ${result.cost.steps} steps, ` +
    `${siUnits(result.cost.flopsDense)}FLOP dense-equivalent / ${siUnits(result.cost.flopsSparse)}FLOP sparse`
  );
}

export function statusTable(runs: readonly RunStatus[]): string {
  if (runs.length === 0) return 'no runs in this store';
  const rows = runs.map((run) => {
    const last = run.result?.cycles.at(-1);
    return [
      run.id,
      run.config ? methodLabel(run.config) : '?',
      run.config ? targetOf(run.config) : '?',
      run.config ? String(run.config.seed) : '?',
      run.state,
      String(run.epochs),
      last ? (100 * last.testAccuracy.final).toFixed(2) : '-',
      last ? (100 * last.testAccuracy.best).toFixed(2) : '-',
      run.error ?? '',
    ];
  });
  return table([
    ['run', 'method', 'sparsity', 'seed', 'state', 'epochs', 'test acc %', 'best %', ''],
    ...rows,
  ]);
}

/** Accuracies and error barriers are fractions, shown in percent; eigenvalues as they are. */
export function formatValue(metric: Metric, value: number | undefined | null): string {
  if (value === undefined || value === null) return '-';
  return metric === 'sharpness' ? value.toPrecision(4) : `${(100 * value).toFixed(2)}%`;
}

/** A difference (or interval end) of two values of `metric`, signed: points for percentages. */
export function formatDifference(metric: Metric, value: number): string {
  const sign = value >= 0 ? '+' : '';
  return metric === 'sharpness'
    ? `${sign}${value.toPrecision(4)}`
    : `${sign}${(100 * value).toFixed(2)}`;
}

export const METRIC_NAMES: Readonly<Record<Metric, string>> = {
  best: 'best acc.',
  final: 'final acc.',
  barrier: 'barrier',
  sharpness: 'top eig.',
};

/** The gate's table: one line per claim with its estimate, interval, adjusted p and verdict. */
export function verdictTable(verdict: SuiteVerdict): string {
  const rows = verdict.claims.map((c) => [
    c.id,
    c.paper ?? '',
    METRIC_NAMES[c.metric],
    formatValue(c.metric, c.a?.mean),
    formatValue(c.metric, c.b?.mean),
    c.test
      ? formatDifference(c.metric, c.test.difference)
      : c.kind === 'within-baseline'
        ? ''
        : '-',
    c.test
      ? `[${formatDifference(c.metric, c.test.ci[0])}, ${formatDifference(c.metric, c.test.ci[1])}]`
      : c.allowed
        ? `A in [${formatValue(c.metric, c.allowed[0])}, ${formatValue(c.metric, c.allowed[1])}]`
        : '-',
    c.pAdjusted === null ? '-' : c.pAdjusted < 0.0001 ? '<0.0001' : c.pAdjusted.toFixed(4),
    c.verdict,
    c.gate ? 'yes' : 'no',
  ]);
  const header = [
    'claim',
    'paper',
    'metric',
    'A',
    'B',
    'A − B',
    `interval (${(100 * (1 - 2 * verdict.alpha)).toFixed(0)}%)`,
    'p (adj.)',
    'verdict',
    'gates',
  ];
  return `${table([header, ...rows])}\n${verdict.passed ? 'GATE PASSED' : 'GATE FAILED'}: ${verdict.claims.filter((c) => c.gate && c.verdict === 'holds').length}/${verdict.claims.filter((c) => c.gate).length} gating claims hold (metric: ${verdict.metric} test accuracy of the last cycle, α = ${verdict.alpha})`;
}
