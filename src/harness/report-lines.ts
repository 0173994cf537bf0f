/**
 * Plain-text summaries of runs for the terminal: what `run`, `sweep --dry-run` and `status`
 * print, and the labels runs go by (`methodLabel`, `targetOf`). Kept apart from the CLI so a
 * library user gets the same strings. The gate's verdict table is in claims/verdict-text.ts.
 */

import type { RunConfig } from '../config/schema.js';
import { methodLabel as labelOf, targetLabel } from '../methods/method.js';
import { methodNamed } from '../methods/registry.js';
import type { PipelineResult } from '../methods/runner.js';
import type { RunStatus } from '../store/store.js';
import { seconds, siUnits, table } from '../text/format.js';
import type { PlannedRun } from './plan.js';

/** The sparsity a configuration targets, `<n> levels`, or '-' for dense methods. */
export function targetOf(config: RunConfig): string {
  const { name, ...options } = config.method;
  return targetLabel(methodNamed(name), options);
}

/** A configuration's method as tables and reports name it (`pai-snip ×4`). */
export function methodLabel(config: RunConfig): string {
  const { name, ...options } = config.method;
  return labelOf(methodNamed(name), options);
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
    `${plan.length} runs, ${plan.reduce((s, r) => s + r.epochs, 0)} epochs, about ${seconds(total)} run one after another` +
      (unmeasured.length > 0 ? ` for the ${plan.length - unmeasured.length} runs measured` : ''),
    ...(unmeasured.length > 0
      ? [`${unmeasured.length} runs have no estimate on this backend:`, ...reasons]
      : []),
  ].join('\n');
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
