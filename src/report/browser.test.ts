/**
 * The HTML report in a real browser: Debian's chromium, headless, driven by puppeteer-core. The
 * page is opened by file:// with every other request blocked; every plot must render with no
 * console error, the per-seed checkbox must change what is drawn, a hovered point must show a
 * tooltip naming its run, and screenshots are saved beside the report. Skips where chromium is
 * absent, unless CYCLESPARSE_BROWSER_REQUIRED=1 (CI) makes that a failure.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evaluateSuite, loadSuite, suiteRuns } from '../claims/claims.js';
import { storeSource } from '../claims/run-source.js';
import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/runner.js';
import { madeUpResult, writeMadeUpStore } from '../store/made-up-result-testing.js';
import { Store } from '../store/store.js';
import {
  chromiumPath,
  hoverForTooltip,
  launchChromium,
  markCount,
  nextFrames,
  openReport,
  saveScreenshots,
} from './browser-testing.js';
import { reportPage } from './html.js';
import type { Spec } from './plots.js';
import { writeReport } from './report.js';
import { renderSvg } from './render.js';

const chromium = chromiumPath();
const required = process.env.CYCLESPARSE_BROWSER_REQUIRED === '1';

/** A store with made-up, well-formed results for every run of a small suite (as report.test.ts). */
function fixture(): { suiteFile: string; store: Store; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'browser-report-'));
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(
    suiteFile,
    `suite: browser
description: "Made-up results, to open the report in a browser."
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, description: "LRR beats a random mask", kind: greater, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } } }
  - { id: pai-long-cycle, description: One long cycle, kind: greater, gate: false, a: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9 }, training: { epochsPerCycle: 12 } } }
`,
  );
  const store = new Store(join(dir, 'runs'));
  writeMadeUpStore(store.root, suiteRuns(loadSuite(suiteFile).suite), result);
  return { suiteFile, store, dir };
}

function result(config: RunConfig): PipelineResult {
  const base =
    config.method.name === 'lrr' ? 0.95 : config.training.epochsPerCycle === 12 ? 0.93 : 0.935;
  return madeUpResult(
    config,
    [0, 1, 2].map((c) => ({
      sparsity: c === 2 ? 0.9 : 0.5,
      best: base - 0.01 * (2 - c) + 0.001 * config.seed,
    })),
  );
}

/** Per-seed points behind a checkbox-bound param (as the report's plots do), with run tooltips. */
const SEEDS_SPEC = {
  title: 'Per seed',
  params: [
    { name: 'perSeed', value: false, bind: { input: 'checkbox', name: 'per-seed points ' } },
  ],
  data: {
    values: [0, 1, 2].flatMap((seed) => [
      { method: 'lrr', sparsity: 0.5, value: 0.9 + seed / 100, run: `run-lrr-${seed}`, seed },
      { method: 'pai', sparsity: 0.9, value: 0.8 + seed / 100, run: `run-pai-${seed}`, seed },
    ]),
  },
  encoding: {
    x: { field: 'sparsity', type: 'quantitative' },
    y: { field: 'value', type: 'quantitative', scale: { zero: false } },
    color: { field: 'method' },
  },
  layer: [
    { mark: { type: 'line' }, encoding: { y: { aggregate: 'mean', field: 'value' } } },
    {
      transform: [{ filter: 'perSeed' }],
      mark: { type: 'point', filled: true, size: 150 },
      encoding: { tooltip: [{ field: 'run' }, { field: 'seed' }, { field: 'value' }] },
    },
  ],
} as Spec;

if (required && !chromium)
  test('chromium is installed (CYCLESPARSE_BROWSER_REQUIRED=1)', () => {
    throw new Error(
      "no chromium (CHROMIUM_PATH, else /usr/bin/chromium); .ci/run installs Debian's chromium",
    );
  });

describe.skipIf(!chromium)('the HTML report in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium(chromium!);
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a written report renders every plot from file:// with nothing fetched and no error; screenshots beside it', async () => {
    const { suiteFile, store, dir } = fixture();
    const loaded = loadSuite(suiteFile);
    const verdict = evaluateSuite(
      loaded,
      (id) => store.result(id)?.cycles.at(-1)?.testAccuracy.best,
    );
    const out = join(dir, 'report');
    const outcome = await writeReport(loaded, verdict, storeSource(store), out);
    if (outcome.kind !== 'written') throw new Error(`report refused: ${outcome.reason}`);
    const opened = await openReport(browser, join(out, 'index.html'));
    const { page } = opened;
    try {
      const plotNames = outcome.files
        .filter((f) => f.endsWith('.svg'))
        .map((f) => f.slice(out.length + 1, -'.svg'.length));
      expect(plotNames.length).toBeGreaterThanOrEqual(4);
      expect(opened.plots).toEqual(plotNames.map((name) => ({ name, ok: true })));
      expect(opened.blocked).toEqual([]);
      expect(opened.errors).toEqual([]);
      for (const name of plotNames) expect(await markCount(page, name)).toBeGreaterThan(0);
      // The verdict table is coloured.
      expect(
        await page.evaluate("document.querySelectorAll('strong.verdict').length"),
      ).toBeGreaterThan(0);

      // The per-seed points: a checkbox the spec binds; ticking it draws more marks.
      const plot = 'accuracy-vs-sparsity';
      const checkbox = await page.$(`#plot-${plot} .vega-bindings input[type=checkbox]`);
      expect(checkbox, 'accuracy-vs-sparsity has a per-seed checkbox').not.toBeNull();
      const before = await markCount(page, plot);
      await checkbox!.click();
      await nextFrames(page);
      const after = await markCount(page, plot);
      // One point per run (three seeds of each cell) appears.
      expect(after - before).toBeGreaterThanOrEqual(suiteRuns(loaded.suite).size);

      // A hovered per-seed point names its run.
      const runIds = [...suiteRuns(loaded.suite).keys()];
      const tooltip = await hoverForTooltip(page, plot, (text) =>
        runIds.some((id) => text.includes(id)),
      );
      expect(tooltip, 'some point of accuracy-vs-sparsity shows a run id').toBeDefined();
      expect(tooltip).toMatch(/seed/);

      // Back to the default view (means and intervals) for the pictures.
      await checkbox!.click();
      await nextFrames(page);
      expect(await markCount(page, plot)).toBe(before);
      // The same holds for every plot with per-seed points (at least the three accuracy plots).
      const toggled: string[] = [];
      for (const name of plotNames) {
        const box = await page.$(`#plot-${name} .vega-bindings input[type=checkbox]`);
        if (!box) continue;
        const shown = await markCount(page, name);
        await box.click();
        await nextFrames(page);
        expect(await markCount(page, name), name).toBeGreaterThanOrEqual(
          shown + suiteRuns(loaded.suite).size,
        );
        await box.click();
        await nextFrames(page);
        expect(await markCount(page, name), name).toBe(shown);
        toggled.push(name);
      }
      expect(toggled).toEqual(
        expect.arrayContaining(['accuracy-vs-sparsity', 'accuracy-per-cycle', 'accuracy-vs-cost']),
      );
      const shots = await saveScreenshots(opened, out);
      expect(shots.map((f) => f.slice(out.length + 1))).toEqual([
        ...plotNames.map((name) => `screenshots/${name}.png`),
        'screenshots/index.png',
      ]);
      for (const shot of shots) expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
      expect(opened.errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test('a checkbox-bound param toggles marks, tooltips name runs, a broken plot falls back to its SVG, and hostile text stays data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'browser-page-'));
    const hostile = 'ends </script><script>window.broken = 1</script><!-- here';
    const spec = { ...SEEDS_SPEC, description: hostile } as Spec;
    const fallback =
      '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="20"><text y="15">static fallback</text></svg>';
    writeFileSync(
      join(dir, 'index.html'),
      reportPage('# page', [
        { name: 'seeds', spec, svg: await renderSvg(spec) },
        // vega-lite rejects this mark type: the page must show the static SVG instead.
        { name: 'broken', spec: { mark: 'no-such-mark' } as unknown as Spec, svg: fallback },
      ]),
    );
    const opened = await openReport(browser, join(dir, 'index.html'));
    const { page } = opened;
    try {
      expect(opened.plots.map(({ name, ok }) => ({ name, ok }))).toEqual([
        { name: 'seeds', ok: true },
        { name: 'broken', ok: false },
      ]);
      // Only the broken plot's error, logged by the page; no page error from hostile text.
      expect(opened.errors).toHaveLength(1);
      expect(opened.errors[0]).toMatch(/plot broken could not be embedded/);
      expect(await page.evaluate('window.broken')).toBeUndefined();
      expect(
        await page.evaluate("document.querySelector('#plot-broken .plot-target').innerHTML"),
      ).toBe(fallback);
      // The description reached the page's specs intact, as data.
      expect(
        await page.evaluate(
          "JSON.parse(document.getElementById('cyclesparse-plots').textContent)[0].spec.description",
        ),
      ).toBe(hostile);

      expect(await markCount(page, 'seeds')).toBe(2); // two mean lines
      const checkbox = await page.$('#plot-seeds .vega-bindings input[type=checkbox]');
      await checkbox!.click();
      await nextFrames(page);
      expect(await markCount(page, 'seeds')).toBe(2 + 6);
      const tooltip = await hoverForTooltip(page, 'seeds', (text) => /run-(lrr|pai)-\d/.test(text));
      expect(tooltip).toMatch(/run-(lrr|pai)-\d/);
      await checkbox!.click();
      await nextFrames(page);
      expect(await markCount(page, 'seeds')).toBe(2);
    } finally {
      await page.close();
    }
  });

  test('a page that reaches for the network is caught', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'browser-net-'));
    const spec = {
      data: { url: 'https://example.org/data.json' },
      mark: 'point',
    } as Spec;
    writeFileSync(join(dir, 'index.html'), reportPage('# net', [{ name: 'net', spec, svg: '' }]));
    const opened = await openReport(browser, join(dir, 'index.html'));
    await opened.page.close();
    expect(opened.blocked).toEqual(['https://example.org/data.json']);
  });
});
