/**
 * The gate's verdicts as text: the terminal table of `cyclesparse gate` and the value formats the
 * report shares with it.
 */

import { table } from '../text/format.js';
import type { Cycle, Metric, SuiteVerdict } from './claims.js';

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
  barrier: 'barrier (mean of ends)',
  'barrier-linear': 'barrier (linear)',
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
  const cycleText = (cycle: Cycle) => (cycle === 'last' ? 'the last cycle' : `cycle ${cycle}`);
  const otherCycles = verdict.claims
    .filter((c) => c.cycle !== verdict.cycle)
    .map((c) => `${c.id} reads ${cycleText(c.cycle)}`);
  const warnings = verdict.claims.flatMap((c) => c.warnings.map((w) => `  - ${c.id}: ${w}`));
  return [
    table([header, ...rows]),
    `${verdict.passed ? 'GATE PASSED' : 'GATE FAILED'}: ${verdict.claims.filter((c) => c.gate && c.verdict === 'holds').length}/${verdict.claims.filter((c) => c.gate).length} gating claims hold (metric: ${verdict.metric} test accuracy of ${cycleText(verdict.cycle)}${otherCycles.length > 0 ? `; ${otherCycles.join(', ')}` : ''}, α = ${verdict.alpha})`,
    ...(warnings.length > 0 ? ['warnings:', ...warnings] : []),
  ].join('\n');
}
