import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunConfig } from '../config/schema.js';
import { parseOverrides } from '../config/overrides.js';
import type { BackendInfo } from '../engine/engine.js';
import { loadMeasuredBaselines } from './baselines.js';
import { loadSuite, suiteRuns } from './claims.js';
import type { RunSource, RunSummary } from './run-source.js';
import { claimsReading, measuredBaseline, sidesWithoutCells } from './write-baseline.js';

const SUITE = `suite: provenance
seeds: [3, 5, 8]
metric: final
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, description: LRR beats PaI, kind: greater, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9 } } }
  - { id: lrr-first-cycle, description: LRR's first cycle, kind: at-least, cycle: 1, value: 0.5, a: { method: { name: lrr, targetSparsity: 0.9 } } }
  - { id: torch-beats-pai, description: PyTorch's LRR beats PaI, kind: greater, test: welch, a: { external: torch-lrr }, b: { method: { name: pai, criterion: random, sparsity: 0.9 } } }
  - { id: lrr-beats-torch, description: LRR beats PyTorch's, kind: greater, test: welch, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { external: torch-lrr } }
`;

/** Final test accuracy of a run's cycle (1-based): made up from its method and seed. */
const accuracyOf = (config: RunConfig, cycle: number) =>
  (config.method.name === 'lrr' ? 0.95 : 0.93) + config.seed / 1000 + cycle / 100;

const WASM: BackendInfo = {
  name: 'wasm',
  tfjsVersion: '4.22.0',
  threads: 1,
  simd: true,
  provider: null,
};

function summaryOf(config: RunConfig, backend: BackendInfo): RunSummary {
  const cycles = [1, 2, 3].map((cycle) => ({
    phase: `level ${cycle - 1}`,
    level: cycle - 1,
    cycle: 0,
    epochs: 4,
    steps: 160,
    sparsity: 0.9,
    layers: [],
    trainLoss: { final: 0.1, best: 0.1 },
    trainAccuracy: { final: 0.99, best: 0.99 },
    testLoss: { final: 0.2, best: 0.2 },
    testAccuracy: { final: accuracyOf(config, cycle), best: 0.999 },
    flopsDense: 1,
    flopsSparse: 1,
  }));
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
    backend,
    status: 'completed',
    cycles,
    levels: [],
    cost: { epochs: 12, steps: 480, flopsDense: 3, flopsSparse: 3 },
  };
}

function suiteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'write-baseline-'));
  const file = join(dir, 'provenance.claims.yaml');
  writeFileSync(file, SUITE);
  return file;
}

/** Every run of the suite completed on `backend`; values read straight from the summaries. */
function sourceOf(configs: ReadonlyMap<string, RunConfig>, backend: BackendInfo) {
  const source: RunSource = {
    result: (id) => (configs.has(id) ? summaryOf(configs.get(id)!, backend) : undefined),
    state: () => undefined,
    cycleSeries: () => Promise.reject(new Error('no analyses in this suite')),
    sharpness: () => Promise.reject(new Error('no analyses in this suite')),
  };
  const value = (id: string, metric: string, cycle: number | 'last' = 'last') => {
    const config = configs.get(id)!;
    expect(metric).toBe('final');
    return accuracyOf(config, cycle === 'last' ? 3 : cycle);
  };
  return { source, value };
}

describe('measured baselines', () => {
  test('record their provenance from their inputs, and read back as written', () => {
    const file = suiteFile();
    const loaded = loadSuite(
      file,
      {},
      { backend: 'cpu' },
      parseOverrides(['training.epochsPerCycle=2', 'data.trainPerClass=50']),
    );
    const configs = suiteRuns(loaded.suite);
    const { source, value } = sourceOf(configs, { ...WASM, name: 'cpu', threads: 2 });
    const date = new Date('2026-11-27T12:34:56.789Z');
    const baseline = measuredBaseline(loaded, source, value, {
      suiteFile: file,
      date,
      version: '9.8.7',
      commit: 'a'.repeat(40),
    });
    expect(baseline.provenance).toEqual({
      cyclesparse: '9.8.7',
      commit: 'a'.repeat(40),
      backend: { name: 'cpu', version: '4.22.0', threads: 2 },
      engine: { backend: 'cpu' },
      overrides: ['training.epochsPerCycle=2', 'data.trainPerClass=50'],
      seeds: [3, 5, 8],
      metric: 'final',
      cycle: 'last',
      date: '2026-11-27T12:34:56.789Z',
      suiteFile: 'provenance.claims.yaml',
    });
    expect(baseline.created).toBe('2026-11-27T12:34:56.789Z');
    expect(baseline.cyclesparse).toBe('9.8.7');
    // The runs it measured are the suite's runs with the overrides and the engine applied.
    for (const config of configs.values()) {
      expect(config.training.epochsPerCycle).toBe(2);
      expect(config.training.backend).toBe('cpu');
    }

    // The cells: each side's values over the seeds, in seed order, of the claim's cycle.
    const lrr = [3, 5, 8].map((seed) => 0.95 + seed / 1000 + 3 / 100);
    const pai = [3, 5, 8].map((seed) => 0.93 + seed / 1000 + 3 / 100);
    const lrrFirst = [3, 5, 8].map((seed) => 0.95 + seed / 1000 + 1 / 100);
    // A side of external results is not measured: only the other side gets a cell, under its key.
    expect(Object.keys(baseline.cells).sort()).toEqual([
      'lrr-beats-pai/a',
      'lrr-beats-pai/b',
      'lrr-beats-torch/a',
      'lrr-first-cycle/a',
      'torch-beats-pai/b',
    ]);
    expect(baseline.cells['torch-beats-pai/b']!.values).toEqual(pai);
    expect(baseline.cells['lrr-beats-torch/a']!.values).toEqual(lrr);
    expect(baseline.cells['lrr-beats-pai/a']!.values).toEqual(lrr);
    expect(baseline.cells['lrr-beats-pai/b']!.values).toEqual(pai);
    expect(baseline.cells['lrr-first-cycle/a']!.values).toEqual(lrrFirst);
    expect(baseline.cells['lrr-first-cycle/a']!.cycle).toBe(1);
    expect(baseline.cells['lrr-beats-pai/a']!.mean).toBeCloseTo(0.95 + 16 / 3000 + 0.03, 12);
    expect(baseline.cells['lrr-beats-pai/a']!.metric).toBe('final');

    const written = join(file, '..', 'provenance.json');
    writeFileSync(written, `${JSON.stringify(baseline, null, 1)}\n`);
    expect(loadMeasuredBaselines(written)).toEqual(baseline);
  });

  test('defaults: now, the package version, the checkout commit; the torch device; no engine override', () => {
    const file = suiteFile();
    const loaded = loadSuite(file);
    const { source, value } = sourceOf(suiteRuns(loaded.suite), {
      ...WASM,
      name: 'torch',
      tfjsVersion: null,
      torch: {
        device: 'cuda:1',
        deviceName: 'NVIDIA H100',
        precision: 'fp32',
        torchVersion: '2.5.1',
        cudaVersion: '12.4',
        cudnnVersion: 90100,
        python: '3.11',
        deterministic: true,
      },
    });
    const before = Date.now();
    const baseline = measuredBaseline(loaded, source, value, { suiteFile: file });
    const { provenance } = baseline;
    const packageJson = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as { version: string };
    expect(provenance!.cyclesparse).toBe(packageJson.version);
    // A checkout (where tests run) or an exported tree (no commit): never anything else.
    expect(provenance!.commit === null || /^[0-9a-f]{40}$/.test(provenance!.commit)).toBe(true);
    expect(Date.parse(provenance!.date)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(provenance!.date)).toBeLessThanOrEqual(Date.now());
    expect(provenance!.backend).toEqual({
      name: 'torch',
      version: '2.5.1',
      threads: 1,
      device: 'cuda:1',
    });
    expect(provenance!.engine).toEqual({});
    expect(provenance!.overrides).toEqual([]);
  });

  test('a baseline without provenance reads (written before it existed); a wrong field in one is refused', () => {
    const mini = loadMeasuredBaselines(join(import.meta.dirname, '../../baselines/mini.json'));
    expect(mini.suite).toBe('mini');
    const file = suiteFile();
    const loaded = loadSuite(file);
    const { source, value } = sourceOf(suiteRuns(loaded.suite), WASM);
    const baseline = measuredBaseline(loaded, source, value, { suiteFile: file, commit: null });
    const written = join(file, '..', 'bad.json');
    writeFileSync(
      written,
      JSON.stringify({ ...baseline, provenance: { ...baseline.provenance, seeds: ['0'] } }),
    );
    expect(() => loadMeasuredBaselines(written)).toThrow(`${written}.provenance.seeds[0]`);
  });

  test('the sides of runs a baseline has no cell for, and why: failed, diverged, too few cycles, not in the store', () => {
    const file = suiteFile();
    const loaded = loadSuite(file);
    const configs = suiteRuns(loaded.suite);
    const { source: complete, value: completeValue } = sourceOf(configs, WASM);
    const ids = [...configs.keys()];
    const lrr = ids.filter((id) => configs.get(id)!.method.name === 'lrr');
    const pai = ids.filter((id) => configs.get(id)!.method.name === 'pai');
    // LRR: one run failed, one diverged, one with only its first cycle; PaI: one not run.
    const [failed, diverged, short] = lrr as [string, string, string];
    const source: RunSource = {
      ...complete,
      result: (id) => (id === failed || id === pai[0] ? undefined : complete.result(id)),
      state: (id) => (id === failed ? 'failed' : id === diverged ? 'diverged' : undefined),
    };
    const value = (id: string, metric: string, cycle: number | 'last' = 'last') =>
      id === failed || id === diverged || id === pai[0] || (id === short && cycle !== 1)
        ? undefined
        : completeValue(id, metric, cycle);
    const baseline = measuredBaseline(loaded, source, value, { suiteFile: file });
    // The first cycle of LRR is whole but for the failed and diverged runs.
    expect(sidesWithoutCells(loaded, baseline, source, value)).toEqual([
      {
        key: 'lrr-beats-pai/a',
        why: '1 failed, 1 diverged, 1 without a final value of its 3 runs',
      },
      { key: 'lrr-beats-pai/b', why: '1 not in the store of its 3 runs' },
      { key: 'lrr-first-cycle/a', why: '1 failed, 1 diverged of its 3 runs' },
      { key: 'torch-beats-pai/b', why: '1 not in the store of its 3 runs' },
      {
        key: 'lrr-beats-torch/a',
        why: '1 failed, 1 diverged, 1 without a final value of its 3 runs',
      },
    ]);
    expect(Object.keys(baseline.cells)).toEqual([]);
    // Whole runs: no side lacks a cell.
    const whole = measuredBaseline(loaded, complete, completeValue, { suiteFile: file });
    expect(sidesWithoutCells(loaded, whole, complete, completeValue)).toEqual([]);
  });

  test('the regression claims that read a file, by its resolved path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'write-baseline-readers-'));
    const file = join(dir, 'suite.yaml');
    writeFileSync(
      file,
      `suite: readers
seeds: [0, 1]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: dense-learns, description: d, kind: at-least, value: 0.9, a: { method: { name: dense } } }
  - { id: same, description: s, kind: within-baseline, baseline: { file: base/m.json, key: dense-learns/a }, margin: 0.01, a: { method: { name: dense } } }
  - { id: other, description: o, kind: within-baseline, baseline: { file: other.json, key: dense-learns/a }, margin: 0.01, a: { method: { name: dense } } }
`,
    );
    const loaded = loadSuite(file);
    expect(claimsReading(loaded, join(dir, 'base', 'm.json'))).toEqual(['same']);
    expect(claimsReading(loaded, join(dir, 'base', '..', 'base', 'm.json'))).toEqual(['same']);
    expect(claimsReading(loaded, join(dir, 'm.json'))).toEqual([]);
  });
});
