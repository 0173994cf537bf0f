import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { evaluateSuite, loadSuite, suiteRuns } from '../claims/claims.js';
import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/runner.js';
import { madeUpResult, writeMadeUpStore } from '../store/made-up-result-testing.js';
import { Store } from '../store/store.js';
import { storeSource } from '../claims/run-source.js';
import { siUnits } from '../text/format.js';
import { reportHtml, writeReport } from './report.js';

/** A store holding made-up but well-formed results for every run of a small suite. */
function fixture(
  text = {
    suite: "A fixed set of made-up results, to pin the report's output.",
    claim: 'LRR beats a random mask',
    paper: 'claim 3',
  },
): { suiteFile: string; store: Store } {
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(
    suiteFile,
    `suite: golden
description: ${JSON.stringify(text.suite)}
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, paper: ${JSON.stringify(text.paper)}, description: ${JSON.stringify(text.claim)}, kind: greater, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } } }
  - { id: pai-long-cycle, description: One long cycle, kind: greater, gate: false, a: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9 }, training: { epochsPerCycle: 12 } } }
`,
  );
  const store = new Store(join(dir, 'runs'));
  writeMadeUpStore(store.root, suiteRuns(loadSuite(suiteFile).suite), result);
  return { suiteFile, store };
}

function result(config: RunConfig): PipelineResult {
  const base =
    config.method.name === 'lrr' ? 0.95 : config.training.epochsPerCycle === 12 ? 0.93 : 0.935;
  return madeUpResult(
    config,
    [0, 1, 2].map((c) => ({
      phase: config.method.name === 'lrr' ? `level ${c}` : 'cyclic',
      sparsity: c === 2 ? 0.9 : 0.5,
      best: base - 0.01 * (2 - c) + 0.001 * config.seed,
    })),
  );
}

describe('reports', () => {
  test('the same results give byte-identical reports, pinned by a golden file', async () => {
    const { suiteFile, store } = fixture();
    const loaded = loadSuite(suiteFile);
    const verdict = evaluateSuite(
      loaded,
      (id) => store.result(id)?.cycles.at(-1)?.testAccuracy.best,
    );
    const first = mkdtempSync(join(tmpdir(), 'report-a-'));
    const second = mkdtempSync(join(tmpdir(), 'report-b-'));
    const outcome = await writeReport(loaded, verdict, storeSource(store), first);
    await writeReport(loaded, verdict, storeSource(store), second);
    if (outcome.kind !== 'written') throw new Error(`report refused: ${outcome.reason}`);
    expect(outcome.files.map((f) => f.slice(first.length + 1))).toEqual([
      'index.md',
      'index.html',
      'results.json',
      ...[
        'accuracy-vs-sparsity',
        'accuracy-per-cycle',
        'learning-rate',
        'accuracy-vs-cost',
      ].flatMap((name) => [`${name}.svg`, `${name}.png`, `${name}.vl.json`]),
    ]);
    expect(outcome.removed).toEqual([]);
    for (const name of readdirSync(first).filter((n) => !n.endsWith('.png'))) {
      expect(readFileSync(join(second, name), 'utf8')).toBe(
        readFileSync(join(first, name), 'utf8'),
      );
    }
    const png = readFileSync(join(first, 'accuracy-vs-sparsity.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1200); // rendered at 1200 px wide
    const markdown = readFileSync(join(first, 'index.md'), 'utf8').replaceAll(
      store.root,
      '<store>',
    );
    await expect(markdown).toMatchFileSnapshot('./__snapshots__/golden-report.md');
    await expect(readFileSync(join(first, 'accuracy-vs-sparsity.svg'), 'utf8')).toMatchFileSnapshot(
      './__snapshots__/golden-accuracy-vs-sparsity.svg',
    );
    expect(markdown).toMatch(
      /\| lrr-beats-pai \| claim 3 \| LRR beats a random mask \| gating \| best acc\. \| 95\.10% \| 93\.60% \| \+1\.50 \|/,
    );
  });
});

/** The fixture's verdict, read from its store. */
function verdictOf(suiteFile: string, store: Store) {
  const loaded = loadSuite(suiteFile);
  return {
    loaded,
    verdict: evaluateSuite(loaded, (id) => store.result(id)?.cycles.at(-1)?.testAccuracy.best),
  };
}

/** Every file under a directory with a hash of its bytes, to tell that nothing changed. */
const snapshotOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir).map((name) => [
      name,
      createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex'),
    ]),
  );

describe('writing over an earlier report', () => {
  test('a report in which every claim is missing is refused and leaves the directory as it was', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-keep-'));
    const written = await writeReport(loaded, verdict, storeSource(store), dir);
    expect(written.kind).toBe('written');
    const before = snapshotOf(dir);
    // The same suite read from an empty store: every claim missing.
    const empty = new Store(mkdtempSync(join(tmpdir(), 'report-empty-')));
    const none = evaluateSuite(loaded, () => undefined);
    expect(none.claims.every((c) => c.verdict === 'missing')).toBe(true);
    const outcome = await writeReport(loaded, none, storeSource(empty), dir);
    expect(outcome.kind).toBe('refused');
    if (outcome.kind === 'refused')
      expect(outcome.reason).toMatch(/every claim's results are missing/);
    expect(snapshotOf(dir)).toEqual(before);
    // Not even a directory where there was none.
    const fresh = join(mkdtempSync(join(tmpdir(), 'report-none-')), 'mini');
    expect((await writeReport(loaded, none, storeSource(empty), fresh)).kind).toBe('refused');
    expect(existsSync(fresh)).toBe(false);
    // Forced, it is written, and says 0 of 1 gating claims hold.
    const forced = await writeReport(loaded, none, storeSource(empty), fresh, { force: true });
    expect(forced.kind).toBe('written');
    expect(readFileSync(join(fresh, 'index.md'), 'utf8')).toContain('0 of 1 gating claims hold');
  });

  test('plots of an earlier report that this one does not draw are removed, and nothing else', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-stale-'));
    // An earlier report's analysis plots (this suite has no analysis claim), and files a report
    // never writes: notes, a screenshot, a plot-named file of another kind.
    const stale = ['cycle-analyses.vl.json', 'lmc-curves.png', 'lmc-curves.svg'];
    const others = ['notes.txt', 'screenshot-accuracy-vs-sparsity.png', 'lmc-curves.txt'];
    for (const name of [...stale, ...others]) writeFileSync(join(dir, name), 'old');
    const outcome = await writeReport(loaded, verdict, storeSource(store), dir);
    if (outcome.kind !== 'written') throw new Error('refused');
    expect(outcome.removed.map((f) => f.slice(dir.length + 1))).toEqual(stale);
    for (const name of stale) expect(existsSync(join(dir, name))).toBe(false);
    for (const name of others) expect(readFileSync(join(dir, name), 'utf8')).toBe('old');
    for (const file of outcome.files) expect(existsSync(file)).toBe(true);
  });

  test('a directory written with a trailing slash or a leading ./ keeps its own plots', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const parent = mkdtempSync(join(tmpdir(), 'report-path-'));
    const cwd = process.cwd();
    process.chdir(parent);
    try {
      for (const dir of ['slash/', './dotted', './both/']) {
        // Twice: the second finds the first's plots there and must keep them all.
        await writeReport(loaded, verdict, storeSource(store), dir);
        const outcome = await writeReport(loaded, verdict, storeSource(store), dir);
        if (outcome.kind !== 'written') throw new Error(`refused: ${outcome.reason}`);
        expect(outcome.removed, dir).toEqual([]);
        for (const file of outcome.files) expect(existsSync(file), file).toBe(true);
        expect(readdirSync(join(parent, dir))).toContain('accuracy-vs-sparsity.png');
      }
    } finally {
      process.chdir(cwd);
    }
  });

  test('screenshots of plots the report no longer draws are removed; the page and others stay', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-shots-'));
    const shots = join(dir, 'screenshots');
    mkdirSync(shots);
    // This suite draws no LMC or cycle-analysis plot (no analysis claim).
    const stale = ['cycle-analyses.png', 'lmc-curves.png'];
    const kept = ['accuracy-vs-sparsity.png', 'index.png', 'lmc-curves.svg', 'mine.png'];
    for (const name of [...stale, ...kept]) writeFileSync(join(shots, name), 'old');
    const outcome = await writeReport(loaded, verdict, storeSource(store), dir);
    if (outcome.kind !== 'written') throw new Error('refused');
    expect(outcome.removed).toEqual(stale.map((name) => join(shots, name)));
    expect(readdirSync(shots).sort()).toEqual([...kept].sort());
  });

  test('the results file beside the report holds the per-seed values of every run', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-results-'));
    await writeReport(loaded, verdict, storeSource(store), dir);
    const text = readFileSync(join(dir, 'results.json'), 'utf8');
    for (const id of suiteRuns(loaded.suite).keys()) expect(text).toContain(id);
  });
});

describe('report tables', () => {
  test('numbers right-aligned, verdicts in bold alone, families and policy in the header, run ids at the end', async () => {
    const { suiteFile, store } = fixture();
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-tables-'));
    await writeReport(loaded, verdict, storeSource(store), dir);
    const markdown = readFileSync(join(dir, 'index.md'), 'utf8');
    const lines = markdown.split('\n');
    const alignOf = (header: string) => {
      const at = lines.findIndex((l) => l.startsWith(header));
      return lines[at + 1]!.split('|').slice(1, -1);
    };
    // claims: A, B, A − B, interval, p, p opposite right-aligned; text columns not.
    expect(alignOf('| claim |')).toEqual([
      '---',
      '---',
      '---',
      '---',
      '---',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---',
    ]);
    expect(alignOf('| method |')).toEqual(['---', '---:', '---:', '---:', '---:', '---:', '---:']);
    const header = lines.find((l) => l.startsWith('Metric:'))!;
    expect(header).toContain('gating 1, reported 1');
    expect(lines.find((l) => l.startsWith('**Gate'))).toMatch(/policy exit-code/);
    // The verdict word alone in bold (the HTML colours it), notes outside.
    const claimRows = lines.filter(
      (l) => l.startsWith('| lrr-beats-pai') || l.startsWith('| pai-long-cycle'),
    );
    expect(claimRows).toHaveLength(2);
    for (const row of claimRows)
      expect(row).toMatch(
        /\| \*\*(holds|contradicted|inconclusive|missing|run-failed|diverged)\*\*( \([^*]*\))? \|$/,
      );
    // Run ids only in the Runs section, after the plots.
    const runsAt = lines.indexOf('## Runs');
    expect(runsAt).toBeGreaterThan(lines.indexOf('## Plots'));
    const firstRun = [...suiteRuns(loaded.suite).keys()][0]!;
    expect(lines.findIndex((l) => l.includes(firstRun))).toBeGreaterThan(runsAt);
  });
});

describe('user text in the HTML report', () => {
  test('raw HTML is escaped, and only http(s), mailto and relative links are links', () => {
    const html = reportHtml(
      [
        'Safe <script>alert(1)</script> text & <img src=x onerror=alert(2)>',
        '',
        '<div onclick="alert(3)">block</div>',
        '',
        '| a | b |',
        '|---|---|',
        '| <iframe src="javascript:alert(4)"></iframe> | [x](javascript:alert(5)) |',
        '',
        '[ok](https://example.org/a?b=1) [rel](plot.png) [e](javascript&#58;alert(6)) ![i](data:text/html,x)',
      ].join('\n'),
    );
    for (const bad of [
      '<script',
      '<img',
      '<div',
      '<iframe',
      'href="javascript',
      'javascript&#58;',
      'src="data:',
    ])
      expect(html).not.toContain(bad);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;div onclick=&quot;alert(3)&quot;&gt;');
    expect(html).toContain('<a href="https://example.org/a?b=1">ok</a>');
    expect(html).toContain('<a href="plot.png">rel</a>');
  });

  test("a claims file's descriptions reach index.html escaped, and the Markdown table intact", async () => {
    const { suiteFile, store } = fixture({
      suite: 'Suite <script>alert("suite")</script>',
      claim: 'A | B <img src=x onerror=alert(1)>',
      paper: '<b>claim</b> 3',
    });
    const loaded = loadSuite(suiteFile);
    const verdict = evaluateSuite(
      loaded,
      (id) => store.result(id)?.cycles.at(-1)?.testAccuracy.best,
    );
    const out = mkdtempSync(join(tmpdir(), 'report-x-'));
    await writeReport(loaded, verdict, storeSource(store), out);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    // The page has its own scripts (vega-embed); what the claims file wrote is never markup.
    for (const raw of ['<script>alert(', '<img src=x', '<b>claim</b>'])
      expect(html).not.toContain(raw);
    expect(html).toContain('Suite &lt;script&gt;alert(&quot;suite&quot;)&lt;/script&gt;');
    expect(html).toContain('<td>A | B &lt;img src=x onerror=alert(1)&gt;</td>');
    expect(readFileSync(join(out, 'index.md'), 'utf8')).toContain(
      '| lrr-beats-pai | <b>claim</b> 3 | A \\| B <img src=x onerror=alert(1)> |',
    );
  });
});

describe('the HTML page’s sections', () => {
  test('every section of index.md is on the page, in order, whatever the description holds', async () => {
    const { suiteFile, store } = fixture({
      suite:
        'Intro\n\n## Plots\n\n![remote](https://example.org/x.png) [link](https://example.org)',
      claim: 'LRR beats a random mask',
      paper: 'claim 3',
    });
    const { loaded, verdict } = verdictOf(suiteFile, store);
    const dir = mkdtempSync(join(tmpdir(), 'report-sections-'));
    await writeReport(loaded, verdict, storeSource(store), dir);
    // The page's own text: between its inlined libraries and its plots' data.
    const page = readFileSync(join(dir, 'index.html'), 'utf8');
    const html = page.slice(page.indexOf('<body>'), page.indexOf('id="cyclesparse-plots"'));
    const firstRun = [...suiteRuns(loaded.suite).keys()][0]!;
    const at = (text: string) => {
      const i = html.indexOf(text);
      expect(i, text).toBeGreaterThanOrEqual(0);
      return i;
    };
    // The description as text: no heading, image or link of its own, and nothing cut after it.
    at('<p class="description">## Plots</p>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('href="https://example.org"');
    const order = [
      at('<h1>'),
      at('<p class="description">Intro</p>'),
      at('<h2>Cells</h2>'),
      at('<h2>Plots</h2>'),
      at('id="plot-accuracy-vs-sparsity"'),
      at('<h2>Runs</h2>'),
      at(`<code>${firstRun}</code>`),
    ];
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(html.match(/<h2>Plots<\/h2>/g)).toHaveLength(1);
  });

  test('images only from a relative path; links also to http(s) and mailto', () => {
    const html = reportHtml(
      '![a](https://example.org/a.png) ![b](http://x/b.png) ![c](//x/c.png) ![f](/etc/f.png) ![d](plot.png) [e](https://example.org/e)',
    );
    expect(html.match(/<img /g)).toHaveLength(1);
    expect(html).toContain('<img src="plot.png" alt="d">');
    expect(html).toContain('<a href="https://example.org/e">e</a>');
  });
});

describe('FLOP counts', () => {
  test('use SI prefixes with three significant digits', () => {
    expect(siUnits(0)).toBe('0.00');
    expect(siUnits(999)).toBe('999');
    expect(siUnits(2.41e13)).toBe('24.1 T');
    expect(siUnits(6e11)).toBe('600 G');
    expect(siUnits(1.5e21)).toBe('1.50 Z');
  });
});
