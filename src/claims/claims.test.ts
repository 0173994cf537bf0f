import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunConfig } from '../config/schema.js';
import { loadMeasuredBaselines, loadPublishedBaselines } from './baselines.js';
import { evaluateSuite, loadExternalResults, loadSuite, suiteRuns } from './claims.js';

function suiteFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'claims-'));
  const file = join(dir, 'suite.yaml');
  writeFileSync(file, yaml);
  return file;
}

const header = `suite: test
seeds: [0, 1, 2, 3, 4]
base: { extends: mini-mnist-lenet300 }
claims:
`;

/** Accuracy of a configuration: a per-method level plus a small per-seed wiggle. */
const level: Record<string, number> = { lrr: 0.95, pai: 0.93, sculpt: 0.945, dense: 0.96 };
const accuracy = (config: RunConfig) =>
  level[config.method.name]! + [0.001, -0.002, 0.0015, 0, -0.0005][config.seed]!;

function evaluate(file: string, external: Parameters<typeof evaluateSuite>[2] = []) {
  const loaded = loadSuite(file);
  const runs = suiteRuns(loaded.suite);
  return evaluateSuite(
    loaded,
    (id) => (runs.has(id) ? accuracy(runs.get(id)!) : undefined),
    external,
  );
}

const lrr = '{ method: { name: lrr, targetSparsity: 0.9 } }';
const pai = '{ method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } }';

describe('claims', () => {
  test('greater holds for a consistent gap and is contradicted against it; in a gating family only the opposites are Holm-adjusted', () => {
    const verdict = evaluate(
      suiteFile(`${header}  - { id: lrr-beats-pai, description: x, kind: greater, a: ${lrr}, b: ${pai} }
  - { id: pai-beats-lrr, description: y, kind: greater, a: ${pai}, b: ${lrr} }
`),
    );
    const [holds, contradicted] = verdict.claims;
    expect(holds!.verdict).toBe('holds');
    expect(holds!.test!.difference).toBeCloseTo(0.02, 12);
    expect(contradicted!.verdict).toBe('contradicted');
    // The gate passes only when every gating claim holds (an intersection–union test), so the
    // holds p-values are used as they are; any contradiction fails it, so the opposites are
    // adjusted: Holm over two multiplies the smaller opposite p by 2.
    expect(holds!.pAdjusted).toBe(holds!.test!.p);
    expect(contradicted!.pAdjusted).toBe(contradicted!.test!.p);
    expect(contradicted!.pOppositeAdjusted).toBeCloseTo(
      Math.min(1, 2 * contradicted!.test!.pOpposite),
      12,
    );
    expect(verdict.outcome).toBe('fail');
    expect(verdict.passed).toBe(false);
    expect(verdict.claims.map((c) => c.family)).toEqual(['gating', 'gating']);
    expect(holds!.runIds).toHaveLength(10);
  });
  test('gating and reported claims are adjusted as separate families', () => {
    const claims = (gate: boolean) =>
      evaluate(
        suiteFile(`${header}  - { id: gating, description: x, kind: greater, a: ${lrr}, b: ${pai} }
  - { id: other, description: x, kind: greater, gate: ${gate}, a: ${pai}, b: ${lrr} }
  - { id: third, description: x, kind: greater, gate: ${gate}, a: ${pai}, b: ${lrr}, margin: -0.03 }
`),
      ).claims;
    const [alone, other, third] = claims(false);
    expect(alone!.pAdjusted).toBe(alone!.test!.p);
    expect(alone!.pOppositeAdjusted).toBe(alone!.test!.pOpposite);
    // Holm over the two reported claims, on both sides: each is a statement of its own.
    // Holm over two: the smaller p times 2, the larger at least that and at least itself.
    const holm2 = (x: number, y: number) => {
      const small = Math.min(1, 2 * Math.min(x, y));
      return x <= y ? [small, Math.max(small, y)] : [Math.max(small, x), small];
    };
    const reportedP = holm2(other!.test!.p, third!.test!.p);
    expect(other!.pAdjusted).toBeCloseTo(reportedP[0]!, 12);
    expect(third!.pAdjusted).toBeCloseTo(reportedP[1]!, 12);
    const reportedOpposite = holm2(other!.test!.pOpposite, third!.test!.pOpposite);
    expect(other!.pOppositeAdjusted).toBeCloseTo(reportedOpposite[0]!, 12);
    expect(third!.pOppositeAdjusted).toBeCloseTo(reportedOpposite[1]!, 12);
    // One gating family of three: holds p-values unadjusted, opposites Holm-adjusted (the
    // gating claim's opposite p is the largest of the three, so its Holm factor is 1 — the
    // running maximum — and the smallest's is 3).
    const together = claims(true);
    expect(together.map((c) => c.family)).toEqual(['gating', 'gating', 'gating']);
    for (const c of together) expect(c.pAdjusted).toBe(c.test!.p);
    const opposites = together.map((c) => c.test!.pOpposite);
    const smallest = opposites.indexOf(Math.min(...opposites));
    expect(together[smallest]!.pOppositeAdjusted).toBeCloseTo(
      Math.min(1, 3 * opposites[smallest]!),
      12,
    );
  });
  test('a gating claim whose p lies between α/k and α holds (the gate is an intersection–union test); reported, Holm leaves it inconclusive', () => {
    // Two claims with the same data: A − B = 0.02 + seed wiggle, margin chosen so that the
    // one-sided p sits between 0.025 and 0.05.
    const file = (gate: boolean) =>
      suiteFile(`${header}  - { id: first, description: x, kind: greater, test: welch, gate: ${gate}, margin: 0.0182, a: ${lrr}, b: ${pai} }
  - { id: second, description: x, kind: greater, test: welch, gate: ${gate}, margin: 0.0182, a: ${lrr}, b: ${pai} }
`);
    const gating = evaluate(file(true));
    const p = gating.claims[0]!.test!.p;
    expect(p).toBeGreaterThan(0.025);
    expect(p).toBeLessThan(0.05);
    expect(gating.claims.map((c) => c.verdict)).toEqual(['holds', 'holds']);
    expect(gating.outcome).toBe('pass');
    const reported = evaluate(file(false));
    expect(reported.claims.map((c) => c.pAdjusted)).toEqual([2 * p, 2 * p]);
    expect(reported.claims.map((c) => c.verdict)).toEqual(['inconclusive', 'inconclusive']);
  });
  test('a claim can be judged on another metric than the suite', () => {
    const loaded = loadSuite(
      suiteFile(`${header}  - { id: flatter, description: x, kind: greater, metric: sharpness, a: ${lrr}, b: ${pai} }
  - { id: accurate, description: x, kind: greater, a: ${lrr}, b: ${pai} }
`),
    );
    const runs = suiteRuns(loaded.suite);
    const asked: string[] = [];
    const verdict = evaluateSuite(loaded, (id, metric) => {
      asked.push(metric);
      const config = runs.get(id)!;
      // Sharper for pai, more accurate for lrr.
      return metric === 'sharpness'
        ? (config.method.name === 'lrr' ? 3 : 1) + config.seed / 10
        : accuracy(config);
    });
    expect(verdict.claims.map((c) => c.metric)).toEqual(['sharpness', 'best']);
    expect(verdict.claims[0]!.test!.difference).toBeCloseTo(2, 12);
    expect(new Set(asked)).toEqual(new Set(['sharpness', 'best']));
    expect(() =>
      loadSuite(
        suiteFile(
          `${header}  - { id: x, description: x, kind: greater, metric: loss, a: ${lrr}, b: ${pai} }\n`,
        ),
      ),
    ).toThrow(
      /claims\[0\]\.metric: Invalid option: expected one of "best"\|"final"\|"barrier"\|"barrier-linear"\|"sharpness"/,
    );
  });
  test('equivalence needs the interval inside ±δ; at-least compares with a value', () => {
    const verdict = evaluate(
      suiteFile(`${header}  - { id: close, description: x, kind: equivalent, delta: 0.03, a: ${lrr}, b: ${pai} }
  - { id: far, description: x, kind: equivalent, delta: 0.01, a: ${lrr}, b: ${pai} }
  - { id: above, description: x, kind: at-least, value: 0.94, a: ${lrr} }
  - { id: below, description: x, kind: at-least, value: 0.97, a: ${lrr} }
`),
    );
    expect(verdict.claims.map((c) => c.verdict)).toEqual([
      'holds',
      'contradicted',
      'holds',
      'contradicted',
    ]);
  });
  test('within-baseline tests equivalence with a measured cell; non-gating claims do not decide', () => {
    const file =
      suiteFile(`${header}  - { id: regression, description: x, kind: within-baseline, margin: 0.005, a: ${lrr}, baseline: { file: mini.json, key: cell } }
  - { id: informational, description: x, kind: greater, gate: false, a: ${pai}, b: ${lrr} }
`);
    const cell = (mean: number) => ({
      mean,
      sd: 0.001,
      n: 5,
      ci: [mean - 0.002, mean + 0.002],
      level: 0.95,
      metric: 'best',
      // The lrr side's own per-seed wiggle, shifted to the baseline's mean.
      values: [0.001, -0.002, 0.0015, 0, -0.0005].map((w) => mean - 0.0002 + w),
      runIds: ['x'],
    });
    const baseline = (mean: number) =>
      JSON.stringify({
        suite: 'test',
        created: 'now',
        cyclesparse: '0',
        backend: { name: 'wasm', tfjsVersion: '4.22.0', threads: 1 },
        cells: { cell: cell(mean) },
      });
    writeFileSync(join(file, '..', 'mini.json'), baseline(0.95));
    let verdict = evaluate(file);
    expect(verdict.claims.map((c) => c.verdict)).toEqual(['holds', 'contradicted']);
    expect(verdict.claims.map((c) => c.family)).toEqual(['regression', 'reported']);
    expect(verdict.passed).toBe(true);
    writeFileSync(join(file, '..', 'mini.json'), baseline(0.9));
    verdict = evaluate(file);
    expect(verdict.claims[0]!.verdict).toBe('contradicted');
    // Allowed: the mean of the baseline's values (0.8998) ± margin.
    expect(verdict.claims[0]!.allowed![0]).toBeCloseTo(0.8948, 12);
    expect(verdict.claims[0]!.allowed![1]).toBeCloseTo(0.9048, 12);
    expect(verdict.claims[0]!.detail).toMatch(
      /mean\(A\) in \[0\.89480, 0\.90480\] \(baseline cell, Welch TOST\)/,
    );
  });
  test('a side can be results produced elsewhere; missing values make a claim missing', () => {
    const file =
      suiteFile(`${header}  - { id: ours-beats-torch, description: x, kind: greater, a: ${lrr}, b: { external: torch-lrr } }
`);
    const rows = [0, 1, 2, 3, 4].map((seed) => ({
      label: 'torch-lrr',
      seed,
      value: 0.9 + seed / 1000,
    }));
    expect(evaluate(file, rows).claims[0]!.verdict).toBe('holds');
    const partial = evaluate(file, rows.slice(1));
    expect(partial.claims[0]!.verdict).toBe('missing');
    expect(partial.passed).toBe(false);
  });
  test('suites are validated with the path of the problem', () => {
    expect(() =>
      loadSuite(
        suiteFile(`${header}  - { id: Bad Id, description: x, kind: greater, a: {}, b: {} }\n`),
      ),
    ).toThrow(
      /suite\.yaml\.claims\[0\]\.id: expected lowercase letters, digits and dashes, got "Bad Id"/,
    );
    expect(() =>
      loadSuite(suiteFile(`${header}  - { id: x, description: x, kind: bigger, a: {}, b: {} }\n`)),
    ).toThrow(/claims\[0\]\.kind/);
    expect(() =>
      loadSuite(
        suiteFile(
          header.replace('[0, 1, 2, 3, 4]', '[0]') +
            `  - { id: x, description: x, kind: at-least, value: 1, a: {} }\n`,
        ),
      ),
    ).toThrow(/seeds: Too small/);
  });
  test('a suite name is one safe path segment: it names the report directory', () => {
    const claim = `  - { id: x, description: x, kind: at-least, value: 1, a: {} }\n`;
    const named = (name: string) => () =>
      loadSuite(suiteFile(header.replace('suite: test', `suite: ${JSON.stringify(name)}`) + claim));
    for (const bad of ['../../../../elsewhere', 'a/b', 'a\\b', '..', '.hidden', '/abs', '']) {
      expect(named(bad)).toThrow(
        /suite\.yaml\.suite: expected a name matching \/\^\[A-Za-z0-9\]\[A-Za-z0-9\._-\]\{0,99\}\$\/ .*, got/,
      );
    }
    for (const good of ['mini', 'paper', 'golden-v2.1', 'cifar_10']) {
      expect(named(good)().suite.suite).toBe(good);
    }
  });
});

describe('external results', () => {
  test('read JSON Lines and CSV, and name the line of a bad row', () => {
    const dir = mkdtempSync(join(tmpdir(), 'external-'));
    writeFileSync(
      join(dir, 'r.jsonl'),
      '{"label":"a","seed":0,"value":0.91}\n{"label":"a","seed":1,"value":0.92}\n',
    );
    writeFileSync(join(dir, 'r.csv'), 'label,seed,value\na,0,0.91\na,1,0.92\n');
    expect(loadExternalResults(join(dir, 'r.jsonl'))).toEqual(
      loadExternalResults(join(dir, 'r.csv')),
    );
    writeFileSync(join(dir, 'bad.csv'), 'label,seed,value\na,0,91\n');
    expect(() => loadExternalResults(join(dir, 'bad.csv'))).toThrow(
      /bad\.csv:2\.value: expected a fraction in \[0, 1\] \(an accuracy or barrier; only metric sharpness may exceed it\)/,
    );
    writeFileSync(join(dir, 'bad.jsonl'), '{"label":"a","seed":0}\n');
    expect(() => loadExternalResults(join(dir, 'bad.jsonl'))).toThrow(/bad\.jsonl:1\.value/);
    writeFileSync(join(dir, 'head.csv'), 'name,seed,value\n');
    expect(() => loadExternalResults(join(dir, 'head.csv'))).toThrow(
      /head\.csv:1: expected the header label,seed,value/,
    );
  });
});

describe('baseline files in the repository', () => {
  test('baselines/paper.json validates, with provenance on every record', () => {
    const paper = loadPublishedBaselines(join(import.meta.dirname, '../../baselines/paper.json'));
    expect(paper.records.length).toBeGreaterThan(100);
    expect(paper.records.every((r) => r.source.length > 0 && r.exactness.length > 0)).toBe(true);
  });
  test('baselines/cifar10-resnet20.claims.yaml validates and resolves every run it needs', () => {
    const loaded = loadSuite(
      join(import.meta.dirname, '../../baselines/cifar10-resnet20.claims.yaml'),
      {
        data: { dir: '/data/cifar-10' },
      },
    );
    const runs = suiteRuns(loaded.suite);
    expect(runs.size).toBe(72);
    for (const config of runs.values()) {
      expect(config.data).toMatchObject({ dataset: 'cifar10', dir: '/data/cifar-10' });
      expect(config.training.epochsPerCycle === 150 || config.training.epochsPerCycle === 600).toBe(
        true,
      );
    }
  });
  test('baselines/mini.json validates and covers every gating regression claim of the mini suite', () => {
    const mini = loadMeasuredBaselines(join(import.meta.dirname, '../../baselines/mini.json'));
    const loaded = loadSuite(join(import.meta.dirname, '../../baselines/mini.claims.yaml'));
    const { suite } = loaded;
    const verdicts = evaluateSuite(loaded, () => undefined).claims;
    suite.claims.forEach((claim, i) => {
      if (claim.kind !== 'within-baseline') return;
      // The cell was measured on exactly the runs the claim's side names.
      expect(mini.cells[claim.baseline.key]?.runIds, claim.id).toEqual(verdicts[i]!.runIds);
    });
    expect(Object.values(mini.cells).every((c) => c.n === suite.seeds.length)).toBe(true);
  });
});

describe('hostile claims and results files', () => {
  test('CSV fields may be quoted (RFC 4180); a stray quote or a wrong field count is refused with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'external-'));
    const csv = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return () => loadExternalResults(join(dir, name));
    };
    expect(
      csv(
        'quoted.csv',
        '"label","seed","value"\r\n"torch, ""lrr""",0,0.91\n"multi\nline",1," 0.5"\n\n',
      )(),
    ).toEqual([
      { label: 'torch, "lrr"', seed: 0, value: 0.91 },
      { label: 'multi\nline', seed: 1, value: 0.5 },
    ]);
    expect(csv('stray.csv', 'label,seed,value\nto"rch,0,0.9\n')).toThrow(
      /stray\.csv:2: expected a quote only around a whole field/,
    );
    expect(csv('after.csv', 'label,seed,value\n"a"b,0,0.9\n')).toThrow(
      /after\.csv:2: expected a separator \(,\) after a closing quote/,
    );
    expect(csv('open.csv', 'label,seed,value\na,0,0.9\n"b,1,0.9\n')).toThrow(
      /open\.csv:3: expected a closing quote/,
    );
    expect(csv('fields.csv', 'label,seed,value\n"a,b",0,0.9,1\n')).toThrow(
      /fields\.csv:2: expected 3 fields \(label,seed,value\), got 4/,
    );
    expect(csv('empty.csv', 'label,seed,value\na,,0.9\n')).toThrow(/empty\.csv:2\.seed/);
  });
  test('a (label, seed) twice, a claim id twice or a results file that is not there is refused, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'external-'));
    writeFileSync(join(dir, 'twice.csv'), 'label,seed,value\na,0,0.9\nb,0,0.8\na,0,0.7\n');
    expect(() => loadExternalResults(join(dir, 'twice.csv'))).toThrow(
      /twice\.csv:4: expected one row per label and seed: label "a" seed 0 is also on line 2/,
    );
    writeFileSync(join(dir, 'twice.jsonl'), '{"label":"a","seed":1,"value":0.9}\n\n'.repeat(2));
    expect(() => loadExternalResults(join(dir, 'twice.jsonl'))).toThrow(
      /twice\.jsonl:3: .*is also on line 1/,
    );
    expect(() => loadExternalResults(join(dir, 'absent.csv'))).toThrow(
      /absent\.csv: invalid configuration\n {2}cannot read: ENOENT/,
    );
    const claim = `  - { id: same, description: x, kind: at-least, value: 0.5, a: {} }\n`;
    expect(() => loadSuite(suiteFile(header + claim + claim))).toThrow(
      /suite\.yaml\.claims\[1\]\.id: expected an id no other claim has \(claims\[0\] is also "same"\)/,
    );
  });
  test('a claim whose run failed or diverged says so instead of "missing"', () => {
    const file =
      suiteFile(`${header}  - { id: c, description: x, kind: greater, a: ${lrr}, b: ${pai} }
`);
    const loaded = loadSuite(file);
    const runs = [...suiteRuns(loaded.suite).keys()];
    const [lrrRun, paiRun] = [runs[0]!, runs[5]!];
    const verdict = (state: (id: string) => 'failed' | 'diverged' | undefined) =>
      evaluateSuite(loaded, (id) => (id === lrrRun || id === paiRun ? undefined : 0.9), [], {
        runState: state,
      }).claims[0]!;
    expect(verdict(() => undefined)).toMatchObject({ verdict: 'missing' });
    expect(verdict((id) => (id === paiRun ? 'diverged' : undefined))).toMatchObject({
      verdict: 'diverged',
      detail: `run ${paiRun} diverged (no accuracy)`,
    });
    expect(
      verdict((id) => (id === lrrRun ? 'failed' : id === paiRun ? 'diverged' : undefined)),
    ).toMatchObject({ verdict: 'run-failed', detail: `run ${lrrRun} failed` });
  });
});

/*
 * Three verdicts per kind, on data small enough to compute by hand. Oracles: the closed forms of
 * Student's t CDF for 2 and 4 degrees of freedom (no t quantile or CDF from the code under test).
 *   ν = 2: F(t) = 1/2 + t / (2√(2 + t²))
 *   ν = 4: F(t) = 1/2 + (3/8) · (t / √(1 + t²/4)) · (1 − t² / (12 (1 + t²/4)))
 */
const t2 = (t: number) => 0.5 + t / (2 * Math.sqrt(2 + t * t));
const t4 = (t: number) =>
  0.5 + (3 / 8) * (t / Math.sqrt(1 + (t * t) / 4)) * (1 - (t * t) / (12 * (1 + (t * t) / 4)));

describe('holds, contradicted, inconclusive for every kind', () => {
  const three = `suite: test
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
`;
  /**
   * Side A (lrr) reads 4, 5, 6 by seed, side B (pai) 1, 2, 3: A − B is 3 with Welch se √(2/3).
   * Each claim is evaluated in a suite of its own, so its family has one member and its adjusted
   * p-values are its own.
   */
  function evaluateEach(claims: string, dirFiles: Record<string, string> = {}) {
    const lines = claims.split('\n').filter((l) => l.trim() !== '');
    return { claims: lines.map((l) => evaluateThree(`${l}\n`, dirFiles).claims[0]!) };
  }
  function evaluateThree(claims: string, dirFiles: Record<string, string> = {}) {
    const file = suiteFile(three + claims);
    for (const [name, text] of Object.entries(dirFiles))
      writeFileSync(join(file, '..', name), text);
    const loaded = loadSuite(file);
    const runs = suiteRuns(loaded.suite);
    return evaluateSuite(loaded, (id) => {
      const config = runs.get(id)!;
      return (config.method.name === 'lrr' ? 4 : 1) + config.seed;
    });
  }
  const seWelch = Math.sqrt(2 / 3);

  test('greater, paired: differences 3, 3, 3 have no spread, so the margin alone decides', () => {
    const v =
      evaluateEach(`  - { id: holds, description: x, kind: greater, margin: 2, a: ${lrr}, b: ${pai} }
  - { id: contradicted, description: x, kind: greater, margin: 4, a: ${lrr}, b: ${pai} }
  - { id: inconclusive, description: x, kind: greater, margin: 3, a: ${lrr}, b: ${pai} }
`);
    expect(v.claims.map((c) => [c.verdict, c.test!.p, c.test!.pOpposite])).toEqual([
      ['holds', 0, 1],
      ['contradicted', 1, 0],
      ['inconclusive', 1, 1],
    ]);
    // Exactly on the margin there is no effect to power: no number of seeds would decide it.
    expect(v.claims[2]!.power).toEqual({ seeds: null, towards: 'holds', power: 0.8 });
  });

  test('at-least (one-sample t): A = 4, 5, 6 against 3, 8 and 4', () => {
    // at-least on A = 4, 5, 6: mean 5, sd 1, se 1/√3, ν = 2.
    const v = evaluateEach(`  - { id: holds, description: x, kind: at-least, value: 3, a: ${lrr} }
  - { id: contradicted, description: x, kind: at-least, value: 8, a: ${lrr} }
  - { id: inconclusive, description: x, kind: at-least, value: 4, a: ${lrr} }
`);
    const se = 1 / Math.sqrt(3);
    const [holds, contradicted, inconclusive] = v.claims;
    expect(holds!.test!.p).toBeCloseTo(1 - t2((5 - 3) / se), 6); // 0.0371
    expect(contradicted!.test!.pOpposite).toBeCloseTo(t2((5 - 8) / se), 6); // 0.0175
    expect(inconclusive!.test!.p).toBeCloseTo(1 - t2((5 - 4) / se), 6); // 0.113
    expect(v.claims.map((c) => c.verdict)).toEqual(['holds', 'contradicted', 'inconclusive']);
    expect(holds!.pAdjusted).toBe(holds!.test!.p);
    expect(inconclusive!.power).toMatchObject({ towards: 'holds', power: 0.8 });
    expect(inconclusive!.power!.seeds).toBeGreaterThan(3);
  });

  test('greater, Welch: A − B = 3, se √(2/3), ν = 4', () => {
    const v =
      evaluateEach(`  - { id: holds, description: x, kind: greater, test: welch, a: ${lrr}, b: ${pai} }
  - { id: contradicted, description: x, kind: greater, test: welch, margin: 6, a: ${lrr}, b: ${pai} }
  - { id: inconclusive, description: x, kind: greater, test: welch, margin: 2, a: ${lrr}, b: ${pai} }
`);
    const [holds, contradicted, inconclusive] = v.claims;
    expect(holds!.test!.p).toBeCloseTo(1 - t4(3 / seWelch), 6); // 0.0107
    expect(contradicted!.test!.pOpposite).toBeCloseTo(t4(-3 / seWelch), 6); // 0.0107
    expect(inconclusive!.test!.p).toBeCloseTo(1 - t4(1 / seWelch), 6); // 0.144
    expect(v.claims.map((c) => c.verdict)).toEqual(['holds', 'contradicted', 'inconclusive']);
    expect(inconclusive!.power).toMatchObject({ towards: 'holds' });
  });

  test('equivalent (TOST, Welch): |A − B| = 3 against δ = 7, 0.5 and 4', () => {
    const v =
      evaluateEach(`  - { id: holds, description: x, kind: equivalent, test: welch, delta: 7, a: ${lrr}, b: ${pai} }
  - { id: contradicted, description: x, kind: equivalent, test: welch, delta: 0.5, a: ${lrr}, b: ${pai} }
  - { id: inconclusive, description: x, kind: equivalent, test: welch, delta: 4, a: ${lrr}, b: ${pai} }
  - { id: leaning-away, description: x, kind: equivalent, test: welch, delta: 2.5, gate: false, a: ${lrr}, b: ${pai} }
`);
    const [holds, contradicted, inconclusive, away] = v.claims;
    expect(holds!.test!.p).toBeCloseTo(1 - t4((7 - 3) / seWelch), 6); // 0.0040
    // The opposite, |A − B| > δ, is two-sided: twice the smaller one-sided p.
    expect(contradicted!.test!.pOpposite).toBeCloseTo(2 * (1 - t4((3 - 0.5) / seWelch)), 6); // 0.038
    expect(inconclusive!.test!.p).toBeCloseTo(1 - t4((4 - 3) / seWelch), 6); // 0.144
    expect(v.claims.map((c) => c.verdict)).toEqual([
      'holds',
      'contradicted',
      'inconclusive',
      'inconclusive',
    ]);
    expect(inconclusive!.power).toMatchObject({ towards: 'holds' });
    expect(away!.power).toMatchObject({ towards: 'contradicted' });
    expect(away!.family).toBe('reported');
  });

  test('within-baseline (Welch TOST against the stored values): margins 7, 0.5 and 4', () => {
    const cell = {
      mean: 2,
      sd: 1,
      n: 3,
      ci: [0, 4],
      level: 0.95,
      metric: 'best',
      values: [1, 2, 3],
      runIds: ['x', 'y', 'z'],
    };
    const baseline = JSON.stringify({
      suite: 'test',
      created: 'now',
      cyclesparse: '0',
      backend: { name: 'wasm', tfjsVersion: null, threads: 1 },
      cells: { cell, single: { ...cell, values: [2] } },
    });
    const claim = (id: string, margin: number) =>
      `  - { id: ${id}, description: x, kind: within-baseline, margin: ${margin}, a: ${lrr}, baseline: { file: base.json, key: cell } }\n`;
    const all = claim('holds', 7) + claim('contradicted', 0.5) + claim('inconclusive', 4);
    const v = evaluateEach(all, { 'base.json': baseline });
    const [holds, contradicted, inconclusive] = v.claims;
    expect(v.claims.map((c) => c.family)).toEqual(['regression', 'regression', 'regression']);
    expect(holds!.test!.p).toBeCloseTo(1 - t4((7 - 3) / seWelch), 6);
    expect(contradicted!.test!.pOpposite).toBeCloseTo(2 * (1 - t4((3 - 0.5) / seWelch)), 6);
    expect(v.claims.map((c) => c.verdict)).toEqual(['holds', 'contradicted', 'inconclusive']);
    expect(holds!.allowed).toEqual([2 - 7, 2 + 7]);
    // The baseline keeps its 3 stored values (sd 1) whatever A's seeds: se ≥ 1/√3 and the
    // degrees of freedom fall towards 2 (t quantile 2.92), so the upper bound 3 + 2.92·ŝe stays
    // below 4 with chance about P(χ²₂/2 < 0.35) ≈ 0.3 at best: no number of seeds reaches 0.8.
    // (Were the baseline re-measured with A, 14 seeds a side would.)
    expect(inconclusive!.power).toEqual({ seeds: null, towards: 'holds', power: 0.8 });
    // Together they are one gating family: the holds p-values stay as they are (the gate is an
    // intersection–union test) while Holm multiplies the smallest opposite p (the
    // contradiction's, 0.038) by 3, so it no longer clears α.
    const together = evaluateThree(all, { 'base.json': baseline }).claims;
    expect(together[0]!.pAdjusted).toBe(holds!.test!.p);
    expect(together[1]!.pOppositeAdjusted).toBeCloseTo(3 * contradicted!.test!.pOpposite, 12);
    expect(together.map((c) => c.verdict)).toEqual(['holds', 'inconclusive', 'inconclusive']);
    expect(() =>
      evaluateThree(
        `  - { id: r, description: x, kind: within-baseline, margin: 1, a: ${lrr}, baseline: { file: base.json, key: single } }\n`,
        { 'base.json': baseline },
      ),
    ).toThrow(
      /base\.json\.cells\.single\.values: expected at least 2 per-seed values for claim r .*\(the cell has 1\)/,
    );
  });

  test('tolerance is refused, saying what margin is; a regression claim needs a margin', () => {
    const claim = (extra: string) =>
      `  - { id: r, description: x, kind: within-baseline, ${extra}, a: ${lrr}, baseline: { file: base.json, key: cell } }\n`;
    expect(() => loadSuite(suiteFile(three + claim('tolerance: 0.002')))).toThrow(
      /claims\[0\]\.tolerance: expected margin instead: tolerance .* was replaced by margin, the equivalence margin in the metric's units/,
    );
    expect(() => loadSuite(suiteFile(three + claim('margin: 0')))).toThrow(
      /claims\[0\]\.margin: Too small/,
    );
  });

  test('outcome: inconclusive when no gating claim is contradicted and some does not hold; the policy is the suite’s or the override', () => {
    const claims = `  - { id: holds, description: x, kind: greater, test: welch, a: ${lrr}, b: ${pai} }
  - { id: inconclusive, description: x, kind: greater, test: welch, margin: 2, a: ${lrr}, b: ${pai} }
  - { id: reported, description: x, kind: greater, test: welch, margin: 6, gate: false, a: ${lrr}, b: ${pai} }
`;
    const v = evaluateThree(claims);
    expect(v.claims.map((c) => c.verdict)).toEqual(['holds', 'inconclusive', 'contradicted']);
    expect(v).toMatchObject({ outcome: 'inconclusive', passed: false, inconclusive: 'exit-code' });
    const file = suiteFile(three.replace('seeds:', 'inconclusive: pass\nseeds:') + claims);
    const loaded = loadSuite(file);
    const runs = suiteRuns(loaded.suite);
    const value = (id: string) =>
      (runs.get(id)!.method.name === 'lrr' ? 4 : 1) + runs.get(id)!.seed;
    expect(evaluateSuite(loaded, value).inconclusive).toBe('pass');
    expect(evaluateSuite(loaded, value, [], { inconclusive: 'fail' }).inconclusive).toBe('fail');
    expect(() =>
      loadSuite(suiteFile(three.replace('seeds:', 'inconclusive: maybe\nseeds:') + claims)),
    ).toThrow(
      /suite\.yaml\.inconclusive: Invalid option: expected one of "exit-code"\|"pass"\|"fail"/,
    );
  });
});
