import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { evaluateSuite, loadSuite, suiteRuns } from '../claims/claims.js';
import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/runner.js';
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
  const loaded = loadSuite(suiteFile);
  for (const [id, config] of suiteRuns(loaded.suite)) {
    mkdirSync(store.dir(id), { recursive: true });
    writeFileSync(join(store.dir(id), 'result.json'), JSON.stringify(result(config)));
  }
  return { suiteFile, store };
}

function result(config: RunConfig): PipelineResult {
  const levels = config.method.name === 'lrr' ? 3 : 3;
  const base =
    config.method.name === 'lrr' ? 0.95 : config.training.epochsPerCycle === 12 ? 0.93 : 0.935;
  const cycles = Array.from({ length: levels }, (_, c) => {
    const acc = base - 0.01 * (levels - 1 - c) + 0.001 * config.seed;
    return {
      phase: 'p',
      level: c,
      cycle: 0,
      epochs: 4,
      steps: 160,
      sparsity: c === levels - 1 ? 0.9 : 0.5,
      layers: [],
      trainLoss: { final: 0.1, best: 0.1 },
      trainAccuracy: { final: 0.99, best: 0.99 },
      testLoss: { final: 0.2, best: 0.2 },
      testAccuracy: { final: acc - 0.001, best: acc },
      flopsDense: 1e12,
      flopsSparse: 2e11,
    };
  });
  return {
    method: config.method.name,
    options: {},
    setup: {
      model: 'lenet-300-100',
      train: [],
      test: [],
      batchSize: 128,
      schedule: { peak: 0.05, shape: { kind: 'constant' }, granularity: 'epoch' },
      sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
      seed: config.seed,
      prunable: {},
    },
    backend: { name: 'wasm', tfjsVersion: '4.22.0', threads: 1, simd: true, provider: null },
    status: 'completed',
    cycles,
    levels: [],
    cost: { epochs: 4 * levels, steps: 160 * levels, flopsDense: 3e12, flopsSparse: 6e11 },
  };
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
      'accuracy-vs-sparsity.svg',
      'accuracy-vs-sparsity.png',
      'accuracy-per-cycle.svg',
      'accuracy-per-cycle.png',
      'learning-rate.svg',
      'learning-rate.png',
      'accuracy-vs-cost.svg',
      'accuracy-vs-cost.png',
    ]);
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
      /\| lrr-beats-pai \| claim 3 \| LRR beats a random mask \| best acc\. \| 95\.10% \| 93\.60% \| \+1\.50 \|/,
    );
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
    expect(html).not.toMatch(/<script|<img|<b>/);
    expect(html).toContain('Suite &lt;script&gt;alert(&quot;suite&quot;)&lt;/script&gt;');
    expect(html).toContain('<td>A | B &lt;img src=x onerror=alert(1)&gt;</td>');
    expect(readFileSync(join(out, 'index.md'), 'utf8')).toContain(
      '| lrr-beats-pai | <b>claim</b> 3 | A \\| B <img src=x onerror=alert(1)> |',
    );
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
