/**
 * The report's plots as vega-lite specs, built from a suite's runs: accuracy against sparsity per
 * method with confidence intervals; test accuracy per cycle; the learning-rate schedules; accuracy
 * against training cost (epochs and sparse FLOPs); per-cycle analyses of the runs behind analysis
 * claims (LMC curves, barriers, sign flips, sharpness).
 */

import type * as vegaLite from 'vega-lite';
import { methodLabel, targetOf } from '../harness/report-lines.js';
import type { RunConfig } from '../config/schema.js';
import { estimate } from '../stats/inference.js';
import { metricOf } from '../claims/gate.js';
import { ANALYSIS_METRICS, type SuiteVerdict } from '../claims/claims.js';
import type { RunSource } from '../claims/run-source.js';

export interface Cell {
  readonly method: string;
  readonly sparsity: number;
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
  readonly n: number;
  readonly epochs: number;
  /** Training FLOPs of one run (sparse count, docs/ARCHITECTURE.md). */
  readonly flops: number;
  readonly runIds: readonly string[];
  /** Mean best test accuracy of each cycle, in order. */
  readonly perCycle: readonly number[];
}

/** One cell per (method, target) over the seeds, from the stored results. */
export function cellsOf(
  configs: ReadonlyMap<string, RunConfig>,
  source: RunSource,
  metric: 'best' | 'final',
  baseEpochs: number,
): Cell[] {
  const groups = new Map<string, string[]>();
  for (const [id, config] of configs) {
    const key = `${methodLabel(config)}|${config.training.epochsPerCycle}|${targetOf(config)}`;
    groups.set(key, [...(groups.get(key) ?? []), id]);
  }
  const cells: Cell[] = [];
  for (const [key, ids] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const results = ids.map((id) => source.result(id)).filter((r) => r !== undefined);
    const values = results.map((r) => metricOf(r, metric)).filter((v) => v !== undefined);
    if (values.length === 0) continue;
    const [label, epochsPerCycle] = key.split('|');
    const e = estimate(values);
    const cycles = Math.max(...results.map((r) => r.cycles.length));
    const perCycle = Array.from(
      { length: cycles },
      (_, c) =>
        estimate(results.map((r) => r.cycles[c]?.testAccuracy.best).filter((v) => v !== undefined))
          .mean,
    );
    cells.push({
      // Cells that only differ in cycle length (a one-cycle control) say so.
      method:
        Number(epochsPerCycle) === baseEpochs
          ? label!
          : `${label!} (${epochsPerCycle}-epoch cycle)`,
      sparsity: results[0]!.cycles.at(-1)!.sparsity,
      mean: e.mean,
      lo: e.ci?.[0] ?? e.mean,
      hi: e.ci?.[1] ?? e.mean,
      n: e.n,
      epochs: results[0]!.cost.epochs,
      flops: results[0]!.cost.flopsSparse,
      runIds: [...ids].sort(),
      perCycle,
    });
  }
  return cells;
}

export type Spec = vegaLite.TopLevelSpec;

export function plots(
  cells: readonly Cell[],
  schedule: { cyclic: number[]; control: number[] },
): Record<string, Spec> {
  const pct = (v: number) => Math.round(v * 100000) / 1000;
  const rows = cells.map((c) => ({
    method: c.method,
    sparsity: c.sparsity,
    accuracy: pct(c.mean),
    lo: pct(c.lo),
    hi: pct(c.hi),
    epochs: c.epochs,
    flops: c.flops,
  }));
  const width = 520;
  const height = 300;
  const accuracy = {
    field: 'accuracy',
    type: 'quantitative',
    title: 'test accuracy (%)',
    scale: { zero: false },
  } as const;
  const color = {
    field: 'method',
    type: 'nominal',
    title: 'method',
    legend: { labelLimit: 400 },
  } as const;
  // Mean as a point, the 95% interval as a vertical rule, against any x.
  const withIntervals = (x: { field: string; title: string; log?: boolean; format?: string }) => {
    const xEncoding = {
      field: x.field,
      type: 'quantitative',
      title: x.title,
      scale: x.log ? ({ type: 'log' } as const) : ({ zero: false } as const),
      ...(x.format === undefined ? {} : { axis: { format: x.format } }),
    } as const;
    return [
      {
        mark: { type: 'rule' },
        encoding: { x: xEncoding, y: { ...accuracy, field: 'lo' }, y2: { field: 'hi' }, color },
      },
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: xEncoding,
          y: accuracy,
          color,
          // Against cost, cells of one method at several sparsities need telling apart.
          ...(x.field === 'sparsity'
            ? {}
            : { shape: { field: 'sparsity', type: 'nominal', title: 'sparsity' } as const }),
        },
      },
    ] as const;
  };
  return {
    'accuracy-vs-sparsity': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Accuracy against sparsity (mean and 95% CI over seeds)',
      width,
      height,
      data: { values: rows },
      layer: [...withIntervals({ field: 'sparsity', title: 'sparsity' })],
    },
    'accuracy-per-cycle': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Best test accuracy per cycle (mean over seeds)',
      width,
      height,
      data: {
        values: cells.flatMap((c) =>
          c.perCycle.map((v, i) => ({ method: c.method, cycle: i + 1, accuracy: pct(v) })),
        ),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'cycle', type: 'quantitative', title: 'cycle', axis: { tickMinStep: 1 } },
        y: accuracy,
        color,
      },
    },
    'learning-rate': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Learning rate per epoch: 3 cycles against the one-cycle control',
      width,
      height: 200,
      data: {
        values: [
          ...schedule.cyclic.map((lr, epoch) => ({ schedule: '3 cycles', epoch, lr })),
          ...schedule.control.map((lr, epoch) => ({ schedule: 'one cycle', epoch, lr })),
        ],
      },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        y: { field: 'lr', type: 'quantitative', title: 'learning rate' },
        color: { field: 'schedule', type: 'nominal' },
      },
    },
    'accuracy-vs-cost': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Accuracy against training cost: epochs, and FLOPs of the sparse network',
      data: { values: rows },
      hconcat: [
        {
          width: width / 2,
          height,
          layer: [...withIntervals({ field: 'epochs', title: 'training epochs' })],
        },
        {
          width: width / 2,
          height,
          layer: [
            ...withIntervals({ field: 'flops', title: 'training FLOPs', log: true, format: '.2s' }),
          ],
        },
      ],
    },
  };
}

/** Per-cycle analyses of the runs behind analysis claims, averaged over seeds per method. */
export async function analysisPlots(
  verdict: SuiteVerdict,
  configs: ReadonlyMap<string, RunConfig>,
  source: RunSource,
  baseEpochs: number,
): Promise<Record<string, Spec>> {
  const ids = [
    ...new Set(
      verdict.claims.filter((c) => ANALYSIS_METRICS.has(c.metric)).flatMap((c) => c.runIds),
    ),
  ].filter((id) => source.result(id)?.status === 'completed');
  if (ids.length === 0) return {};
  const labelOf = (config: RunConfig) =>
    config.training.epochsPerCycle === baseEpochs
      ? methodLabel(config)
      : `${methodLabel(config)} (${config.training.epochsPerCycle}-epoch cycle)`;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const group = new Map<string, number[]>();
  const add = (key: string, value: number) => group.set(key, [...(group.get(key) ?? []), value]);
  for (const id of ids.sort()) {
    const label = labelOf(configs.get(id)!);
    const series = await source.cycleSeries(id);
    for (const c of series.cycles) add(JSON.stringify(['sharpness', label, c.cycle]), c.sharpness);
    for (const p of series.pairs) {
      add(JSON.stringify(['barrier', label, p.to]), 100 * p.testErrorBarrier);
      add(JSON.stringify(['signs', label, p.to]), 100 * p.signFlipFraction);
      for (const point of p.curve) {
        add(
          JSON.stringify(['lmc', `${label} ${p.from}→${p.to}`, point.alpha, 'test']),
          100 * point.test.error,
        );
        add(
          JSON.stringify(['lmc', `${label} ${p.from}→${p.to}`, point.alpha, 'train']),
          100 * point.train.error,
        );
      }
    }
  }
  const rows = (kind: string) =>
    [...group]
      .map(([key, values]) => [JSON.parse(key) as (string | number)[], mean(values)] as const)
      .filter(([key]) => key[0] === kind);
  const perCycle = (kind: string, title: string) =>
    ({
      width: 170,
      height: 220,
      title,
      data: {
        values: rows(kind).map(([key, value]) => ({ method: key[1], cycle: key[2], value })),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'cycle', type: 'quantitative', title: 'cycle', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title, scale: { zero: false } },
        color: { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 400 } },
      },
    }) as const;
  return {
    'lmc-curves': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Error along the line between consecutive cycles (mean over seeds)',
      width: 520,
      height: 300,
      data: {
        values: rows('lmc').map(([key, error]) => ({
          pair: key[1],
          alpha: key[2],
          split: key[3],
          error,
        })),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'alpha', type: 'quantitative', title: 'α (1 = later cycle)' },
        y: { field: 'error', type: 'quantitative', title: 'error (%)', scale: { zero: false } },
        color: { field: 'pair', type: 'nominal', title: 'cycles', legend: { labelLimit: 400 } },
        strokeDash: {
          field: 'split',
          type: 'nominal',
          title: 'split',
          legend: { symbolType: 'stroke' },
        },
      },
    },
    'cycle-analyses': {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title:
        'Per cycle: test-error barrier to the previous cycle, sign flips, top Hessian eigenvalue',
      hconcat: [
        perCycle('barrier', 'barrier (test error, pts)'),
        perCycle('signs', 'sign flips (%)'),
        perCycle('sharpness', 'top eigenvalue'),
      ],
    },
  };
}
