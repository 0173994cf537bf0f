/**
 * Reports of a claims suite: Markdown and HTML with plots (plots.ts builds the vega-lite specs,
 * render.ts renders them, html.ts writes the page). Everything is derived from the suite's runs,
 * sorted and free of timestamps: the same results give the same files (golden-tested).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cycleShapeOf } from '../config/lr-shape.js';
import { resolveRun } from '../config/resolve.js';
import { LrSchedule, cyclicEpochs } from '../core/lr-schedule.js';
import { markdownCell, siUnits } from '../text/format.js';
import { formatDifference, formatValue, METRIC_NAMES } from '../claims/verdict-text.js';
import { suiteRuns, type LoadedSuite, type SuiteVerdict } from '../claims/claims.js';
import type { RunSource } from '../claims/run-source.js';
import { reportPage } from './html.js';
import { analysisPlots, cellsOf, plots } from './plots.js';
import { renderSvg, svgToPng } from './render.js';

export { escapeHtml, reportHtml } from './html.js';
export { cellsOf, type Cell } from './plots.js';
export { renderSvg, svgToPng } from './render.js';

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
/**
 * What writing a report did: wrote it (the files written; stale ones of an earlier report
 * removed), or refused to (why: e.g. every claim missing would overwrite a report with nothing).
 */
export type ReportOutcome =
  | {
      readonly kind: 'written';
      readonly files: readonly string[];
      readonly removed: readonly string[];
    }
  | { readonly kind: 'refused'; readonly reason: string };

export interface ReportOptions {
  /** Write even a report that would be refused (every claim missing). */
  readonly force?: boolean;
}

export async function writeReport(
  loaded: LoadedSuite,
  verdict: SuiteVerdict,
  source: RunSource,
  dir: string,
  _options: ReportOptions = {},
): Promise<ReportOutcome> {
  mkdirSync(dir, { recursive: true });
  const { suite } = loaded;
  const configs = suiteRuns(suite);
  const base = resolveRun({ ...suite.base, method: { name: 'dense' } });
  const cells = cellsOf(configs, source, suite.metric, base.training.epochsPerCycle);
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
    ...(await analysisPlots(verdict, configs, source, base.training.epochsPerCycle)),
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
  const backend = cells.length > 0 ? source.result(cells[0]!.runIds[0]!)?.backend : undefined;
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
  // The tables as HTML; the plots inline as SVG rather than as PNG links.
  const html = reportPage(markdown.split('## Plots')[0]!, svgs);
  writeFileSync(join(dir, 'index.html'), html);
  written.unshift(join(dir, 'index.md'), join(dir, 'index.html'));
  return { kind: 'written', files: written, removed: [] };
}
