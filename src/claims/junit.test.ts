/**
 * `gate --junit`: the XML read back by junitparser (the Python library CI report tools build
 * on; CI installs it) — counts, names, outcomes, failure messages, properties, and text with
 * markup characters that must survive escaping.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli/cli-testing.js';
import { evaluateSuite, loadSuite, suiteRuns } from './claims.js';
import { junitXml, writeJunit } from './junit.js';

const PYTHON = '/usr/bin/python3';

/** What junitparser reads from the file, as JSON. */
interface Parsed {
  suites: {
    name: string;
    tests: number;
    failures: number;
    errors: number;
    skipped: number;
    properties: Record<string, string>;
    cases: {
      name: string;
      classname: string;
      results: { kind: string; message: string | null; type: string | null; text: string | null }[];
      out: string | null;
    }[];
  }[];
}

const READ = `
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
out = []
for s in suites:
    out.append({
        "name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors,
        "skipped": s.skipped,
        "properties": {p.name: p.value for p in s.properties()},
        "cases": [{
            "name": c.name, "classname": c.classname,
            "results": [{"kind": type(r).__name__, "message": r.message, "type": r.type,
                         "text": r.text} for r in c.result],
            "out": c.system_out,
        } for c in s],
    })
print(json.dumps({"suites": out}))
`;

function readBack(file: string): Parsed {
  const result = spawnSync(PYTHON, ['-c', READ, file], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Parsed;
}

const lrr = '{ method: { name: lrr, targetSparsity: 0.9 } }';
const pai = '{ method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } }';
const pai50 = '{ method: { name: pai, criterion: random, sparsity: 0.5, cycles: 3 } }';
const sculpt = '{ method: { name: sculpt, targetSparsity: 0.9 } }';
const dense = '{ method: { name: dense } }';

/** A suite with a claim of every outcome; values per method, one method left without any. */
function verdicts() {
  const dir = mkdtempSync(join(tmpdir(), 'junit-'));
  const file = join(dir, 'suite.yaml');
  writeFileSync(
    file,
    `suite: mini-suite
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: holds, description: "LRR beats PaI by > 0 (a < b & \\"c\\")", kind: greater, a: ${lrr}, b: ${pai} }
  - { id: contradicted, description: PaI beats LRR, kind: greater, a: ${pai}, b: ${lrr} }
  - { id: reported, description: PaI beats LRR (reported), gate: false, kind: greater, a: ${pai}, b: ${lrr} }
  - { id: missing, description: SCULPT at least 0.5, kind: at-least, value: 0.5, a: ${sculpt} }
  - { id: broken, description: dense at least 0.5, kind: at-least, value: 0.5, a: ${dense} }
  - { id: unclear, description: LRR beats PaI at 50%, kind: greater, a: ${lrr}, b: ${pai50} }
`,
  );
  const loaded = loadSuite(file);
  const runs = suiteRuns(loaded.suite);
  // LRR 95% and PaI at 90% 93% with small noise; PaI at 50% level with LRR, noisier: undecided.
  const noise: Record<string, number[]> = {
    lrr: [0.001, -0.002, 0.001],
    pai: [0.001, -0.002, 0.001],
    pai50: [-0.001, 0.003, -0.001],
  };
  const level: Record<string, number> = { lrr: 0.95, pai: 0.93, pai50: 0.95 };
  const verdict = evaluateSuite(
    loaded,
    (id) => {
      const config = runs.get(id);
      if (config === undefined) return undefined;
      const { method } = config;
      const key =
        method.name === 'pai' && 'sparsity' in method && method.sparsity === 0.5
          ? 'pai50'
          : method.name;
      const at = level[key];
      return at === undefined ? undefined : at + noise[key]![config.seed]!;
    },
    [],
    { runState: (id) => (runs.get(id)?.method.name === 'dense' ? 'failed' : undefined) },
  );
  return { loaded, verdict };
}

const CASE_NAMES = [
  'holds: LRR beats PaI by > 0 (a < b & "c")',
  'contradicted: PaI beats LRR',
  'reported: PaI beats LRR (reported)',
  'missing: SCULPT at least 0.5',
  'broken: dense at least 0.5',
  'unclear: LRR beats PaI at 50%',
];

describe('JUnit XML of the gate', () => {
  test('junitparser reads one suite, a case per claim, each outcome, message and property', () => {
    const { loaded, verdict } = verdicts();
    expect(verdict.claims.map((c) => c.verdict)).toEqual([
      'holds',
      'contradicted',
      'contradicted',
      'missing',
      'run-failed',
      'inconclusive',
    ]);
    expect(verdict.inconclusive).toBe('exit-code'); // the suite sets no policy: the default
    const file = join(mkdtempSync(join(tmpdir(), 'junit-out-')), 'reports', 'gate.xml');
    writeJunit(file, [
      { verdict, seeds: loaded.suite.seeds, backends: ['cpu', 'wasm'], seconds: 12.5 },
    ]);
    const parsed = readBack(file);
    expect(parsed.suites).toHaveLength(1);
    const [suite] = parsed.suites;
    expect(suite).toMatchObject({
      name: 'mini-suite',
      tests: 6,
      failures: 1,
      errors: 1,
      skipped: 3,
      properties: {
        backend: 'cpu, wasm',
        seeds: '0,1,2',
        metric: 'best',
        alpha: String(verdict.alpha),
        passed: 'false',
        outcome: 'fail',
        inconclusive: 'exit-code',
      },
    });
    const cases = suite!.cases;
    expect(cases.map((c) => c.classname)).toEqual(Array(6).fill('mini-suite'));
    expect(cases.map((c) => c.name)).toEqual(CASE_NAMES);
    expect(cases.map((c) => c.results.map((r) => r.kind))).toEqual([
      [],
      ['Failure'],
      ['Skipped'],
      ['Skipped'],
      ['Error'],
      ['Skipped'],
    ]);

    const failure = cases[1]!.results[0]!;
    const claim = verdict.claims[1]!;
    expect(failure.type).toBe('contradicted');
    expect(failure.message).toBe('contradicted: A − B > 0');
    // The verdict: the interval of A − B in points, the test and its p-values.
    const points = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)}`;
    expect(failure.text).toContain(`[${points(claim.test!.ci[0])}, ${points(claim.test!.ci[1])}]`);
    expect(failure.text).toContain(`A − B = ${points(claim.test!.difference)}`);
    expect(failure.text).toMatch(
      /paired test p = \d\.\d{4}, adjusted p = \d\.\d{4}; opposite p [=<] \d?\.?\d{4}, adjusted p [=<] \d?\.?\d{4} \(family gating\), α = 0\.05/,
    );
    expect(failure.text).toContain('A = 93.00% (n = 3), B = 95.00% (n = 3)');

    expect(cases[2]!.results[0]!.message).toBe('not gating (contradicted): A − B > 0');
    expect(cases[3]!.results[0]!.message).toBe(
      'not evaluated: results missing (run the suite first)',
    );
    expect(cases[4]!.results[0]!.message).toMatch(/^run-failed: runs [0-9a-z-]+, .* failed$/);
    expect(cases[0]!.out).toMatch(/^holds: A − B > 0; A = 95\.00%/);

    // Inconclusive under the default policy: skipped, naming the seeds that would decide it.
    const unclear = verdict.claims[5]!;
    expect(unclear.power).not.toBeNull();
    const seeds = unclear.power!.seeds;
    expect(cases[5]!.results[0]!.message).toContain(
      'inconclusive (policy exit-code: the gate exits 5)',
    );
    expect(cases[5]!.results[0]!.message).toContain(
      seeds === null ? 'no number of seeds up to' : `about ${seeds} seeds per side`,
    );
  });

  test('an inconclusive gating claim fails, passes or is skipped by the policy', () => {
    const { loaded, verdict } = verdicts();
    const caseOf = (policy: 'exit-code' | 'pass' | 'fail') => {
      const file = join(mkdtempSync(join(tmpdir(), 'junit-policy-')), 'gate.xml');
      writeJunit(file, [
        { verdict: { ...verdict, inconclusive: policy }, seeds: loaded.suite.seeds, backends: [] },
      ]);
      const [suite] = readBack(file).suites;
      return { suite: suite!, unclear: suite!.cases[5]! };
    };
    const failing = caseOf('fail');
    expect(failing.unclear.results.map((r) => [r.kind, r.type])).toEqual([
      ['Failure', 'inconclusive'],
    ]);
    expect(failing.unclear.results[0]!.message).toMatch(
      /^inconclusive \(policy fail\): A − B > 0; /,
    );
    expect(failing.suite).toMatchObject({ failures: 2, skipped: 2 });
    expect(failing.suite.properties.inconclusive).toBe('fail');

    const passing = caseOf('pass');
    expect(passing.unclear.results).toEqual([]);
    expect(passing.unclear.out).toMatch(/^passed as inconclusive \(policy pass\): /);
    expect(passing.suite).toMatchObject({ failures: 1, skipped: 2 });

    const skipped = caseOf('exit-code');
    expect(skipped.unclear.results.map((r) => r.kind)).toEqual(['Skipped']);
    expect(skipped.suite).toMatchObject({ failures: 1, skipped: 3 });
  });

  test('several suites; characters XML cannot carry are dropped, the rest escaped', () => {
    const { loaded, verdict } = verdicts();
    const odd = {
      ...verdict,
      suite: 'second <&> "q"',
      claims: [
        {
          ...verdict.claims[0]!,
          id: 'odd',
          description: "tab\there, quote ' and \u0001bell\u0007, line\nbreak, é 𝛼 ]]>",
        },
      ],
      passed: true,
    };
    const xml = junitXml([
      { verdict, seeds: loaded.suite.seeds, backends: [] },
      { verdict: odd, seeds: [7], backends: ['native'] },
    ]);
    expect(xml.includes('\u0001') || xml.includes('\u0007')).toBe(false);
    const file = join(mkdtempSync(join(tmpdir(), 'junit-odd-')), 'gate.xml');
    writeFileSync(file, xml);
    const parsed = readBack(file);
    expect(parsed.suites.map((s) => [s.name, s.tests, s.properties.backend])).toEqual([
      ['mini-suite', 6, 'unknown'],
      ['second <&> "q"', 1, 'native'],
    ]);
    expect(parsed.suites[1]!.cases[0]!.classname).toBe('second <&> "q"');
    expect(parsed.suites[1]!.cases[0]!.name).toBe(
      "odd: tab\there, quote ' and bell, line\nbreak, é 𝛼 ]]>",
    );
  });

  test('gate --junit writes the file (claims missing with --no-run: skipped); a bad path exits 2', () => {
    const root = mkdtempSync(join(tmpdir(), 'junit-cli-'));
    const suite = join(root, 'suite.yaml');
    writeFileSync(
      suite,
      `suite: cli
seeds: [0, 1]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, description: LRR beats PaI, kind: greater, a: ${lrr}, b: ${pai} }
`,
    );
    const gate = (junit: string) =>
      spawnSync(
        process.execPath,
        [
          CLI_MAIN,
          'gate',
          '--claims',
          suite,
          '--store',
          join(root, 'store'),
          '--no-run',
          '--junit',
          junit,
        ],
        { encoding: 'utf8', env: { ...process.env, CI: 'true' } },
      );
    const file = join(root, 'out', 'gate.xml');
    const ran = gate(file);
    expect(ran.status).toBe(1); // a gating claim without results: the gate does not pass
    expect(ran.stdout).toContain(`JUnit: ${file}`);
    const [parsed] = readBack(file).suites;
    expect(parsed).toMatchObject({ name: 'cli', tests: 1, failures: 0, errors: 0, skipped: 1 });
    expect(parsed!.cases[0]!.name).toBe('lrr-beats-pai: LRR beats PaI');
    expect(parsed!.properties).toMatchObject({ backend: 'unknown', seeds: '0,1', passed: 'false' });

    const bad = gate(join(suite, 'gate.xml')); // under a file
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`--junit ${join(suite, 'gate.xml')}: cannot write there`);
  });
});
