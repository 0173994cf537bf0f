/**
 * The report's plots as vega-lite specs, built from a suite's runs: accuracy against density per
 * method (the field's standard figure), test accuracy per pruning level and per cycle, the
 * learning-rate schedules the runs used, accuracy against training cost, and per-cycle analyses
 * of the runs behind analysis claims (LMC curves with their barriers, sign flips, sharpness).
 *
 * Every mean carries its interval over seeds (t, clipped to [0, 100] %, none from fewer than 2
 * seeds) and a tooltip; a per-seed points layer sits behind a checkbox-bound param `seeds`
 * (default off, so a static render shows means and intervals only).
 */

import type * as vegaLite from 'vega-lite';
import { methodLabel, targetOf } from '../harness/report-lines.js';
import type { RunConfig } from '../config/schema.js';
import { cycleShapeOf } from '../config/lr-shape.js';
import { LrSchedule } from '../core/lr-schedule.js';
import { estimate } from '../stats/inference.js';
import { metricOf } from '../claims/gate.js';
import { ANALYSIS_METRICS, type Cycle, type SuiteVerdict } from '../claims/claims.js';
import type { RunSource, RunSummary } from '../claims/run-source.js';

export type Spec = vegaLite.TopLevelSpec;

/** One run's value in a cell. */
export interface SeedValue {
  readonly run: string;
  readonly seed: number;
  readonly value: number;
}

/** A mean over seeds with its 95% interval, clipped to [0, 1]; no interval from under 2 seeds. */
export interface Summary {
  readonly mean: number;
  readonly lo: number | null;
  readonly hi: number | null;
  readonly n: number;
}

/** A pruning level or a training cycle of a cell's runs, over seeds. */
export interface CycleStep extends Summary {
  /** The phase as the result records it (level, cyclic, coupled, retrain, one-cycle, …). */
  readonly phase: string;
  /** Pruning levels (prune, rewind, retrain) and cycles (restarts at a fixed mask) differ. */
  readonly kind: 'level' | 'cycle';
  /** The level as recorded (0: dense before the first prune), or the cycle's number from 1. */
  readonly index: number;
  /** Epochs the run had trained at the end of the step. */
  readonly epochInRun: number;
  /** Epochs trained in the run's cycles (after any pruning levels) at the end of the step. */
  readonly epochInCycles: number;
  readonly sparsity: number;
  readonly values: readonly SeedValue[];
}

export interface Cell extends Summary {
  readonly method: string;
  readonly sparsity: number;
  readonly epochs: number;
  /** Training FLOPs of one run (sparse count, docs/ARCHITECTURE.md). */
  readonly flops: number;
  readonly runIds: readonly string[];
  /** The metric per run (the report's metric: best or final test accuracy of the last cycle). */
  readonly values: readonly SeedValue[];
  /** Best test accuracy per pruning level and per cycle, in the order trained. */
  readonly steps: readonly CycleStep[];
}

/** Mean and 95% t interval of fractions, the interval clipped to [0, 1]. */
export function summaryOf(values: readonly number[]): Summary {
  const e = estimate(values);
  const clip = (v: number) => Math.min(1, Math.max(0, v));
  return {
    mean: e.mean,
    lo: e.ci === null ? null : clip(e.ci[0]),
    hi: e.ci === null ? null : clip(e.ci[1]),
    n: e.n,
  };
}

/** A method label that also says when its cycles differ from the suite's (a one-cycle control). */
export function cellLabel(config: RunConfig, baseEpochs: number): string {
  return config.training.epochsPerCycle === baseEpochs
    ? methodLabel(config)
    : `${methodLabel(config)} (${config.training.epochsPerCycle}-epoch cycle)`;
}

/** Per-level and per-cycle steps of a cell, from runs sharing one structure (they differ in seed). */
function stepsOf(runs: readonly { id: string; seed: number; result: RunSummary }[]): CycleStep[] {
  const first = runs[0]!.result.cycles;
  let epochInRun = 0;
  let epochInCycles = 0;
  let cycleNumber = 0;
  return first.map((record, i) => {
    epochInRun += record.epochs;
    // Iterative methods label their retraining phases `level <k>` (methods/catalog/levels.ts).
    const kind = /^level \d+$/.test(record.phase) ? 'level' : 'cycle';
    if (kind === 'cycle') {
      epochInCycles += record.epochs;
      cycleNumber += 1;
    }
    const values = runs.flatMap(({ id, seed, result }) => {
      const value = result.cycles[i]?.testAccuracy.best;
      return value === undefined ? [] : [{ run: id, seed, value }];
    });
    return {
      phase: record.phase,
      kind,
      index: kind === 'level' ? record.level : cycleNumber,
      epochInRun,
      epochInCycles,
      sparsity: record.sparsity,
      ...summaryOf(values.map((v) => v.value)),
      values,
    };
  });
}

/**
 * One cell per (method, target) over the seeds, from the stored results; its value is the
 * suite's metric of the suite's cycle, as the claims read it.
 */
export function cellsOf(
  configs: ReadonlyMap<string, RunConfig>,
  source: RunSource,
  metric: 'best' | 'final',
  baseEpochs: number,
  cycle: Cycle = 'last',
): Cell[] {
  const groups = new Map<string, string[]>();
  for (const [id, config] of configs) {
    const key = `${methodLabel(config)}|${config.training.epochsPerCycle}|${targetOf(config)}`;
    groups.set(key, [...(groups.get(key) ?? []), id]);
  }
  const cells: Cell[] = [];
  for (const [, ids] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const runs = [...ids]
      .sort()
      .flatMap((id) => {
        const result = source.result(id);
        return result === undefined ? [] : [{ id, seed: configs.get(id)!.seed, result }];
      })
      .sort((a, b) => a.seed - b.seed || a.id.localeCompare(b.id));
    const values = runs.flatMap(({ id, seed, result }) => {
      const value = metricOf(result, metric, cycle);
      return value === undefined ? [] : [{ run: id, seed, value }];
    });
    if (values.length === 0) continue;
    const first = runs[0]!.result;
    cells.push({
      method: cellLabel(configs.get(runs[0]!.id)!, baseEpochs),
      // The sparsity of the cycle the value is read from.
      sparsity: ((cycle === 'last' ? undefined : first.cycles[cycle - 1]) ?? first.cycles.at(-1)!)
        .sparsity,
      ...summaryOf(values.map((v) => v.value)),
      epochs: first.cost.epochs,
      flops: first.cost.flopsSparse,
      runIds: [...ids].sort(),
      values,
      steps: stepsOf(runs),
    });
  }
  return cells;
}

/** A learning-rate schedule some of the suite's runs trained with. */
export interface RunSchedule {
  /** What it is: its cycles, and its peak and shape where the runs differ in them. */
  readonly label: string;
  /** The cells that trained with it. */
  readonly usedBy: readonly string[];
  /** The rate of each epoch (at its start), one entry per epoch. */
  readonly rates: readonly number[];
}

/** `3 cycles of 4 epochs`, `one 12-epoch cycle`, `2 cycles of 4 epochs, then one of 8`. */
export function cyclesLabel(cycleEpochs: readonly number[]): string {
  const runs: [number, number][] = [];
  for (const e of cycleEpochs) {
    const last = runs.at(-1);
    if (last !== undefined && last[0] === e) last[1] += 1;
    else runs.push([e, 1]);
  }
  return runs
    .map(([epochs, count], i) =>
      count === 1
        ? `${i === 0 ? 'one' : 'then one'} ${epochs}-epoch cycle`
        : `${i === 0 ? '' : 'then '}${count} cycles of ${epochs} epochs`,
    )
    .join(', ');
}

/**
 * The distinct schedules among the suite's runs: each run's peak, shape and boundary rule from its
 * configuration, its cycles as its result records them (what it actually trained).
 */
export function schedulesOf(
  configs: ReadonlyMap<string, RunConfig>,
  source: RunSource,
  baseEpochs: number,
): RunSchedule[] {
  const found = new Map<
    string,
    { cycles: number[]; peak: number; shape: string; rates: number[]; usedBy: Set<string> }
  >();
  for (const [id, config] of [...configs].sort(([a], [b]) => a.localeCompare(b))) {
    const result = source.result(id);
    if (result === undefined || result.cycles.length === 0) continue;
    const cycleEpochs = result.cycles.map((c) => c.epochs);
    const { peak, shape } = config.training;
    const boundaries = config.conventions?.lrBoundaries;
    const key = JSON.stringify([cycleEpochs, peak, shape, boundaries ?? null]);
    let entry = found.get(key);
    if (entry === undefined) {
      const schedule = new LrSchedule({
        peak,
        shape: cycleShapeOf(shape),
        granularity: 'epoch',
        stepsPerEpoch: 1,
        cycleEpochs,
        ...(boundaries === undefined ? {} : { boundaries }),
      });
      entry = {
        cycles: cycleEpochs,
        peak,
        shape: typeof shape === 'string' ? shape : 'shape as data',
        rates: Array.from({ length: schedule.totalSteps }, (_, e) => schedule.learningRateAt(e)),
        usedBy: new Set(),
      };
      found.set(key, entry);
    }
    const target = targetOf(config);
    entry.usedBy.add(`${cellLabel(config, baseEpochs)}${target === '-' ? '' : ` ${target}`}`);
  }
  const entries = [...found.values()];
  const peaks = new Set(entries.map((e) => e.peak));
  const shapes = new Set(entries.map((e) => e.shape));
  return entries
    .map((e) => ({
      label: [
        cyclesLabel(e.cycles),
        ...(peaks.size > 1 ? [`peak ${e.peak}`] : []),
        ...(shapes.size > 1 ? [e.shape] : []),
      ].join(', '),
      usedBy: [...e.usedBy].sort(),
      rates: e.rates,
    }))
    .sort((a, b) => a.rates.length - b.rates.length || a.label.localeCompare(b.label));
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 520;
const HEIGHT = 300;

/** Percent with three decimals, as the plots' data hold accuracies. */
const pct = (v: number) => Math.round(v * 100000) / 1000;
const pctOrNull = (v: number | null) => (v === null ? null : pct(v));
const sparsityText = (s: number) => `${Number((100 * s).toFixed(2))}%`;

/** The per-seed toggle: a checkbox in the HTML; off in static renders. */
export const SEEDS_PARAM = {
  name: 'seeds',
  value: false,
  bind: { input: 'checkbox', name: 'per-seed points ' },
} as const;

const INTERVAL_NOTE =
  'mean and 95% t interval over seeds, clipped to 0–100%; no interval where a cell has fewer than 2 seeds';

const color = {
  field: 'method',
  type: 'nominal',
  title: 'method',
  legend: { labelLimit: 400 },
} as const;
const accuracyAxis = {
  type: 'quantitative',
  title: 'test accuracy (%)',
  scale: { zero: false },
} as const;
const meanTooltip = [
  { field: 'method', title: 'method' },
  { field: 'cellSparsity', title: 'sparsity' },
  { field: 'accuracy', title: 'mean test accuracy (%)', format: '.2f' },
  { field: 'n', title: 'seeds' },
  { field: 'interval', title: '95% interval (%)' },
  { field: 'runs', title: 'runs' },
] as const;
const seedTooltip = [
  { field: 'method', title: 'method' },
  { field: 'cellSparsity', title: 'sparsity' },
  { field: 'run', title: 'run' },
  { field: 'seed', title: 'seed' },
  { field: 'accuracy', title: 'test accuracy (%)', format: '.2f' },
] as const;

/** The fields every mean's row carries for its tooltip and interval. */
function meanFields(s: Summary, runs: readonly string[]) {
  return {
    accuracy: pct(s.mean),
    lo: pctOrNull(s.lo),
    hi: pctOrNull(s.hi),
    n: s.n,
    interval:
      s.lo === null || s.hi === null
        ? `none (${s.n} seed)`
        : `[${pct(s.lo).toFixed(2)}, ${pct(s.hi).toFixed(2)}]`,
    runs: runs.join(' '),
  };
}

/**
 * Sideways offsets for points that would stack: the k-th of K series at one place gets
 * (k − (K − 1)/2) × step.
 */
export function dodge<T>(items: readonly T[], place: (item: T) => string, step: number): number[] {
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => groups.set(place(item), [...(groups.get(place(item)) ?? []), i]));
  const offsets = items.map(() => 0);
  for (const indices of groups.values())
    indices.forEach((index, k) => (offsets[index] = (k - (indices.length - 1) / 2) * step));
  return offsets;
}

/** Mean points, interval rules with caps, and per-seed points behind the toggle, on one x. */
function meanLayers(
  x: Record<string, unknown>,
  seedRows: readonly Record<string, unknown>[],
  extra: { shape?: Record<string, unknown>; detail?: Record<string, unknown>; line?: boolean } = {},
) {
  const shape = extra.shape === undefined ? {} : { shape: extra.shape };
  const hasInterval = [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }];
  return [
    ...(extra.line
      ? [
          {
            mark: { type: 'line', strokeWidth: 1.5, opacity: 0.8 },
            encoding: {
              x,
              y: { ...accuracyAxis, field: 'accuracy' },
              color,
              ...(extra.detail === undefined ? {} : { detail: extra.detail }),
              order: { field: 'x' },
            },
          },
        ]
      : []),
    {
      transform: hasInterval,
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: { x, y: { ...accuracyAxis, field: 'lo' }, y2: { field: 'hi' }, color },
    },
    ...(['lo', 'hi'] as const).map((end) => ({
      transform: hasInterval,
      mark: { type: 'tick', orient: 'horizontal', size: 8, thickness: 2 },
      encoding: { x, y: { ...accuracyAxis, field: end }, color },
    })),
    {
      data: { values: seedRows },
      transform: [{ filter: SEEDS_PARAM.name }],
      mark: { type: 'point', size: 25, opacity: 0.7, strokeWidth: 1 },
      encoding: { x, y: { ...accuracyAxis, field: 'accuracy' }, color, tooltip: seedTooltip },
    },
    {
      mark: { type: 'point', filled: true, size: 60, opacity: 1 },
      encoding: {
        x,
        y: { ...accuracyAxis, field: 'accuracy' },
        color,
        ...shape,
        tooltip: meanTooltip,
      },
    },
  ];
}

/** The plots of a suite's cells and the schedules its runs trained with. */
export function plots(
  cells: readonly Cell[],
  schedules: readonly RunSchedule[],
): Record<string, Spec> {
  const specs: Record<string, unknown> = {
    'accuracy-vs-sparsity': accuracyVsDensity(cells),
    'accuracy-per-cycle': accuracyPerCycle(cells),
    'learning-rate': learningRate(schedules),
    'accuracy-vs-cost': accuracyVsCost(cells),
  };
  return specs as Record<string, Spec>;
}

/** Log-axis ticks 1, 2, 5 × 10^k inside [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++)
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** k).toPrecision(3));
      if (v >= lo && v <= hi) ticks.push(v);
    }
  return ticks;
}

function accuracyVsDensity(cells: readonly Cell[]) {
  const order = [...cells].sort(
    (a, b) => a.sparsity - b.sparsity || a.method.localeCompare(b.method),
  );
  // Offsets in decades of density: cells at one sparsity spread ±0.025 decade apart.
  const offsets = dodge(order, (c) => c.sparsity.toFixed(6), 0.025);
  const density = (s: number) => Number((100 * (1 - s)).toPrecision(6));
  const rows = order.map((c, i) => ({
    method: c.method,
    cellSparsity: sparsityText(c.sparsity),
    density: density(c.sparsity),
    x: density(c.sparsity) * 10 ** offsets[i]!,
    ...meanFields(c, c.runIds),
  }));
  const seedRows = order.flatMap((c, i) =>
    c.values.map((v) => ({
      method: c.method,
      cellSparsity: sparsityText(c.sparsity),
      x: density(c.sparsity) * 10 ** offsets[i]!,
      run: v.run,
      seed: v.seed,
      accuracy: pct(v.value),
    })),
  );
  const densities = rows.map((r) => r.density).filter((d) => d > 0);
  const [lo, hi] = [Math.min(...densities, 100) / 1.6, Math.min(100, Math.max(...densities)) * 1.6];
  const ticks = [...new Set([...logTicks(lo, 100), ...densities])].sort((a, b) => b - a);
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'weights remaining (%, log scale; sparsity = 100% − this)',
    scale: { type: 'log', domain: [lo, hi], reverse: true, nice: false },
    axis: {
      values: ticks,
      labelExpr: "[format(datum.value, '~g') + '%', format(100 - datum.value, '~g') + '% sparse']",
      grid: true,
    },
  };
  return {
    $schema: SCHEMA,
    title: {
      text: 'Accuracy against sparsity',
      subtitle: [
        INTERVAL_NOTE,
        'a line joins each method across sparsities; methods at one sparsity are offset sideways',
      ],
    },
    params: [SEEDS_PARAM],
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    layer: meanLayers(x, seedRows, { line: true, detail: { field: 'method' } }),
  };
}

function accuracyPerCycle(cells: readonly Cell[]) {
  const panel = (kind: 'level' | 'cycle') => {
    const series = cells
      .filter((c) => c.steps.some((s) => s.kind === kind))
      .sort((a, b) => a.method.localeCompare(b.method) || a.sparsity - b.sparsity);
    const steps = series.flatMap((c) =>
      c.steps
        .filter((s) => s.kind === kind)
        .map((s) => ({ cell: c, step: s, at: kind === 'level' ? s.index : s.epochInCycles })),
    );
    const offsets = dodge(steps, (s) => String(s.at), kind === 'level' ? 0.09 : 0.2);
    const base = (i: number) => {
      const { cell, step, at } = steps[i]!;
      return {
        method: cell.method,
        cellSparsity: sparsityText(cell.sparsity),
        series: `${cell.method} @ ${sparsityText(cell.sparsity)}`,
        phase: step.phase,
        step: kind === 'level' ? `level ${step.index}` : `cycle ${step.index}`,
        stepSparsity: sparsityText(step.sparsity),
        epochInRun: step.epochInRun,
        x: at + offsets[i]!,
      };
    };
    const rows = steps.map(({ cell, step }, i) => ({
      ...base(i),
      ...meanFields(step, cell.runIds),
    }));
    const seedRows = steps.flatMap(({ step }, i) =>
      step.values.map((v) => ({ ...base(i), run: v.run, seed: v.seed, accuracy: pct(v.value) })),
    );
    const x = {
      field: 'x',
      type: 'quantitative',
      title:
        kind === 'level'
          ? 'pruning level (prune, rewind, retrain; 0 = dense before the first prune)'
          : 'training epochs at the end of each cycle (counted from the first cycle after any pruning levels)',
      scale: { zero: false, nice: false, padding: 12 },
      axis: { tickMinStep: 1, format: 'd' },
    };
    const tooltip = [
      ...meanTooltip.slice(0, 2),
      { field: 'step', title: kind === 'level' ? 'level' : 'cycle' },
      { field: 'phase', title: 'phase' },
      { field: 'stepSparsity', title: 'sparsity during it' },
      { field: 'epochInRun', title: 'epochs into the run' },
      ...meanTooltip.slice(2),
    ];
    const layers = meanLayers(x, seedRows, {
      line: true,
      detail: { field: 'series' },
      shape: { field: 'cellSparsity', type: 'nominal', title: 'target sparsity' },
    });
    // The means' tooltip with the step's own fields.
    (layers.at(-1)!.encoding as { tooltip: unknown }).tooltip = tooltip;
    return {
      width: WIDTH,
      height: 240,
      title:
        kind === 'level'
          ? 'Iterative pruning: best test accuracy after each level'
          : 'Training cycles (restarts of the schedule): best test accuracy of each cycle',
      data: { values: rows },
      layer: layers,
    };
  };
  const panels = (['level', 'cycle'] as const)
    .filter((kind) => cells.some((c) => c.steps.some((s) => s.kind === kind)))
    .map(panel);
  return {
    $schema: SCHEMA,
    title: {
      text: 'Accuracy per pruning level and per cycle',
      subtitle: [
        `one series per (method, target sparsity); ${INTERVAL_NOTE}`,
        'series at one x are offset sideways so none hides another',
      ],
    },
    params: [SEEDS_PARAM],
    vconcat: panels,
    resolve: { scale: { color: 'shared', shape: 'shared' } },
  };
}

function learningRate(schedules: readonly RunSchedule[]) {
  const title = (s: RunSchedule) => `${s.label}: ${s.usedBy.join(', ')}`;
  const rows = schedules.flatMap((s) => [
    ...s.rates.map((lr, epoch) => ({ schedule: title(s), usedBy: s.usedBy.join(', '), epoch, lr })),
    // The last epoch's rate again at its end, so a step line draws the last epoch too.
    { schedule: title(s), usedBy: s.usedBy.join(', '), epoch: s.rates.length, lr: s.rates.at(-1)! },
  ]);
  return {
    $schema: SCHEMA,
    title: {
      text: 'Learning rate per epoch, as the runs trained',
      subtitle:
        "each distinct schedule among the suite's runs and the cells that used it; rate at each epoch's start, log scale",
    },
    data: { values: rows },
    facet: {
      row: {
        field: 'schedule',
        type: 'nominal',
        title: null,
        sort: schedules.map(title),
        header: { labelOrient: 'top', labelAnchor: 'start', labelAngle: 0, labelLimit: 700 },
      },
    },
    spec: {
      width: WIDTH,
      height: 60,
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
        y: {
          field: 'lr',
          type: 'quantitative',
          title: 'rate',
          scale: { type: 'log' },
          axis: { format: '~g', tickCount: 3 },
        },
        tooltip: [
          { field: 'schedule', title: 'schedule' },
          { field: 'usedBy', title: 'used by' },
          { field: 'epoch', title: 'epoch (from)' },
          { field: 'lr', title: 'learning rate', format: '~g' },
        ],
      },
    },
    resolve: { scale: { x: 'shared' } },
  };
}

function accuracyVsCost(cells: readonly Cell[]) {
  const rows = cells.map((c) => ({
    method: c.method,
    cellSparsity: sparsityText(c.sparsity),
    epochs: c.epochs,
    flops: c.flops,
    ...meanFields(c, c.runIds),
  }));
  const seedRows = cells.flatMap((c) =>
    c.values.map((v) => ({
      method: c.method,
      cellSparsity: sparsityText(c.sparsity),
      epochs: c.epochs,
      flops: c.flops,
      run: v.run,
      seed: v.seed,
      accuracy: pct(v.value),
    })),
  );
  // A log axis needs positive counts; results without any get a nominal decade.
  const flops = cells.map((c) => c.flops).filter((f) => f > 0);
  const [flo, fhi] =
    flops.length === 0 ? [1, 10] : [Math.min(...flops) / 1.6, Math.max(...flops) * 1.6];
  const epochs = Math.max(...cells.map((c) => c.epochs));
  const shape = { field: 'cellSparsity', type: 'nominal', title: 'sparsity' };
  const panel = (x: Record<string, unknown>, field: string) => ({
    width: WIDTH / 2,
    height: HEIGHT,
    layer: meanLayers({ ...x, field }, seedRows, { shape }),
  });
  return {
    $schema: SCHEMA,
    title: {
      text: 'Accuracy against training cost: epochs, and FLOPs of the sparse network',
      subtitle: INTERVAL_NOTE,
    },
    params: [SEEDS_PARAM],
    data: { values: rows },
    hconcat: [
      panel(
        {
          type: 'quantitative',
          title: 'training epochs',
          scale: { domain: [0, Math.ceil(epochs * 1.1)], nice: false },
        },
        'epochs',
      ),
      panel(
        {
          type: 'quantitative',
          title: 'training FLOPs (log scale)',
          scale: { type: 'log', domain: [flo, fhi], nice: false },
          axis: { values: logTicks(flo, fhi), format: '~s' },
        },
        'flops',
      ),
    ],
  };
}

/** Cumulative epochs at the end of each cycle of a run (cycle k: 1-based over its cycles). */
function epochAtEndOf(result: RunSummary | undefined, cycle: number): number {
  if (result === undefined) return cycle;
  return result.cycles.slice(0, cycle).reduce((sum, c) => sum + c.epochs, 0);
}

/** Per-cycle analyses of the runs behind analysis claims, averaged over seeds per method. */
export async function analysisPlots(
  verdict: SuiteVerdict,
  configs: ReadonlyMap<string, RunConfig>,
  source: RunSource,
  baseEpochs: number,
): Promise<Record<string, Spec>> {
  const analysed = verdict.claims.filter((c) => ANALYSIS_METRICS.has(c.metric));
  const ids = [...new Set(analysed.flatMap((c) => c.runIds))]
    .filter((id) => source.result(id)?.status === 'completed')
    .sort();
  if (ids.length === 0) return {};
  type Value = { run: string; seed: number; value: number };
  const group = new Map<string, Value[]>();
  const add = (key: (string | number)[], v: Value) => {
    const k = JSON.stringify(key);
    group.set(k, [...(group.get(k) ?? []), v]);
  };
  const barriers: { pair: string; meanOfEnds: number; linear: number }[] = [];
  for (const id of ids) {
    const config = configs.get(id)!;
    const label = cellLabel(config, baseEpochs);
    const result = source.result(id);
    const seed = config.seed;
    const series = await source.cycleSeries(id);
    const at = (cycle: number) => epochAtEndOf(result, cycle);
    for (const c of series.cycles)
      add(['sharpness', label, at(c.cycle)], { run: id, seed, value: c.sharpness });
    for (const p of series.pairs) {
      const pair = `${label} ${p.from}→${p.to}`;
      add(['barrier', label, at(p.to)], { run: id, seed, value: 100 * p.testErrorBarrier });
      add(['barrier-linear', label, at(p.to)], {
        run: id,
        seed,
        value: 100 * p.testErrorBarrierLinear,
      });
      add(['signs', label, at(p.to)], { run: id, seed, value: 100 * p.signFlipFraction });
      barriers.push({
        pair,
        meanOfEnds: 100 * p.testErrorBarrier,
        linear: 100 * p.testErrorBarrierLinear,
      });
      for (const point of p.curve)
        for (const split of ['test', 'train'] as const)
          add(['lmc', pair, point.alpha, split], {
            run: id,
            seed,
            value: 100 * point[split].error,
          });
    }
  }
  const entries = (kind: string) =>
    [...group]
      .map(([key, values]) => [JSON.parse(key) as (string | number)[], values] as const)
      .filter(([key]) => key[0] === kind);
  const mean = (values: readonly Value[]) =>
    values.reduce((a, b) => a + b.value, 0) / values.length;
  const specs: Record<string, unknown> = {};
  const lmcRows = entries('lmc').map(([key, values]) => ({
    pair: key[1] as string,
    alpha: key[2] as number,
    split: key[3] as string,
    error: mean(values),
    n: values.length,
    runs: values.map((v) => v.run).join(' '),
  }));
  if (lmcRows.length > 0) {
    // Each pair's barriers, both definitions, marked where the mean curve (test) peaks above its
    // reference: the mean of the ends (Frankle et al.) and the straight line between the ends.
    const marks = [...new Set(lmcRows.map((r) => r.pair))].sort().flatMap((pair) => {
      const curve = lmcRows
        .filter((r) => r.pair === pair && r.split === 'test')
        .sort((a, b) => a.alpha - b.alpha);
      const [first, last] = [curve[0]!, curve.at(-1)!];
      const perSeed = barriers.filter((b) => b.pair === pair);
      const reference = {
        'mean of ends': () => (first.error + last.error) / 2,
        linear: (alpha: number) => (1 - alpha) * first.error + alpha * last.error,
      } as const;
      return (['mean of ends', 'linear'] as const).map((definition) => {
        const ref = reference[definition];
        const peak = curve.reduce((best, p) =>
          p.error - ref(p.alpha) > best.error - ref(best.alpha) ? p : best,
        );
        const seedMean =
          perSeed.reduce((s, b) => s + (definition === 'linear' ? b.linear : b.meanOfEnds), 0) /
          perSeed.length;
        return {
          pair,
          definition: `barrier over the ${definition === 'linear' ? 'straight line between the ends' : 'mean of the ends'}`,
          alpha: peak.alpha,
          from: ref(peak.alpha),
          to: peak.error,
          barrier: Number((peak.error - ref(peak.alpha)).toFixed(3)),
          label: `${definition === 'linear' ? 'linear' : 'mean of ends'} ${seedMean.toFixed(2)}`,
          perSeed: Number(seedMean.toFixed(3)),
          n: perSeed.length,
        };
      });
    });
    const uses = (metric: string) => analysed.filter((c) => c.metric === metric).map((c) => c.id);
    const claimNote = [
      uses('barrier').length > 0
        ? `claims on the mean-of-ends barrier (metric barrier): ${uses('barrier').join(', ')}`
        : 'no claim reads the mean-of-ends barrier (metric barrier)',
      uses('barrier-linear').length > 0
        ? `claims on the straight-line barrier (metric barrier-linear): ${uses('barrier-linear').join(', ')}`
        : 'no claim reads the straight-line barrier (metric barrier-linear)',
    ];
    specs['lmc-curves'] = {
      $schema: SCHEMA,
      title: {
        text: 'Error along the line between consecutive cycles (mean over seeds)',
        subtitle: [
          'test-error barriers, marked where the mean curve peaks above its reference and labelled with the mean over seeds',
          "of each seed's barrier (what claims read): thick, over the mean of the ends (Frankle et al.); thin, over the straight line",
          ...claimNote,
        ],
      },
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: { values: lmcRows },
          mark: { type: 'line', point: true },
          encoding: {
            x: {
              field: 'alpha',
              type: 'quantitative',
              title: 'α (0 = earlier cycle, 1 = later)',
              scale: { domain: [-0.04, 1.04], nice: false },
            },
            y: { field: 'error', type: 'quantitative', title: 'error (%)', scale: { zero: false } },
            color: { field: 'pair', type: 'nominal', title: 'cycles', legend: { labelLimit: 400 } },
            strokeDash: {
              field: 'split',
              type: 'nominal',
              title: 'split',
              scale: {
                domain: ['test', 'train'],
                range: [
                  [1, 0],
                  [5, 3],
                ],
              },
              // Line samples in the legend (vega-lite gives a dash legend no stroke colour of its own).
              legend: {
                symbolType: 'stroke',
                symbolSize: 400,
                encode: {
                  symbols: { update: { stroke: { value: '#333' }, strokeWidth: { value: 2 } } },
                },
              },
            },
            tooltip: [
              { field: 'pair', title: 'cycles' },
              { field: 'split', title: 'split' },
              { field: 'alpha', title: 'α' },
              { field: 'error', title: 'mean error (%)', format: '.3f' },
              { field: 'n', title: 'seeds' },
              { field: 'runs', title: 'runs' },
            ],
          },
        },
        ...(['mean of the ends', 'straight line between the ends'] as const).flatMap((ref, i) => {
          const mine = marks.filter((m) => m.definition.endsWith(ref));
          const tooltip = [
            { field: 'pair', title: 'cycles' },
            { field: 'definition', title: 'barrier' },
            { field: 'barrier', title: 'of the mean curve (pts)' },
            { field: 'perSeed', title: 'mean of per-seed barriers (pts)' },
            { field: 'n', title: 'seeds' },
          ];
          const x = { field: 'alpha', type: 'quantitative' };
          return [
            {
              data: { values: mine },
              mark: { type: 'rule', strokeWidth: i === 0 ? 5 : 2, opacity: i === 0 ? 0.45 : 1 },
              encoding: {
                x,
                y: { field: 'from', type: 'quantitative' },
                y2: { field: 'to' },
                color: { field: 'pair', type: 'nominal' },
                tooltip,
              },
            },
            {
              data: { values: mine },
              mark: {
                type: 'text',
                align: 'left',
                dx: 5,
                dy: i === 0 ? -6 : 8,
                fontSize: 10,
              },
              encoding: {
                x,
                y: { field: 'to', type: 'quantitative' },
                text: { field: 'label' },
                color: { field: 'pair', type: 'nominal' },
                tooltip,
              },
            },
          ];
        }),
      ],
    };
  }
  const perCycle = (kind: string, title: string) => {
    // Methods at one epoch (a one-cycle control beside a cyclic run's last cycle) side by side.
    const offsets = dodge(entries(kind), ([key]) => String(key[2]), 0.3);
    const rows = entries(kind).map(([key, values], i) => {
      const s = estimate(values.map((v) => v.value));
      return {
        method: key[1] as string,
        epoch: key[2] as number,
        x: (key[2] as number) + offsets[i]!,
        value: s.mean,
        lo: s.ci?.[0] ?? null,
        hi: s.ci?.[1] ?? null,
        n: s.n,
        interval:
          s.ci === null ? `none (${s.n} seed)` : `[${s.ci[0].toFixed(3)}, ${s.ci[1].toFixed(3)}]`,
        runs: values.map((v) => v.run).join(' '),
      };
    });
    const seedRows = entries(kind).flatMap(([key, values], i) =>
      values.map((v) => ({
        method: key[1],
        epoch: key[2],
        x: (key[2] as number) + offsets[i]!,
        value: v.value,
        run: v.run,
        seed: v.seed,
      })),
    );
    const x = {
      field: 'x',
      type: 'quantitative',
      title: 'training epoch at the end of the cycle',
      scale: { zero: false, padding: 12 },
      axis: { tickMinStep: 1, format: 'd' },
    };
    const y = { field: 'value', type: 'quantitative', title, scale: { zero: false } };
    const methodColor = {
      field: 'method',
      type: 'nominal',
      title: 'method',
      legend: { labelLimit: 400 },
    };
    return {
      width: 170,
      height: 220,
      title,
      data: { values: rows },
      layer: [
        { mark: { type: 'line' }, encoding: { x, y, color: methodColor } },
        {
          transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color: methodColor },
        },
        {
          data: { values: seedRows },
          transform: [{ filter: SEEDS_PARAM.name }],
          mark: { type: 'point', size: 25, opacity: 0.7 },
          encoding: {
            x,
            y,
            color: methodColor,
            tooltip: [
              { field: 'method', title: 'method' },
              { field: 'epoch', title: 'epoch' },
              { field: 'run', title: 'run' },
              { field: 'seed', title: 'seed' },
              { field: 'value', title, format: '.3f' },
            ],
          },
        },
        {
          mark: { type: 'point', filled: true, size: 50 },
          encoding: {
            x,
            y,
            color: methodColor,
            tooltip: [
              { field: 'method', title: 'method' },
              { field: 'epoch', title: 'epoch' },
              { field: 'value', title: `mean ${title}`, format: '.3f' },
              { field: 'n', title: 'seeds' },
              { field: 'interval', title: '95% interval' },
              { field: 'runs', title: 'runs' },
            ],
          },
        },
      ],
    };
  };
  specs['cycle-analyses'] = {
    $schema: SCHEMA,
    title: {
      text: 'Per cycle: test-error barrier to the previous cycle, sign flips, top Hessian eigenvalue',
      subtitle: [
        'x: training epoch at the end of the cycle (a pair: of its later cycle), so a one-cycle control sits at its own length',
        'mean and 95% t interval over seeds; barrier over the mean of the ends (metric barrier)',
      ],
    },
    params: [SEEDS_PARAM],
    hconcat: [
      perCycle('barrier', 'barrier (test error, pts)'),
      perCycle('signs', 'sign flips (%)'),
      perCycle('sharpness', 'top eigenvalue'),
    ],
  };
  return specs as Record<string, Spec>;
}
