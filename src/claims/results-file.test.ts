import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { CycleSeries } from '../analysis/stored.js';
import type { RunConfig } from '../config/schema.js';
import type { MaskJson } from '../core/mask.js';
import type { PipelineResult } from '../methods/types.js';
import { writeReport } from '../report/report.js';
import { Store } from '../store/store.js';
import { evaluateSuite, loadSuite, suiteRuns, type ExternalRow } from './claims.js';
import { suiteValues } from './gate.js';
import { fileSource, readResultsFile, writeResultsFile } from './results-file.js';
import { storeSource, type RunSource } from './run-source.js';
import { measuredBaseline } from './write-baseline.js';

/**
 * A small suite over a made-up store: an accuracy claim (one of its runs failed, one diverged),
 * a barrier claim (its runs' cycle analyses are made up too: computing them needs stored
 * networks), and a claim against external results.
 */
const SUITE = `suite: roundtrip
description: Made-up results to check that a results file stands in for the store.
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, description: lrr beats pai, kind: greater, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } } }
  - { id: dense-barrier, description: dense barrier, kind: at-least, metric: barrier, value: 0.001, a: { method: { name: cyclic, cycles: 3 } } }
  - { id: against-torch, description: against torch, gate: false, kind: greater, test: welch, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { external: torch-lrr } }
  - { id: unrun, description: unrun, kind: greater, a: { method: { name: pai, criterion: snip, sparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9 } } }
`;

const EXTERNAL: ExternalRow[] = [
  { label: 'torch-lrr', seed: 2, value: 0.951, metric: 'best' },
  { label: 'torch-lrr', seed: 0, value: 0.949 },
  { label: 'torch-lrr', seed: 1, value: 0.95, metric: 'best' },
];

/** A one-layer mask of 4 weights, all kept (bits: base64 of one byte). */
const MASK: MaskJson = {
  format: 'cyclesparse.mask',
  version: 1,
  layers: [{ name: 'fc1', shape: [2, 2], layout: 'io', kept: 4, bits: 'Dw==' }],
};

function resultOf(config: RunConfig, status: PipelineResult['status']): PipelineResult {
  const base = { lrr: 0.95, pai: 0.935, cyclic: 0.97 }[config.method.name as string] ?? 0.9;
  const cycles = Array.from({ length: 3 }, (_, c) => {
    // Irrational-looking values, so that a lossy round trip would show.
    const accuracy = base - 0.01 * (2 - c) + 0.0013 * config.seed + 1e-7 / 3;
    return {
      phase: `level ${c}`,
      level: c,
      cycle: c,
      epochs: 4,
      steps: 160,
      sparsity: config.method.name === 'cyclic' ? 0 : c === 2 ? 0.9 : 0.5,
      layers: [{ name: 'fc1', size: 4, kept: 4, sparsity: 0 }],
      // A diverged run's loss is not finite: JSON writes it as null, it reads back as NaN.
      trainLoss: { final: status === 'diverged' ? Number.NaN : 0.1, best: 0.1 },
      trainAccuracy: { final: 0.99, best: 0.99 },
      testLoss: { final: 0.2, best: 0.2 },
      testAccuracy: { final: accuracy - 0.001, best: accuracy },
      flopsDense: 1e12,
      flopsSparse: 2e11,
    };
  });
  return {
    method: config.method.name,
    options: { cycles: 3, note: 'kept as recorded' },
    setup: {
      model: 'lenet-300-100',
      train: ['mnist train'],
      test: ['mnist test'],
      batchSize: 128,
      schedule: { peak: 0.05, shape: { kind: 'constant' }, granularity: 'epoch' },
      sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
      seed: config.seed,
      prunable: {},
    },
    backend: { name: 'wasm', tfjsVersion: '4.22.0', threads: 1, simd: true, provider: null },
    status,
    cycles,
    levels: [{ level: 0, label: 'level 0', sparsity: 0, mask: MASK }],
    cost: { epochs: 12, steps: 480, flopsDense: 3e12, flopsSparse: 6e11 },
  };
}

function seriesOf(id: string, seed: number): CycleSeries {
  const curve = [0, 0.5, 1].map((alpha) => ({
    alpha,
    train: { loss: 0.1 + alpha / 7, error: 0.01 },
    test: { loss: 0.2, error: alpha === 0.5 ? 0.05 + seed / 300 : 0.03 },
  }));
  return {
    id,
    cycles: [1, 2, 3].map((cycle) => ({ cycle, sharpness: 40 + cycle + seed / 3 })),
    pairs: [
      [1, 2],
      [2, 3],
    ].map(([from, to]) => ({
      from: from!,
      to: to!,
      testErrorBarrier: 0.02 + seed / 300 + to! / 1000,
      testErrorBarrierLinear: 0.02 + seed / 300,
      trainErrorBarrier: 0,
      testLossBarrier: 0.01,
      signFlipFraction: 0.1 / 3,
      curve,
    })),
  };
}

/**
 * The suite's store: every run has a result but the first pai run of seed 1 (it failed) and the
 * unrun claim's; lrr of seed 2 diverged. Analyses come from made-up series, as a store would
 * answer them once computed.
 */
function fixture(): { suiteFile: string; store: Store; source: RunSource; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'results-file-'));
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(suiteFile, SUITE);
  const store = new Store(join(dir, 'runs'));
  const loaded = loadSuite(suiteFile);
  for (const [id, config] of suiteRuns(loaded.suite)) {
    if (config.method.name === 'pai' && config.method.criterion === 'snip') continue;
    if (config.method.name === 'pai' && config.seed === 1 && config.method.sparsity === 0.9) {
      if (config.method.cycles === 3) {
        mkdirSync(store.dir(id), { recursive: true });
        writeFileSync(
          join(store.dir(id), 'failed.json'),
          JSON.stringify({ message: 'out of memory', stack: null, at: '2026-01-01T00:00:00Z' }),
        );
        continue;
      }
    }
    const diverged = config.method.name === 'lrr' && config.seed === 2;
    mkdirSync(store.dir(id), { recursive: true });
    writeFileSync(
      join(store.dir(id), 'result.json'),
      JSON.stringify(resultOf(config, diverged ? 'diverged' : 'completed')),
    );
  }
  const configs = suiteRuns(loaded.suite);
  const stored = storeSource(store);
  const source: RunSource = {
    ...stored,
    cycleSeries: (id) => Promise.resolve(seriesOf(id, configs.get(id)!.seed)),
    sharpness: (id) =>
      Promise.resolve(seriesOf(id, configs.get(id)!.seed).cycles.at(-1)!.sharpness),
  };
  return { suiteFile, store, source, dir };
}

async function verdictOf(suiteFile: string, source: RunSource, external: readonly ExternalRow[]) {
  const loaded = loadSuite(suiteFile);
  const value = await suiteValues(loaded, source);
  return evaluateSuite(loaded, value, external, { runState: (id) => source.state(id) });
}

describe('results file', () => {
  test('stands in for the store: the same verdict, the same report, the same bytes written again', async () => {
    const { suiteFile, source, dir } = fixture();
    const loaded = loadSuite(suiteFile);
    const file = join(dir, 'results.json');
    await writeResultsFile(file, loaded, source, EXTERNAL);
    const fromFile = fileSource(file, loaded);

    const fromStore = await verdictOf(suiteFile, source, EXTERNAL);
    const verdict = await verdictOf(suiteFile, fromFile.source, fromFile.external);
    expect(verdict).toEqual(fromStore);
    // The fixture reaches every kind of run state the file has to carry.
    expect(fromStore.claims.map((c) => [c.id, c.verdict])).toEqual([
      ['lrr-beats-pai', 'run-failed'],
      ['dense-barrier', 'holds'],
      ['against-torch', 'diverged'],
      ['unrun', 'missing'],
    ]);

    // A measured baseline reads the same values from either.
    const origin = { suiteFile, date: new Date(0), version: '1', commit: null };
    const baseline = measuredBaseline(loaded, source, await suiteValues(loaded, source), origin);
    expect(Object.keys(baseline.cells).sort()).toEqual(['dense-barrier/a', 'unrun/b']);
    expect(
      measuredBaseline(loaded, fromFile.source, await suiteValues(loaded, fromFile.source), origin),
    ).toEqual(baseline);

    const again = join(dir, 'again.json');
    await writeResultsFile(again, loaded, fromFile.source, fromFile.external);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(file, 'utf8'));

    const storeReport = join(dir, 'report-store');
    const fileReport = join(dir, 'report-file');
    const written = await writeReport(loaded, fromStore, source, storeReport, {
      external: EXTERNAL,
    });
    await writeReport(loaded, verdict, fromFile.source, fileReport, {
      external: fromFile.external,
    });
    expect(written.kind).toBe('written');
    const names = readdirSync(storeReport).sort();
    expect(readdirSync(fileReport).sort()).toEqual(names);
    for (const name of names)
      expect(
        readFileSync(join(fileReport, name)).equals(readFileSync(join(storeReport, name))),
        name,
      ).toBe(true);
  });

  test('records per run its seed, state and result without masks, and analyses only where claims read them', async () => {
    const { suiteFile, store, source, dir } = fixture();
    const loaded = loadSuite(suiteFile);
    const file = join(dir, 'results.json');
    await writeResultsFile(file, loaded, source, EXTERNAL);
    const text = readFileSync(file, 'utf8');
    const json = JSON.parse(text) as {
      format: number;
      suite: string;
      runs: { id: string; seed: number; state: string; result?: unknown; analyses?: unknown }[];
      external: unknown[];
    };
    expect(json.format).toBe(1);
    expect(json.suite).toBe('roundtrip');
    expect(text).not.toContain('cyclesparse.mask');
    expect(text).not.toContain('"at"'); // no time of its own (the failure's time is not kept)

    const configs = suiteRuns(loaded.suite);
    const ids = json.runs.map((r) => r.id);
    expect(ids).toEqual([...ids].sort());
    // Every run with a result or a failure, and none of the unrun claim's.
    const expected = [...configs.keys()].filter(
      (id) => store.result(id) !== undefined || store.status(id).state === 'failed',
    );
    expect(new Set(ids)).toEqual(new Set(expected));
    expect(ids).toHaveLength(5 * 3 - 3); // five configurations, three seeds, snip's not run
    for (const run of json.runs) {
      const config = configs.get(run.id)!;
      expect(run.seed).toBe(config.seed);
      const stored = store.result(run.id);
      expect(run.state).toBe(stored === undefined ? 'failed' : stored.status);
      // The result as stored, levels without their masks.
      if (stored !== undefined) {
        const { levels, ...rest } = JSON.parse(
          readFileSync(join(store.dir(run.id), 'result.json'), 'utf8'),
        ) as { levels: { mask: unknown }[] };
        expect(run.result).toEqual({
          ...rest,
          levels: levels.map(({ mask: _mask, ...level }) => level),
        });
      } else expect(run.result).toBeUndefined();
      const analysed = config.method.name === 'cyclic';
      expect(run.analyses !== undefined, run.id).toBe(analysed);
      if (analysed) {
        const { id: _id, ...series } = seriesOf(run.id, config.seed);
        expect(run.analyses).toEqual({ ...series, sharpness: 43 + config.seed / 3 });
      }
    }
    // External rows sorted by label, metric, seed; a row without a metric stays without one.
    expect(json.external).toEqual([
      { label: 'torch-lrr', seed: 0, value: 0.949 },
      { label: 'torch-lrr', seed: 1, value: 0.95, metric: 'best' },
      { label: 'torch-lrr', seed: 2, value: 0.951, metric: 'best' },
    ]);
    // Sorted keys at every depth.
    const sortedAtEveryDepth = (value: unknown): boolean =>
      Array.isArray(value)
        ? value.every(sortedAtEveryDepth)
        : value === null || typeof value !== 'object'
          ? true
          : Object.keys(value).join() === Object.keys(value).sort().join() &&
            Object.values(value).every(sortedAtEveryDepth);
    expect(sortedAtEveryDepth(json)).toBe(true);
  });

  test('the NaN loss of a diverged run reads back as NaN', async () => {
    const { suiteFile, source, dir } = fixture();
    const loaded = loadSuite(suiteFile);
    const file = join(dir, 'results.json');
    await writeResultsFile(file, loaded, source, []);
    const { source: read } = fileSource(file, loaded);
    const diverged = [...suiteRuns(loaded.suite)].find(
      ([, c]) => c.method.name === 'lrr' && c.seed === 2,
    )![0];
    expect(read.state(diverged)).toBe('diverged');
    expect(read.result(diverged)!.cycles[0]!.trainLoss.final).toBeNaN();
  });

  test('a run the file keeps no analyses for is refused by name, not read as empty', async () => {
    const { suiteFile, source, dir } = fixture();
    const loaded = loadSuite(suiteFile);
    const file = join(dir, 'results.json');
    await writeResultsFile(file, loaded, source, []);
    const lrr = [...suiteRuns(loaded.suite)].find(([, c]) => c.method.name === 'lrr')![0];
    const { source: read } = fileSource(file, loaded);
    await expect(read.cycleSeries(lrr)).rejects.toThrow(`the cycle analyses of run ${lrr}`);
    expect(read.result('no-such-run')).toBeUndefined();
    expect(read.state('no-such-run')).toBeUndefined();
  });

  describe('refuses, naming the file and the field', () => {
    async function written(): Promise<{
      file: string;
      suiteFile: string;
      json: Record<string, unknown>;
    }> {
      const { suiteFile, source, dir } = fixture();
      const file = join(dir, 'results.json');
      await writeResultsFile(file, loadSuite(suiteFile), source, EXTERNAL);
      return {
        file,
        suiteFile,
        json: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>,
      };
    }
    const rewrite = (file: string, json: unknown) => writeFileSync(file, JSON.stringify(json));

    test('a file of another suite', async () => {
      const { file, suiteFile, json } = await written();
      rewrite(file, { ...json, suite: 'other' });
      expect(() => fileSource(file, loadSuite(suiteFile))).toThrow(
        `${file}.suite: expected the results of suite "roundtrip"`,
      );
    });

    test('a later format', async () => {
      const { file, suiteFile, json } = await written();
      rewrite(file, { ...json, format: 2, runs: 'changed meaning' });
      expect(() => fileSource(file, loadSuite(suiteFile))).toThrow(
        `${file}.format: expected a results file of format 1 or earlier`,
      );
    });

    test('a malformed field', async () => {
      const { file, suiteFile, json } = await written();
      const runs = json.runs as { result?: { cycles: { testAccuracy: { best: unknown } }[] } }[];
      const at = runs.findIndex((r) => r.result !== undefined);
      runs[at]!.result!.cycles[1]!.testAccuracy.best = 1.5;
      rewrite(file, json);
      expect(() => fileSource(file, loadSuite(suiteFile))).toThrow(
        `${file}.runs[${at}].result.cycles[1].testAccuracy.best`,
      );
    });

    test('a state that contradicts the result', async () => {
      const { file, json } = await written();
      const runs = json.runs as { state: string; result?: unknown }[];
      const at = runs.findIndex((r) => r.state === 'completed');
      runs[at]!.state = 'diverged';
      rewrite(file, json);
      expect(() => readResultsFile(file)).toThrow(`${file}.runs[${at}].state`);
    });

    test('a misspelt key, at the top or in a run', async () => {
      const { file, json } = await written();
      rewrite(file, { ...json, extrnal: [] });
      expect(() => readResultsFile(file)).toThrow(`${file}: `);
      expect(() => readResultsFile(file)).toThrow(/extrnal/);
      const runs = json.runs as Record<string, unknown>[];
      runs[0] = { ...runs[0], sed: 0 };
      rewrite(file, json);
      expect(() => readResultsFile(file)).toThrow(/runs\[0\].*sed/);
    });

    test('an external row given twice', async () => {
      const { file, json } = await written();
      const external = json.external as unknown[];
      rewrite(file, { ...json, external: [...external, external[1]] });
      expect(() => readResultsFile(file)).toThrow(
        `${file}.external[${external.length}]: expected one row per label, seed and metric (external[1] has`,
      );
    });

    test("a run's seed that is not its configuration's", async () => {
      const { file, suiteFile, json } = await written();
      const runs = json.runs as { seed: number }[];
      const seed = runs[0]!.seed;
      runs[0]!.seed = seed + 1;
      rewrite(file, json);
      expect(() => fileSource(file, loadSuite(suiteFile))).toThrow(
        `${file}.runs[0].seed: expected seed ${seed}, the seed of suite roundtrip's run`,
      );
    });

    test('a run given twice', async () => {
      const { file, json } = await written();
      const runs = json.runs as unknown[];
      rewrite(file, { ...json, runs: [...runs, runs[0]] });
      expect(() => readResultsFile(file)).toThrow(
        `${file}.runs[${runs.length}].id: expected each run once`,
      );
    });

    test('not JSON', async () => {
      const { file } = await written();
      writeFileSync(file, '{"format": 1,');
      expect(() => readResultsFile(file)).toThrow(`${file}: expected a readable JSON results file`);
    });
  });
});
