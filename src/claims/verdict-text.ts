/**
 * The gate's verdicts as text: the terminal table of `cyclesparse gate` and the value formats the
 * report shares with it.
 */

import { SEED_CAP } from '../stats/power.js';
import { table } from '../text/format.js';
import type { ClaimVerdict, Cycle, Metric, SuiteVerdict } from './claims.js';

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

/**
 * A claim's verdict in a word or few: for an inconclusive one, the seeds per side a power
 * analysis says would decide it at the observed effect and spread, and which way it would most
 * likely go (`inconclusive (~14 seeds → holds)`; `(> 1000 seeds)` when none up to the cap would).
 */
export function verdictLabel(claim: ClaimVerdict): string {
  if (claim.verdict !== 'inconclusive' || claim.power === null) return claim.verdict;
  const { seeds, towards } = claim.power;
  // Where no affordable number of seeds would decide it, which way it leans says little.
  return seeds === null
    ? `inconclusive (> ${SEED_CAP} seeds)`
    : `inconclusive (~${seeds} seeds → ${towards})`;
}

/** The power analysis of an inconclusive claim as a sentence, or undefined when it has none. */
export function powerText(claim: ClaimVerdict): string | undefined {
  if (claim.verdict !== 'inconclusive' || claim.power === null) return undefined;
  const { seeds, towards, power } = claim.power;
  return seeds === null
    ? `no number of seeds up to ${SEED_CAP} per side would decide it with power ${power} at the observed effect and spread`
    : `about ${seeds} seeds per side would decide it with power ${power} at the observed effect and spread, most likely as ${towards}`;
}

/** The half-width of a within-baseline claim's equivalence margin (allowed = baseline mean ± it). */
const marginOf = (allowed: readonly [number, number]) => (allowed[1] - allowed[0]) / 2;

/**
 * A claim's interval: that of its test, at 1 − 2α and unadjusted; for a regression
 * (within-baseline) claim the TOST interval of A − baseline against its margin ±m. In a gating
 * family the holds test is unadjusted too, so such a claim holds exactly when the interval
 * clears its boundary (lies inside ±m); contradicted is decided on Holm-adjusted (and, for an
 * equivalence, two-sided) p-values, which the interval does not show (docs/CLAIMS.md).
 */
export function intervalText(claim: ClaimVerdict): string {
  const { metric, test, allowed } = claim;
  if (test === null)
    return allowed === null
      ? '-'
      : `A in [${formatValue(metric, allowed[0])}, ${formatValue(metric, allowed[1])}]`;
  const interval = `[${formatDifference(metric, test.ci[0])}, ${formatDifference(metric, test.ci[1])}]`;
  if (claim.kind !== 'within-baseline' || allowed === null) return interval;
  const margin = formatDifference(metric, marginOf(allowed)).replace(/^\+/, '±');
  return `${interval} vs ${margin}`;
}

const formatP = (p: number | null) => (p === null ? '-' : p < 0.0001 ? '<0.0001' : p.toFixed(4));

const GATING_COUNTED = [
  ['holds', 'holds'],
  ['contradicted', 'contradicted'],
  ['inconclusive', 'inconclusive'],
  ['missing', 'missing'],
  ['run-failed', 'run failed'],
  ['diverged', 'diverged'],
] as const;

/** What an inconclusive gate does under the verdict's policy. */
export function policyText(verdict: SuiteVerdict): string {
  switch (verdict.inconclusive) {
    case 'exit-code':
      return 'inconclusive exits 5 (policy exit-code)';
    case 'pass':
      return 'inconclusive passes (policy pass)';
    case 'fail':
      return 'inconclusive fails (policy fail)';
  }
}

/** The families p-values were adjusted in, with their sizes: `gating 5, regression 14`. */
export function familiesText(verdict: SuiteVerdict): string {
  const order = ['gating', 'regression', 'reported'];
  const families = [...new Set(verdict.claims.map((c) => c.family))].sort(
    (x, y) => order.indexOf(x) - order.indexOf(y),
  );
  return families
    .map((f) => `${f} ${verdict.claims.filter((c) => c.family === f).length}`)
    .join(', ');
}

/**
 * The gate's table: one line per claim with its estimates, interval, adjusted p-values (of the
 * claim, and of its opposite), family and verdict; then the outcome with the gating claims'
 * counts and the policy applied, and the families with their correction.
 */
export function verdictTable(verdict: SuiteVerdict): string {
  const rows = verdict.claims.map((c) => [
    c.id,
    c.paper ?? '',
    METRIC_NAMES[c.metric],
    formatValue(c.metric, c.a?.mean),
    c.kind === 'within-baseline' && c.b === null && c.allowed !== null
      ? formatValue(c.metric, (c.allowed[0] + c.allowed[1]) / 2)
      : formatValue(c.metric, c.b?.mean),
    c.test ? formatDifference(c.metric, c.test.difference) : '-',
    intervalText(c),
    formatP(c.pAdjusted),
    formatP(c.pOppositeAdjusted),
    c.family,
    verdictLabel(c),
    c.gate ? 'yes' : 'no',
  ]);
  const header = [
    'claim',
    'paper',
    'metric',
    'A',
    'B',
    'A − B',
    // Unadjusted: the contradicted (and reported) verdicts use Holm-adjusted p-values.
    `interval (${(100 * (1 - 2 * verdict.alpha)).toFixed(0)}%, unadjusted)`,
    // Gating claims' holds p-values are unadjusted (the gate is an intersection–union test);
    // the families line says which side is adjusted where.
    'p',
    'p opp. (adj.)',
    'family',
    'verdict',
    'gates',
  ];
  const cycleText = (cycle: Cycle) => (cycle === 'last' ? 'the last cycle' : `cycle ${cycle}`);
  const otherCycles = verdict.claims
    .filter((c) => c.cycle !== verdict.cycle)
    .map((c) => `${c.id} reads ${cycleText(c.cycle)}`);
  const warnings = verdict.claims.flatMap((c) => c.warnings.map((w) => `  - ${c.id}: ${w}`));
  const gating = verdict.claims.filter((c) => c.gate);
  const counts = GATING_COUNTED.flatMap(([v, word]) => {
    const n = gating.filter((c) => c.verdict === v).length;
    // hold, contradicted and inconclusive always; the others only when they occur.
    return n > 0 || v === 'holds' || v === 'contradicted' || v === 'inconclusive'
      ? [`${n} ${word}`]
      : [];
  });
  const title =
    verdict.outcome === 'pass'
      ? 'GATE PASSED'
      : verdict.outcome === 'fail'
        ? 'GATE FAILED'
        : 'GATE INCONCLUSIVE';
  const correctionText =
    verdict.correction === 'holm'
      ? 'Holm within each on contradicted, and on holds in reported; gating holds unadjusted, the gate being an intersection–union test'
      : 'unadjusted';
  return [
    table([header, ...rows]),
    `${title}: ${gating.length} gating claim${gating.length === 1 ? '' : 's'}: ${counts.join(', ')}; ${policyText(verdict)} (metric: ${verdict.metric} test accuracy of ${cycleText(verdict.cycle)}${otherCycles.length > 0 ? `; ${otherCycles.join(', ')}` : ''}, α = ${verdict.alpha})`,
    `families (${correctionText}, α = ${verdict.alpha} each): ${familiesText(verdict)}`,
    ...(warnings.length > 0 ? ['warnings:', ...warnings] : []),
  ].join('\n');
}
