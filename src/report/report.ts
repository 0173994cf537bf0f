/**
 * Reports of a claims suite: Markdown and HTML with plots. Plots are vega-lite specs compiled and
 * rendered to SVG by vega without a browser (renderer 'none'), then to PNG by resvg. Everything is
 * derived from stored results, sorted, and free of timestamps, and vega's random source is seeded:
 * the same results give the same files (golden-tested).
 *
 * Plots: accuracy against sparsity per method with confidence intervals; test accuracy per cycle;
 * the learning-rate schedule of the suite (cyclic and one-cycle control); accuracy against
 * training cost (epochs and sparse FLOPs).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { Marked } from 'marked';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { cycleShapeOf } from '../config/lr-shape.js';
import { resolveRun } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { LrSchedule, cyclicEpochs } from '../core/lr-schedule.js';
import { methodLabel, targetOf } from '../harness/report-lines.js';
import { markdownCell, siUnits } from '../text/format.js';
import { formatDifference, formatValue, METRIC_NAMES } from '../claims/verdict-text.js';
import type { Store } from '../store/store.js';
import { estimate } from '../stats/inference.js';
import { metricOf } from '../claims/gate.js';
import {
  ANALYSIS_METRICS,
  suiteRuns,
  type LoadedSuite,
  type SuiteVerdict,
} from '../claims/claims.js';
import { cycleSeries } from '../analysis/stored.js';

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
  store: Store,
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
    const results = ids.map((id) => store.result(id)).filter((r) => r !== undefined);
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

type Spec = vegaLite.TopLevelSpec;

function plots(
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
async function analysisPlots(
  verdict: SuiteVerdict,
  configs: ReadonlyMap<string, RunConfig>,
  store: Store,
  baseEpochs: number,
): Promise<Record<string, Spec>> {
  const ids = [
    ...new Set(
      verdict.claims.filter((c) => ANALYSIS_METRICS.has(c.metric)).flatMap((c) => c.runIds),
    ),
  ].filter((id) => store.storedCycles(id).length > 0 && store.result(id)?.status === 'completed');
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
    const series = await cycleSeries(store, id);
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

/** SVG of a vega-lite spec, rendered without a browser; deterministic. */
export async function renderSvg(spec: Spec): Promise<string> {
  // vega's typings omit its seeded random source (present at run time since vega 5).
  const seeded = vega as unknown as {
    setRandom(random: () => number): void;
    randomLCG(seed: number): () => number;
  };
  seeded.setRandom(seeded.randomLCG(0));
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function svgToPng(svg: string): Buffer {
  return Buffer.from(
    new Resvg(svg, { fitTo: { mode: 'width', value: 1200 }, background: 'white' }).render().asPng(),
  );
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

/** Links and images may go to http(s), mailto or a relative path; never a script or an entity trick. */
const safeHref = (href: string) =>
  !href.includes('&') && (/^(https?|mailto):/i.test(href) || !href.includes(':'));

/**
 * Markdown to HTML for reports. Claims files supply text that reaches the HTML (descriptions,
 * claim ids, paper references), and a report's own Markdown holds no HTML, so every `<` is made
 * an entity before parsing: no tag, raw HTML block or raw-text element can start (an HTML token
 * would be escaped anyway). A link or image to anything but http(s), mailto or a relative path
 * is rendered as its text.
 */
const reportMarked = new Marked({
  async: false,
  hooks: { preprocess: (markdown) => markdown.replaceAll('<', '&lt;') },
  renderer: {
    html: ({ text }) => escapeHtml(text),
    link(token) {
      return safeHref(token.href) ? false : this.parser.parseInline(token.tokens);
    },
    image(token) {
      return safeHref(token.href) ? false : escapeHtml(token.text);
    },
  },
});

/** A report's Markdown as HTML, with user text escaped ({@link reportMarked}). */
export function reportHtml(markdown: string): string {
  return reportMarked.parse(markdown, { async: false });
}

/** User text as one Markdown table cell: a `|` would end the cell, a newline the row. */
function markdownTable(verdict: SuiteVerdict): string {
  const lines = verdict.claims.map((c) => {
    const interval = c.test
      ? `[${formatDifference(c.metric, c.test.ci[0])}, ${formatDifference(c.metric, c.test.ci[1])}]`
      : c.allowed
        ? `A in [${formatValue(c.metric, c.allowed[0])}, ${formatValue(c.metric, c.allowed[1])}]`
        : markdownCell(c.detail);
    const p =
      c.pAdjusted === null ? '–' : c.pAdjusted < 0.0001 ? '<0.0001' : c.pAdjusted.toFixed(4);
    return `| ${markdownCell(c.id)} | ${markdownCell(c.paper ?? '')} | ${markdownCell(c.description)} | ${METRIC_NAMES[c.metric]} | ${formatValue(c.metric, c.a?.mean)} | ${formatValue(c.metric, c.b?.mean)} | ${c.test ? formatDifference(c.metric, c.test.difference) : '–'} | ${interval} | ${p} | **${c.verdict}**${c.gate ? '' : ' (not gating)'} |`;
  });
  return [
    '| claim | paper | statement | metric | A | B | A − B | interval | p (Holm) | verdict |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}

/** Writes index.md, index.html and one SVG and PNG per plot; returns the paths written. */
export async function writeReport(
  loaded: LoadedSuite,
  verdict: SuiteVerdict,
  store: Store,
  dir: string,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const { suite } = loaded;
  const configs = suiteRuns(suite);
  const base = resolveRun({ ...suite.base, method: { name: 'dense' } });
  const cells = cellsOf(configs, store, suite.metric, base.training.epochsPerCycle);
  const scheduleOf = (cycleEpochs: number[]) => {
    const schedule = new LrSchedule({
      peak: base.training.peak,
      shape: cycleShapeOf(base.training.shape),
      granularity: 'epoch',
      stepsPerEpoch: 1,
      cycleEpochs,
      ...(base.conventions?.lrBoundaries === undefined
        ? {}
        : { boundaries: base.conventions.lrBoundaries }),
    });
    return Array.from({ length: schedule.totalSteps }, (_, e) => schedule.learningRateAt(e));
  };
  const specs = {
    ...plots(cells, {
      cyclic: scheduleOf(cyclicEpochs(base.training.epochsPerCycle, 3)),
      control: scheduleOf([3 * base.training.epochsPerCycle]),
    }),
    ...(await analysisPlots(verdict, configs, store, base.training.epochsPerCycle)),
  };
  const written: string[] = [];
  const svgs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const svg = await renderSvg(spec);
    svgs[name] = svg;
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
    writeFileSync(join(dir, `${name}.vl.json`), `${JSON.stringify(spec, null, 1)}\n`);
    written.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  }
  const backend = cells.length > 0 ? store.result(cells[0]!.runIds[0]!)?.backend : undefined;
  const cellRows = cells.map(
    (c) =>
      `| ${c.method} | ${c.sparsity.toFixed(3)} | ${(100 * c.mean).toFixed(2)} | [${(100 * c.lo).toFixed(2)}, ${(100 * c.hi).toFixed(2)}] | ${c.n} | ${c.epochs} | ${siUnits(c.flops)} | ${c.runIds.join(' ')} |`,
  );
  const markdown = [
    `# cyclesparse — suite \`${suite.suite}\``,
    '',
    suite.description?.trim() ?? '',
    '',
    `**${verdict.passed ? 'Gate passed' : 'Gate failed'}**: ${verdict.claims.filter((c) => c.gate && c.verdict === 'holds').length} of ${verdict.claims.filter((c) => c.gate).length} gating claims hold. Metric: ${suite.metric} test accuracy of the last cycle; ${suite.seeds.length} seeds per cell; α = ${suite.alpha}, ${suite.correction === 'holm' ? 'Holm-adjusted' : 'unadjusted'} p-values; intervals at ${(100 * (1 - 2 * suite.alpha)).toFixed(0)}%.${backend ? ` Backend: ${backend.name} (TF.js ${backend.tfjsVersion}, ${backend.threads} thread).` : ''}`,
    '',
    markdownTable(verdict),
    '',
    '## Cells',
    '',
    '| method | sparsity | test acc. (%) | 95% CI | seeds | epochs | training FLOPs | runs |',
    '|---|---|---|---|---|---|---|---|',
    ...cellRows,
    '',
    '## Plots',
    '',
    ...Object.keys(specs).flatMap((name) => [`![${name}](${name}.png)`, '']),
    'Each plot also as SVG and as its vega-lite spec (`*.vl.json`).',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'index.md'), markdown);
  const html = [
    '<!doctype html><html><head><meta charset="utf-8"><title>cyclesparse report</title>',
    '<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head><body>',
    // The tables as HTML; the plots inline as SVG rather than as PNG links.
    reportHtml(markdown.split('## Plots')[0]!),
    ...Object.values(svgs),
    '</body></html>',
  ].join('\n');
  writeFileSync(join(dir, 'index.html'), html);
  written.unshift(join(dir, 'index.md'), join(dir, 'index.html'));
  return written;
}
