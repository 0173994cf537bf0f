/**
 * Reports of a claims suite: Markdown and HTML with plots (plots.ts builds the vega-lite specs,
 * render.ts renders them, html.ts writes the page), and the per-seed results file a later report
 * can be rebuilt from. Everything is derived from the suite's runs, sorted and free of
 * timestamps: the same results give the same files (golden-tested).
 */

import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { resolveRun } from '../config/resolve.js';
import { SEED_CAP } from '../stats/power.js';
import { markdownCell, siUnits } from '../text/format.js';
import {
  familiesText,
  formatDifference,
  formatValue,
  intervalText,
  METRIC_NAMES,
  policyText,
} from '../claims/verdict-text.js';
import {
  evaluateSuite,
  suiteRuns,
  type ClaimVerdict,
  type ExternalRow,
  type LoadedSuite,
  type SuiteVerdict,
} from '../claims/claims.js';
import type { RunSource } from '../claims/run-source.js';
import { fileSource, writeResultsFile } from '../claims/results-file.js';
import { suiteValues } from '../claims/gate.js';
import { reportPage, type ReportPlot } from './html.js';
import { analysisPlots, cellsOf, plots, schedulesOf, type Cell } from './plots.js';
import { renderSvg, svgToPng } from './render.js';

export { escapeHtml, reportHtml } from './html.js';
export { cellsOf, type Cell } from './plots.js';
export { renderSvg, svgToPng } from './render.js';

/** Every plot a report may write: what stale-file removal may delete, and nothing else. */
export const PLOT_NAMES = [
  'accuracy-vs-sparsity',
  'accuracy-per-cycle',
  'learning-rate',
  'accuracy-vs-cost',
  'lmc-curves',
  'cycle-analyses',
] as const;
const PLOT_FILES = ['.svg', '.png', '.vl.json'] as const;

/** Where screenshots of a report go (browser-testing.ts): `<plot>.png` and `index.png`. */
export const SCREENSHOTS_DIR = 'screenshots';

/** The file a report's per-seed results go to, beside index.md. */
export const RESULTS_FILE = 'results.json';

const formatP = (p: number | null) => (p === null ? '–' : p < 0.0001 ? '<0.0001' : p.toFixed(4));

/**
 * The verdict as one table cell: the word alone in bold (the HTML colours it), then whether it
 * gates and, for an inconclusive claim, the seeds a power analysis says would decide it.
 */
function verdictCell(c: ClaimVerdict): string {
  const notes = [
    ...(c.gate ? [] : ['not gating']),
    ...(c.verdict === 'inconclusive' && c.power !== null
      ? [
          c.power.seeds === null
            ? `no n ≤ ${SEED_CAP} seeds per side would decide it`
            : `~${c.power.seeds} seeds per side would decide it, likely as ${c.power.towards}`,
        ]
      : []),
  ];
  return `**${c.verdict}**${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

function claimsTable(verdict: SuiteVerdict, correction: 'holm' | 'none'): string {
  const lines = verdict.claims.map((c) => {
    const interval =
      c.test === null && c.allowed === null ? markdownCell(c.detail) : intervalText(c);
    return `| ${markdownCell(c.id)} | ${markdownCell(c.paper ?? '')} | ${markdownCell(c.description)} | ${c.family} | ${METRIC_NAMES[c.metric]} | ${formatValue(c.metric, c.a?.mean)} | ${formatValue(c.metric, c.b?.mean)} | ${c.test ? formatDifference(c.metric, c.test.difference) : '–'} | ${interval} | ${formatP(c.pAdjusted)} | ${formatP(c.pOppositeAdjusted)} | ${verdictCell(c)} |`;
  });
  // Holds p-values of gating claims are unadjusted (an intersection–union gate); the header line
  // above the table says which side is adjusted in which family.
  const opposite = correction === 'holm' ? 'p opposite (adj.)' : 'p opposite';
  return [
    `| claim | paper | statement | family | metric | A | B | A − B | interval | p | ${opposite} | verdict |`,
    '|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...lines,
  ].join('\n');
}

const sparsityText = (s: number) => `${Number((100 * s).toFixed(2))}%`;

function cellsTable(cells: readonly Cell[]): string {
  const rows = cells.map(
    (c) =>
      `| ${markdownCell(c.method)} | ${sparsityText(c.sparsity)} | ${(100 * c.mean).toFixed(2)} | ${c.lo === null || c.hi === null ? '–' : `[${(100 * c.lo).toFixed(2)}, ${(100 * c.hi).toFixed(2)}]`} | ${c.n} | ${c.epochs} | ${siUnits(c.flops)} |`,
  );
  return [
    '| method | sparsity | test acc. (%) | 95% CI | seeds | epochs | training FLOPs |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

/** The runs behind each cell, kept out of the tables: one compact line per cell. */
function runsList(cells: readonly Cell[]): string[] {
  return cells.map(
    (c) =>
      `- ${markdownCell(c.method)}, ${sparsityText(c.sparsity)}: ${c.runIds.map((id) => `\`${id}\``).join(' ')}`,
  );
}

/**
 * How the p-values were adjusted (claims.ts): under Holm, in the gating families (gating,
 * regression) only the opposite side — the gate passes only when every claim holds, an
 * intersection–union test, which needs no adjustment of the holds side — and in the reported
 * family both sides.
 */
const pValuesText = (correction: 'holm' | 'none') =>
  correction === 'holm'
    ? 'p-values adjusted by Holm within each family: in the gating and regression families only the opposite side (a gate that passes when every claim holds is an intersection–union test), in the reported family both'
    : 'p-values unadjusted';

function headline(verdict: SuiteVerdict): string {
  const gating = verdict.claims.filter((c) => c.gate);
  const count = (v: string) => gating.filter((c) => c.verdict === v).length;
  const others = (['contradicted', 'inconclusive', 'missing', 'run-failed', 'diverged'] as const)
    .filter((v) => count(v) > 0)
    .map((v) => `${count(v)} ${v}`);
  const word = { pass: 'passed', fail: 'failed', inconclusive: 'inconclusive' }[verdict.outcome];
  return `**Gate ${word}**: ${count('holds')} of ${gating.length} gating claims hold${others.length > 0 ? ` (${others.join(', ')})` : ''}; ${policyText(verdict)}.`;
}

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
  /** Write even a report that would be refused (every claim missing, or fewer results than the one there). */
  readonly force?: boolean;
  /** Results produced elsewhere (`--results`), written into the report's results file. */
  readonly external?: readonly ExternalRow[];
}

/**
 * Why the results file already in `dir` (if any) should not be replaced by this report's: it
 * cannot be read as this suite's, it holds results for more of the suite's claims than this
 * verdict has (a partial re-run, an empty or other store), or none of the runs this report would
 * write (other overrides, backend or engine: other run ids). Undefined when it may be replaced;
 * rebuilding a report from its own results file (`report --from dir/results.json`) always may.
 */
async function replacesMoreResults(
  loaded: LoadedSuite,
  verdict: SuiteVerdict,
  source: RunSource,
  dir: string,
): Promise<string | undefined> {
  const file = join(dir, RESULTS_FILE);
  if (!existsSync(file)) return undefined;
  let earlier: ReturnType<typeof fileSource>;
  let holding: number;
  try {
    earlier = fileSource(file, loaded);
    const value = await suiteValues(loaded, earlier.source);
    holding = evaluateSuite(loaded, value, earlier.external, {
      runState: (id) => earlier.source.state(id),
      powerAnalysis: false,
    }).claims.filter((c) => c.verdict !== 'missing').length;
  } catch (error) {
    return `${file} cannot be read as the results of suite ${loaded.suite.suite} (${(error as Error).message.split('\n')[0]!}), so replacing it could lose results`;
  }
  const having = verdict.claims.filter((c) => c.verdict !== 'missing').length;
  const total = verdict.claims.length;
  if (holding > having)
    return `${file} holds results for ${holding} of the suite's ${total} claims, this report ${having}`;
  // The runs this report's results file would hold (as results-file.ts resultsOf keeps them).
  const ids = [...suiteRuns(loaded.suite).keys()].filter(
    (id) => source.result(id) !== undefined || source.state(id) === 'failed',
  );
  const before = new Set(earlier.ids);
  if (before.size > 0 && ids.length > 0 && !ids.some((id) => before.has(id)))
    return `${file} holds ${before.size} runs and none of this report's ${ids.length} (other key=value overrides, backend or engine give other run ids)`;
  return undefined;
}

/**
 * Writes index.md, index.html, one SVG, PNG and vega-lite spec per plot, and the results file;
 * removes the plots (and their screenshots) of an earlier report that this one does not draw.
 * Refuses (writing nothing) unless forced when no claim has results, or when the results file
 * already there holds more than this report would ({@link replacesMoreResults}): a report of
 * less never silently replaces one of more.
 */
export async function writeReport(
  loaded: LoadedSuite,
  verdict: SuiteVerdict,
  source: RunSource,
  dir: string,
  options: ReportOptions = {},
): Promise<ReportOutcome> {
  if (!options.force) {
    const keeps = existsSync(join(dir, 'index.md'))
      ? `${dir} keeps the report it has`
      : 'nothing written';
    if (verdict.claims.every((c) => c.verdict === 'missing'))
      return {
        kind: 'refused',
        reason: `every claim's results are missing (0 of ${verdict.claims.length} claims have results), so the report would show nothing; ${keeps}`,
      };
    const lesser = await replacesMoreResults(loaded, verdict, source, dir);
    if (lesser !== undefined) return { kind: 'refused', reason: `${lesser}; ${keeps}` };
  }
  mkdirSync(dir, { recursive: true });
  const { suite } = loaded;
  const configs = suiteRuns(suite);
  const base = resolveRun({ ...suite.base, method: { name: 'dense' } });
  const cells = cellsOf(configs, source, suite.metric, base.training.epochsPerCycle, suite.cycle);
  const specs = {
    ...(cells.length > 0
      ? plots(cells, schedulesOf(configs, source, base.training.epochsPerCycle))
      : {}),
    ...(await analysisPlots(verdict, configs, source, base.training.epochsPerCycle)),
  };
  const written: string[] = [];
  const pagePlots: ReportPlot[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const svg = await renderSvg(spec);
    pagePlots.push({ name, spec, svg });
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
    writeFileSync(join(dir, `${name}.vl.json`), `${JSON.stringify(spec, null, 1)}\n`);
    written.push(...PLOT_FILES.map((ext) => join(dir, `${name}${ext}`)));
  }
  const backend = cells.length > 0 ? source.result(cells[0]!.runIds[0]!)?.backend : undefined;
  const description = suite.description?.trim() ?? '';
  // The page's sections, each built once and written to both files: index.md whole, index.html
  // with the plots embedded where index.md links their PNGs. The description is the claims
  // file's text: raw Markdown in index.md, escaped text in the HTML, where it can neither cut
  // the page (a "## Plots" of its own) nor link anything.
  const summary = [
    headline(verdict),
    '',
    `Metric: ${suite.metric} test accuracy of the ${suite.cycle === 'last' ? 'last cycle' : `cycle ${suite.cycle}`}; ${suite.seeds.length} seeds per cell; α = ${suite.alpha}; ${pValuesText(suite.correction)} (families: ${familiesText(verdict)}); claims' intervals at ${(100 * (1 - 2 * suite.alpha)).toFixed(0)}%, unadjusted (in the gating families a claim holds exactly when its interval clears its boundary), cells' at 95%.${backend ? ` Backend: ${backend.name} (TF.js ${backend.tfjsVersion}, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}).` : ''}`,
    '',
    claimsTable(verdict, suite.correction),
    '',
    '## Cells',
    '',
    cellsTable(cells),
    '',
  ].join('\n');
  const plotFiles = [
    'Each plot also as SVG and as its vega-lite spec (`*.vl.json`); the per-seed values behind',
    `the report are in \`${RESULTS_FILE}\`.`,
    '',
  ].join('\n');
  const runs = ['## Runs', '', ...runsList(cells), ''].join('\n');
  const title = `# cyclesparse — suite \`${suite.suite}\``;
  const markdown = [
    title,
    '',
    description,
    '',
    summary,
    '## Plots',
    '',
    ...Object.keys(specs).flatMap((name) => [`![${name}](${name}.png)`, '']),
    plotFiles,
    runs,
  ].join('\n');
  writeFileSync(join(dir, 'index.md'), markdown);
  writeFileSync(
    join(dir, 'index.html'),
    reportPage(
      { title, description, summary, plotFiles: pagePlots.length > 0 ? plotFiles : '', runs },
      pagePlots,
    ),
  );
  await writeResultsFile(join(dir, RESULTS_FILE), loaded, source, options.external ?? []);
  written.unshift(join(dir, 'index.md'), join(dir, 'index.html'), join(dir, RESULTS_FILE));
  // Only files a report writes, of plots this report does not have: never anything else there.
  // By name alone: `dir` may be written './x' or 'x/', which join() normalises in `written`.
  const keep = new Set(written.map((f) => basename(f)));
  const drawn = new Set(Object.keys(specs));
  const removed = [
    ...readdirSync(dir)
      .filter(
        (name) =>
          !keep.has(name) &&
          PLOT_NAMES.some((plot) => PLOT_FILES.some((ext) => name === `${plot}${ext}`)),
      )
      .sort()
      .map((name) => join(dir, name)),
    // Screenshots (browser-testing.ts saveScreenshots) of plots this report no longer draws;
    // those of drawn plots, and of the page, are left for the next screenshot run to replace.
    ...(existsSync(join(dir, SCREENSHOTS_DIR))
      ? readdirSync(join(dir, SCREENSHOTS_DIR))
          .filter((name) => PLOT_NAMES.some((plot) => !drawn.has(plot) && name === `${plot}.png`))
          .sort()
          .map((name) => join(dir, SCREENSHOTS_DIR, name))
      : []),
  ];
  for (const file of removed) rmSync(file);
  return { kind: 'written', files: written, removed };
}
