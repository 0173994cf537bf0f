import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseOverrides } from '../config/overrides.js';
import type { PipelineResult } from '../methods/runner.js';
import {
  claimSides,
  evaluateSuite,
  loadExternalResults,
  loadSuite,
  plannedCycles,
  suiteRuns,
  type Cycle,
  type SideRuns,
} from './claims.js';
import { metricOf } from './gate.js';

function suiteFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'claim-options-')), 'suite.yaml');
  writeFileSync(file, yaml);
  return file;
}

const header = (extra = '') => `suite: test
seeds: [0, 1, 2, 3, 4]
base: { extends: mini-mnist-lenet300 }
${extra}claims:
`;
const pai = (cycles: number) =>
  `{ method: { name: pai, criterion: random, sparsity: 0.9, cycles: ${cycles} } }`;
const wiggle = [0.001, -0.002, 0.0015, 0, -0.0005];

describe('claims on any cycle', () => {
  /** A stored result of three cycles whose best accuracy is 0.9 + cycle / 100. */
  const result = {
    status: 'completed',
    cycles: [1, 2, 3].map((c) => ({ testAccuracy: { best: 0.9 + c / 100, final: 0.8 + c / 100 } })),
  } as unknown as PipelineResult;
  test('metricOf reads the last or the k-th cycle, and nothing past the end', () => {
    expect(metricOf(result, 'best')).toBeCloseTo(0.93, 12);
    expect(metricOf(result, 'best', 'last')).toBeCloseTo(0.93, 12);
    expect(metricOf(result, 'best', 1)).toBeCloseTo(0.91, 12);
    expect(metricOf(result, 'final', 2)).toBeCloseTo(0.82, 12);
    expect(metricOf(result, 'best', 4)).toBeUndefined();
  });
  test('the suite cycle applies to every claim, a claim may set its own', () => {
    const file =
      suiteFile(`${header('cycle: 1\n')}  - { id: first, description: x, kind: greater, a: ${pai(3)}, b: ${pai(2)} }
  - { id: last, description: x, kind: greater, cycle: last, a: ${pai(3)}, b: ${pai(2)} }
  - { id: second, description: x, kind: greater, cycle: 2, a: ${pai(3)}, b: ${pai(2)} }
`);
    const loaded = loadSuite(file);
    const runs = suiteRuns(loaded.suite);
    const asked: Cycle[] = [];
    // Cycle k of a run with C cycles scores C / 100 + k / 1000: the reader must pass k through.
    const verdict = evaluateSuite(loaded, (id, _metric, cycle = 'last') => {
      asked.push(cycle);
      const config = runs.get(id)!;
      const cycles = (config.method as { cycles: number }).cycles;
      const k = cycle === 'last' ? cycles : cycle;
      return 0.9 + cycles / 100 + k / 1000 + wiggle[config.seed]!;
    });
    expect(verdict.cycle).toBe(1);
    expect(verdict.claims.map((c) => c.cycle)).toEqual([1, 'last', 2]);
    expect(new Set(asked)).toEqual(new Set([1, 'last', 2]));
    // Same cycle k on both sides: the difference is the cycles' level gap, 0.01.
    expect(verdict.claims[0]!.test!.difference).toBeCloseTo(0.01, 12);
    expect(verdict.claims[2]!.test!.difference).toBeCloseTo(0.01, 12);
    // Last cycles: 3 against 2, so the k term adds 0.001.
    expect(verdict.claims[1]!.test!.difference).toBeCloseTo(0.011, 12);
  });
  test('a cycle beyond the runs is refused before anything runs, naming the field', () => {
    expect(
      plannedCycles(
        suiteRuns(
          loadSuite(
            suiteFile(`${header()}  - { id: a, description: x, kind: at-least, value: 0.5, a: ${pai(3)} }
`),
          ).suite,
        )
          .values()
          .next().value!,
      ),
    ).toBe(3);
    expect(() =>
      loadSuite(
        suiteFile(`${header()}  - { id: a, description: x, kind: greater, cycle: 3, a: ${pai(3)}, b: ${pai(2)} }
`),
      ),
    ).toThrow(
      /suite\.yaml\.claims\[0\]\.cycle: expected a cycle from 1 to 2 \(or last\) for claim a: its side b runs 2 cycles, not 3/,
    );
    expect(() =>
      loadSuite(
        suiteFile(`${header('cycle: 4\n')}  - { id: a, description: x, kind: at-least, value: 0.5, a: ${pai(3)} }
`),
      ),
    ).toThrow(/suite\.yaml\.cycle: expected a cycle from 1 to 3/);
    expect(() =>
      loadSuite(
        suiteFile(`${header()}  - { id: a, description: x, kind: at-least, value: 0.5, metric: barrier, cycle: 1, a: ${pai(3)} }
`),
      ),
    ).toThrow(/claims\[0\]\.cycle: expected last for claim a: metric barrier/);
    expect(() =>
      loadSuite(
        suiteFile(`${header('cycle: first\n')}  - { id: a, description: x, kind: at-least, value: 0.5, a: ${pai(3)} }
`),
      ),
    ).toThrow(/suite\.yaml\.cycle/);
  });
});

describe('within-baseline on a cycle', () => {
  test('a cell of another cycle is refused naming it; the same cycle is compared', () => {
    const file =
      suiteFile(`${header()}  - { id: r, description: x, kind: within-baseline, margin: 0.01, cycle: 2, a: ${pai(3)}, baseline: { file: base.json, key: cell } }
`);
    const baseline = (cycle?: number) =>
      JSON.stringify({
        suite: 'test',
        created: 'now',
        cyclesparse: '0',
        backend: { name: 'wasm', tfjsVersion: null, threads: 1 },
        cells: {
          cell: {
            mean: 0.95,
            sd: 0.001,
            n: 5,
            ci: [0.94, 0.96],
            level: 0.95,
            metric: 'best',
            ...(cycle === undefined ? {} : { cycle }),
            values: [0.949, 0.951, 0.95],
            runIds: ['x'],
          },
        },
      });
    const loaded = loadSuite(file);
    writeFileSync(join(file, '..', 'base.json'), baseline());
    expect(() => evaluateSuite(loaded, () => 0.95)).toThrow(
      /base\.json\.cells\.cell\.cycle: expected cycle 2 as claim r reads \(the cell is of cycle last\)/,
    );
    writeFileSync(join(file, '..', 'base.json'), baseline(2));
    expect(evaluateSuite(loaded, () => 0.95).claims[0]!.verdict).toBe('holds');
  });

  test('a cell of another metric is refused naming both; the same metric is compared', () => {
    const file =
      suiteFile(`${header()}  - { id: r, description: x, kind: within-baseline, margin: 0.01, metric: final, a: ${pai(3)}, baseline: { file: base.json, key: cell } }
`);
    const baseline = (metric: string) =>
      JSON.stringify({
        suite: 'test',
        created: 'now',
        cyclesparse: '0',
        backend: { name: 'wasm', tfjsVersion: null, threads: 1 },
        cells: {
          cell: {
            mean: 0.95,
            sd: 0.001,
            n: 3,
            ci: [0.94, 0.96],
            level: 0.95,
            metric,
            values: [0.949, 0.951, 0.95],
            runIds: ['x'],
          },
        },
      });
    const loaded = loadSuite(file);
    writeFileSync(join(file, '..', 'base.json'), baseline('best'));
    expect(() => evaluateSuite(loaded, () => 0.95)).toThrow(
      /base\.json\.cells\.cell\.metric: expected metric final as claim r reads \(the cell is of metric best\)/,
    );
    writeFileSync(join(file, '..', 'base.json'), baseline('final'));
    expect(evaluateSuite(loaded, () => 0.95).claims[0]!.verdict).toBe('holds');
  });
});

describe('alpha', () => {
  const claim = `  - { id: c, description: x, kind: greater, a: ${pai(3)}, b: ${pai(1)} }\n`;
  test('a level in (0, 0.5) is read; 0.5 and above, 0 and below are refused naming the field', () => {
    expect(loadSuite(suiteFile(header('alpha: 0.49\n') + claim)).suite.alpha).toBe(0.49);
    for (const alpha of ['0.5', '0.7', '0', '-0.1'])
      expect(() => loadSuite(suiteFile(header(`alpha: ${alpha}\n`) + claim)), alpha).toThrow(
        /suite\.yaml\.alpha: /,
      );
    expect(() => loadSuite(suiteFile(header('alpha: 0.5\n') + claim))).toThrow(
      /suite\.yaml\.alpha: expected a level in \(0, 0\.5\), such as 0\.05/,
    );
  });
});

describe('external results with a metric', () => {
  const dir = mkdtempSync(join(tmpdir(), 'external-metric-'));
  test('a metric column or field names what each value is; files without one still read', () => {
    writeFileSync(
      join(dir, 'm.csv'),
      'seed,label,metric,value\n0,a,final,0.91\n0,a,best,0.93\n1,a,,0.5\n',
    );
    writeFileSync(
      join(dir, 'm.jsonl'),
      '{"label":"a","seed":0,"value":0.91,"metric":"final"}\n{"label":"a","seed":0,"value":0.93,"metric":"best"}\n{"label":"a","seed":1,"value":0.5}\n',
    );
    const rows = loadExternalResults(join(dir, 'm.csv'));
    expect(rows).toEqual([
      { label: 'a', seed: 0, value: 0.91, metric: 'final' },
      { label: 'a', seed: 0, value: 0.93, metric: 'best' },
      { label: 'a', seed: 1, value: 0.5 },
    ]);
    expect(loadExternalResults(join(dir, 'm.jsonl'))).toEqual(rows);
    writeFileSync(join(dir, 'old.csv'), 'label,seed,value\na,0,0.91\n');
    expect(loadExternalResults(join(dir, 'old.csv'))).toEqual([
      { label: 'a', seed: 0, value: 0.91 },
    ]);
    writeFileSync(join(dir, 'sharp.csv'), 'label,seed,value,metric\na,0,12.5,sharpness\n');
    expect(loadExternalResults(join(dir, 'sharp.csv'))[0]!.value).toBe(12.5);
    writeFileSync(join(dir, 'bad.csv'), 'label,seed,value,metric\na,0,0.9,top1\n');
    expect(() => loadExternalResults(join(dir, 'bad.csv'))).toThrow(/bad\.csv:2\.metric/);
    writeFileSync(join(dir, 'extra.csv'), 'label,seed,value,host\n');
    expect(() => loadExternalResults(join(dir, 'extra.csv'))).toThrow(
      /extra\.csv:1: expected the header label,seed,value \(and optionally metric/,
    );
  });
  test('a claim reads the rows of its metric, or rows without one', () => {
    const file =
      suiteFile(`${header()}  - { id: a, description: x, kind: greater, test: welch, a: ${pai(3)}, b: { external: torch } }
  - { id: b, description: x, kind: greater, test: welch, metric: final, a: ${pai(3)}, b: { external: torch } }
`);
    const loaded = loadSuite(file);
    const runs = suiteRuns(loaded.suite);
    const value = (id: string) => 0.95 + wiggle[runs.get(id)!.seed]!;
    const rows = [0, 1, 2, 3, 4].map((seed) => ({
      label: 'torch',
      seed,
      value: 0.9 + wiggle[seed]! / 2,
      metric: 'best' as const,
    }));
    const verdict = evaluateSuite(loaded, value, rows);
    expect(verdict.claims[0]!.verdict).toBe('holds');
    expect(verdict.claims[1]!.verdict).toBe('missing');
    expect(verdict.claims[1]!.detail).toBe(
      'results missing (external torch has values for metric best, not final)',
    );
    const unnamed = rows.map(({ metric: _metric, ...row }) => row);
    expect(evaluateSuite(loaded, value, unnamed).claims.map((c) => c.verdict)).toEqual([
      'holds',
      'holds',
    ]);
  });
});

describe('pairing seeds across frameworks', () => {
  test('a paired test between external results and own runs carries a warning; Welch does not', () => {
    const file =
      suiteFile(`${header()}  - { id: paired, description: x, kind: greater, a: ${pai(3)}, b: { external: torch } }
  - { id: welch, description: x, kind: greater, test: welch, a: ${pai(3)}, b: { external: torch } }
  - { id: own, description: x, kind: greater, a: ${pai(3)}, b: ${pai(2)} }
  - { id: equiv, description: x, kind: equivalent, delta: 0.1, a: { external: torch }, b: ${pai(2)} }
`);
    const loaded = loadSuite(file);
    const runs = suiteRuns(loaded.suite);
    const rows = [0, 1, 2, 3, 4].map((seed) => ({
      label: 'torch',
      seed,
      value: 0.9 + wiggle[seed]!,
    }));
    const verdict = evaluateSuite(loaded, (id) => 0.95 + wiggle[runs.get(id)!.seed]! / 3, rows);
    const [paired, welch, own, equiv] = verdict.claims;
    expect(paired!.warnings).toHaveLength(1);
    expect(paired!.warnings[0]).toMatch(
      /claim paired pairs seeds across frameworks \(external torch against cyclesparse runs\).*consider test: welch/,
    );
    expect(paired!.detail).toMatch(
      /^A − B > 0 \(warning: claim paired pairs seeds across frameworks/,
    );
    expect(equiv!.warnings).toHaveLength(1);
    expect(welch!.warnings).toEqual([]);
    expect(own!.warnings).toEqual([]);
    expect(welch!.detail).toBe('A − B > 0');
  });
});

describe('overrides on a suite', () => {
  test('key=value is set in every run after base and side merge; seed is refused', () => {
    const file =
      suiteFile(`${header()}  - { id: a, description: x, kind: greater, a: ${pai(3)}, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 2 }, training: { epochsPerCycle: 6 } } }
`);
    const loaded = loadSuite(file, {}, {}, parseOverrides(['training.epochsPerCycle=2']));
    const configs = [...suiteRuns(loaded.suite).values()];
    expect(configs).toHaveLength(10);
    expect(configs.every((c) => c.training.epochsPerCycle === 2)).toBe(true);
    expect(() => loadSuite(file, {}, {}, parseOverrides(['seed=3']))).toThrow(
      /seed: a suite's runs take their seeds from its seeds list/,
    );
  });
});

describe('the sides of a claim', () => {
  test('claimSides names each side: runs in seed order, or the external label', () => {
    const loaded = loadSuite(
      suiteFile(`${header()}  - { id: mixed, description: x, kind: greater, a: { external: torch }, b: ${pai(3)} }
  - { id: one, description: x, kind: at-least, value: 0.5, a: ${pai(1)} }
`),
    );
    const mixed = claimSides(loaded.suite, 0);
    expect(mixed.a).toEqual({ kind: 'external', label: 'torch' });
    expect(mixed.b!.kind).toBe('runs');
    const runs = suiteRuns(loaded.suite);
    const b = mixed.b as Extract<SideRuns, { kind: 'runs' }>;
    expect(b.ids.map((id) => runs.get(id)!.seed)).toEqual(loaded.suite.seeds);
    expect(b.ids.every((id) => runs.get(id)!.method.name === 'pai')).toBe(true);
    expect(claimSides(loaded.suite, 1).b).toBeUndefined();
    expect(() => claimSides(loaded.suite, 2)).toThrow(/^index: expected a claim index below 2/);
  });
});
