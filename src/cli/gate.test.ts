/**
 * `cyclesparse gate` end to end without training: suites whose claims compare results produced
 * elsewhere (`--results`), plus one side of runs in a made-up store, chosen so that each verdict
 * and each exit code occurs — holds 0, contradicted 1, inconclusive 5 (0 under the policy pass,
 * 1 under fail, from the suite's field or --inconclusive) — and `--write-baseline`, whose file is
 * read back through the baseline schema and is read by the suite's own regression claim: first
 * written, then over an old file the claims compare with, and refused when a side has no cell.
 */

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadMeasuredBaselines } from '../claims/baselines.js';
import { evaluateSuite, loadSuite, suiteRuns } from '../claims/claims.js';
import { suiteValues } from '../claims/gate.js';
import { fileSource } from '../claims/results-file.js';
import type { RunConfig } from '../config/schema.js';
import { madeUpResult, writeMadeUpStore } from '../store/made-up-result-testing.js';
import { CLI_MAIN } from './cli-testing.js';
import { gateExitCode } from './shared.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });

const SEEDS = [0, 1, 2, 3];
/**
 * Per seed: `high` is 5 points above `low` with little spread (a difference no test can miss);
 * `close` and `near` differ by 0.05 points on average with ±1-point swings (nothing decides it).
 */
const EXTERNAL: Record<string, readonly number[]> = {
  high: [0.951, 0.949, 0.952, 0.95],
  low: [0.901, 0.899, 0.902, 0.9],
  close: [0.93, 0.94, 0.925, 0.935],
  near: [0.935, 0.925, 0.94, 0.9285],
};
/** Best test accuracy of the dense runs in the made-up store, per seed. */
const DENSE = [0.97, 0.972, 0.969, 0.971];

const claim = (id: string, a: string, b: string, extra = '') =>
  `  - { id: ${id}, description: ${id}, kind: greater, test: welch, a: { external: ${a} }, b: { external: ${b} }${extra} }\n`;

/** Temporary folders, removed when the file's tests end. */
const temporary: string[] = [];
function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function workspace() {
  const dir = temporaryDir('gate-cli-');
  const results = join(dir, 'results.csv');
  writeFileSync(
    results,
    [
      'label,seed,value',
      ...Object.entries(EXTERNAL).flatMap(([label, values]) =>
        values.map((v, seed) => `${label},${seed},${v}`),
      ),
    ].join('\n'),
  );
  const suite = (name: string, claims: string, header = '') => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `suite: ${name}\nseeds: [${SEEDS.join(', ')}]\nbase: { extends: mini-mnist-lenet300 }\n${header}claims:\n${claims}`,
    );
    return file;
  };
  return { dir, results, suite, store: join(dir, 'runs') };
}

/** Made-up but well-formed results for every run of a suite, so nothing trains. */
function storeResults(suiteFile: string, store: string): void {
  writeMadeUpStore(store, suiteRuns(loadSuite(suiteFile).suite), resultOf);
}

function resultOf(config: RunConfig) {
  return madeUpResult(config, [{ sparsity: 0, best: DENSE[config.seed]!, flopsSparse: 1e12 }]);
}

/** The table's line of a claim, split into its columns (two or more spaces apart). */
const row = (stdout: string, id: string) =>
  stdout
    .split('\n')
    .find((line) => line.startsWith(`${id} `))
    ?.split(/ {2,}/);

interface JsonVerdict {
  outcome: string;
  passed: boolean;
  inconclusive: string;
  claims: {
    id: string;
    verdict: string;
    family: string;
    power: { seeds: number | null; towards: string; power: number } | null;
  }[];
}

describe('the gate’s exit code', () => {
  // The codes as documented (docs/CLAIMS.md, main's --help), written out rather than read from EXIT.
  test.each([
    ['pass', 'exit-code', false, false, 0],
    ['fail', 'exit-code', false, false, 1],
    ['inconclusive', 'exit-code', false, false, 5],
    ['inconclusive', 'pass', false, false, 0],
    ['inconclusive', 'fail', false, false, 1],
    ['pass', 'fail', false, false, 0],
    ['fail', 'pass', false, false, 1],
    // A run that failed is a runtime failure whatever the claims say; then runs left to another
    // process ("run again later").
    ['fail', 'exit-code', true, true, 3],
    ['pass', 'pass', true, false, 3],
    ['inconclusive', 'pass', false, true, 4],
    ['fail', 'fail', false, true, 4],
  ] as const)(
    '%s under policy %s (run failed: %s, running elsewhere: %s) exits %i',
    (outcome, policy, runFailed, runningElsewhere, code) => {
      expect(gateExitCode({ outcome, policy, runFailed, runningElsewhere })).toBe(code);
    },
  );
});

describe('gate on the command line', () => {
  test('holds exits 0; --write-baseline writes the runs’ cells before the claims read them; --report keeps the external rows', async () => {
    const { dir, results, suite, store } = workspace();
    const file = suite(
      'passing',
      claim('high-beats-low', 'high', 'low') +
        claim('low-beats-high-reported', 'low', 'high', ', gate: false') +
        '  - { id: dense-learns, description: dense beats 90%, kind: at-least, value: 0.9, a: { method: { name: dense } } }\n' +
        // Reads the file this very gate writes: it can only hold if that is written first.
        '  - { id: dense-unchanged, description: dense as measured, kind: within-baseline, baseline: { file: measured/passing.json, key: dense-learns/a }, margin: 0.01, a: { method: { name: dense } } }\n',
    );
    storeResults(file, store);
    const baseline = join(dir, 'measured', 'passing.json');
    const junit = join(dir, 'junit', 'gate.xml');
    const run = cli(
      'gate',
      '--claims',
      file,
      '--store',
      store,
      '--results',
      results,
      '--write-baseline',
      baseline,
      '--junit',
      junit,
      '--report',
      join(dir, 'report'),
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(row(run.stdout, 'high-beats-low')).toEqual(expect.arrayContaining(['holds', 'gating']));
    expect(row(run.stdout, 'low-beats-high-reported')).toEqual(
      expect.arrayContaining(['contradicted', 'reported', 'no']),
    );
    // The regression claim: the TOST interval of A − baseline against ±1 point.
    expect(row(run.stdout, 'dense-unchanged')).toEqual(
      expect.arrayContaining(['holds', 'regression', expect.stringMatching(/ vs ±1\.00$/)]),
    );
    expect(run.stdout).toMatch(
      /^GATE PASSED: 3 gating claims: 3 holds, 0 contradicted, 0 inconclusive; inconclusive exits 5 \(policy exit-code\)/m,
    );
    expect(run.stdout).toMatch(
      /^families \(Holm within each on contradicted, and on holds in reported; gating holds unadjusted, the gate being an intersection–union test, α = 0\.05 each\): gating 2, regression 1, reported 1$/m,
    );
    expect(run.stdout).toContain(`baseline: ${baseline} (1 cells)`);

    const written = loadMeasuredBaselines(baseline); // through the schema
    expect(written.suite).toBe('passing');
    // Its provenance: what gate passed on (the suite file) and what the runs say they ran on.
    expect(written.provenance).toMatchObject({
      suiteFile: 'passing.yaml',
      seeds: SEEDS,
      metric: 'best',
      cycle: 'last',
      backend: { name: 'wasm', version: '4.22.0', threads: 1 },
      engine: {},
      overrides: [],
    });
    const cell = written.cells['dense-learns/a']!;
    expect(cell.values).toEqual(DENSE);
    expect(cell.n).toBe(4);
    expect(cell.mean).toBeCloseTo(DENSE.reduce((s, v) => s + v, 0) / 4, 12);
    expect(cell.metric).toBe('best');
    expect(cell.runIds).toEqual([...suiteRuns(loadSuite(file).suite).keys()]);
    expect(Object.keys(written.cells)).toEqual(['dense-learns/a']); // external sides: no runs
    // Written whole: no probe or partial file left beside it.
    expect(readdirSync(join(dir, 'measured'))).toEqual(['passing.json']);
    expect(readFileSync(junit, 'utf8')).toContain('<property name="outcome" value="pass"/>');

    // The report's results file carries the external rows the gate read, so it rebuilds the verdict.
    const loaded = loadSuite(file);
    const { source, external } = fileSource(join(dir, 'report', 'results.json'), loaded);
    expect(external).toHaveLength(16);
    const rebuilt = evaluateSuite(loaded, await suiteValues(loaded, source), external);
    expect(rebuilt.claims.map((c) => c.verdict)).toEqual([
      'holds',
      'contradicted',
      'holds',
      'holds',
    ]);
  }, 60_000);

  test('a contradicted gating claim exits 1 and the table says which (p-values unadjusted)', () => {
    const { results, suite, store } = workspace();
    const file = suite(
      'failing',
      claim('high-beats-low', 'high', 'low') +
        claim('low-beats-high', 'low', 'high') +
        claim('close-beats-near', 'close', 'near'),
      'correction: none\n',
    );
    const run = cli('gate', '--claims', file, '--store', store, '--results', results, '--no-run');
    expect(run.status).toBe(1);
    expect(row(run.stdout, 'low-beats-high')).toEqual(
      expect.arrayContaining(['contradicted', 'gating', 'yes']),
    );
    expect(run.stdout).toMatch(
      /^GATE FAILED: 3 gating claims: 1 holds, 1 contradicted, 1 inconclusive;/m,
    );
    expect(run.stdout).toMatch(/^families \(unadjusted, α = 0\.05 each\): gating 3$/m);
  }, 60_000);

  test('inconclusive exits 5, or by the policy: the suite’s field, overridden by --inconclusive', () => {
    const { dir, results, suite, store } = workspace();
    const claims =
      claim('high-beats-low', 'high', 'low') + claim('close-beats-near', 'close', 'near');
    const undecided = suite('undecided', claims);
    const strict = suite('strict', claims, 'inconclusive: fail\n');
    const gate = (file: string, ...args: string[]) =>
      cli('gate', '--claims', file, '--store', store, '--results', results, ...args);

    const junit = join(dir, 'gate.xml');
    const byDefault = gate(undecided, '--junit', junit);
    expect(byDefault.status).toBe(5);
    const line = row(byDefault.stdout, 'close-beats-near')!;
    const label = line.find((cell) => cell.startsWith('inconclusive'));
    expect(label).toMatch(/^inconclusive \((~\d+ seeds → (holds|contradicted)|> 1000 seeds)\)$/);
    expect(byDefault.stdout).toMatch(
      /^GATE INCONCLUSIVE: 2 gating claims: 1 holds, 0 contradicted, 1 inconclusive; inconclusive exits 5 \(policy exit-code\)/m,
    );

    // The same verdict as JSON, with the policy the command line set.
    const passing = gate(undecided, '--inconclusive', 'pass', '--json');
    expect(passing.status).toBe(0);
    const verdict = JSON.parse(passing.stdout) as JsonVerdict;
    expect([verdict.outcome, verdict.passed, verdict.inconclusive]).toEqual([
      'inconclusive',
      false,
      'pass',
    ]);
    const power = verdict.claims[1]!.power!;
    expect(verdict.claims[1]).toMatchObject({ verdict: 'inconclusive', family: 'gating' });
    // The table's number is the verdict's power analysis.
    expect(label).toBe(
      power.seeds === null
        ? 'inconclusive (> 1000 seeds)'
        : `inconclusive (~${power.seeds} seeds → ${power.towards})`,
    );

    expect(gate(undecided, '--inconclusive', 'fail').status).toBe(1);
    const bySuite = gate(strict);
    expect(bySuite.status).toBe(1);
    expect(bySuite.stdout).toContain('inconclusive fails (policy fail)');
    const overridden = gate(strict, '--inconclusive', 'exit-code');
    expect(overridden.status).toBe(5);

    // JUnit of the default policy: the undecided claim is skipped, naming the seeds.
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<skipped message="inconclusive \(policy exit-code: the gate exits 5\): /);
    expect(xml).toContain('<property name="outcome" value="inconclusive"/>');
  }, 120_000);

  test('a bad --inconclusive, or a --write-baseline that cannot be written, is bad input before anything trains; a baseline of runs not all there names the sides it lacks', () => {
    const { dir, suite, store } = workspace();
    // A side of runs the store lacks: were the file not checked first, the gate would train it.
    const file = suite(
      'untrained',
      '  - { id: dense-learns, description: dense beats 90%, kind: at-least, value: 0.9, a: { method: { name: dense } } }\n',
    );
    const policy = cli('gate', '--claims', file, '--store', store, '--inconclusive', 'maybe');
    expect(policy.status).toBe(2);
    expect(policy.stderr).toMatch(
      /option '--inconclusive <policy>' argument 'maybe' is invalid\. Allowed choices are exit-code, pass, fail/,
    );
    const underFile = join(file, 'baseline.json'); // a path below a file
    const baseline = cli('gate', '--claims', file, '--store', store, '--write-baseline', underFile);
    expect(baseline.status).toBe(2);
    expect(baseline.stderr).toContain(`--write-baseline ${underFile}: cannot write there`);
    expect(
      existsSync(store) ? readdirSync(store).filter((f) => f.startsWith('dense-')) : [],
    ).toEqual([]);

    // Nothing trained (--no-run): refused, naming the side and why; nothing created.
    const partial = join(dir, 'partial.json');
    const untrained = cli(
      'gate',
      '--claims',
      file,
      '--store',
      store,
      '--no-run',
      '--write-baseline',
      partial,
    );
    expect(untrained.status).toBe(1);
    expect(untrained.stderr).toContain(
      `baseline not written: it would have no cell for dense-learns/a (4 not in the store of its 4 runs); a baseline needs a value for every seed of every side of runs. ${partial} not created (--force-baseline writes it without those cells)`,
    );
    expect(existsSync(partial)).toBe(false);
    // Forced, it is written without the side, and says so.
    const forced = cli(
      'gate',
      '--claims',
      file,
      '--store',
      store,
      '--no-run',
      '--write-baseline',
      partial,
      '--force-baseline',
    );
    expect(forced.status).toBe(1); // its gating claim is missing
    expect(forced.stderr).toContain(
      `warning: baseline ${partial} has no cell for dense-learns/a (4 not in the store of its 4 runs)`,
    );
    expect(loadMeasuredBaselines(partial).cells).toEqual({});
  }, 60_000);
});

describe('gate --write-baseline over an existing baseline', () => {
  /** A suite whose regression claim reads the baseline file this gate writes. */
  function regressionSuite() {
    const { dir, suite, store } = workspace();
    const file = suite(
      'regression',
      '  - { id: dense-learns, description: dense beats 90%, kind: at-least, value: 0.9, a: { method: { name: dense } } }\n' +
        '  - { id: dense-unchanged, description: dense as measured, kind: within-baseline, baseline: { file: measured.json, key: dense-learns/a }, margin: 0.01, a: { method: { name: dense } } }\n',
    );
    return { dir, file, store, baseline: join(dir, 'measured.json') };
  }

  test('the regression claims compare with the old file, which is replaced after', () => {
    const { file, store, baseline } = regressionSuite();
    storeResults(file, store);
    const write = (...args: string[]) =>
      cli('gate', '--claims', file, '--store', store, '--write-baseline', baseline, ...args);
    // No file yet: written first, so the claim reads it (and holds: the runs against themselves).
    const first = write();
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`baseline: ${baseline} (1 cells)`);
    // The old reference 5 points lower: the same runs are then 5 points above it.
    const old = JSON.parse(readFileSync(baseline, 'utf8')) as {
      cells: Record<string, { mean: number; values: number[]; ci: [number, number] | null }>;
    };
    const cell = old.cells['dense-learns/a']!;
    cell.mean -= 0.05;
    cell.values = cell.values.map((v) => v - 0.05);
    cell.ci = cell.ci === null ? null : [cell.ci[0] - 0.05, cell.ci[1] - 0.05];
    writeFileSync(baseline, `${JSON.stringify(old, null, 1)}\n`);
    expect(loadMeasuredBaselines(baseline).cells['dense-learns/a']!.values[0]).toBeCloseTo(
      DENSE[0]! - 0.05,
      12,
    );

    const junit = join(dirname(baseline), 'gate.xml');
    const second = write('--junit', junit);
    expect(second.status).toBe(1);
    expect(row(second.stdout, 'dense-unchanged')).toEqual(
      expect.arrayContaining(['contradicted', 'regression']),
    );
    expect(readFileSync(junit, 'utf8')).toContain('<property name="outcome" value="fail"/>');
    expect(second.stdout).toContain(
      `baseline: ${baseline} (1 cells; the claims compared with the file it replaced)`,
    );
    // Replaced after: the new file holds the runs' own values, and the next gate compares with them.
    expect(loadMeasuredBaselines(baseline).cells['dense-learns/a']!.values).toEqual(DENSE);
    expect(cli('gate', '--claims', file, '--store', store, '--no-run').status).toBe(0);
  }, 120_000);

  test('a baseline that would lack a side is refused and the old file kept; with no old file the claims that read it are not evaluated', () => {
    const { dir, file, store, baseline } = regressionSuite();
    storeResults(file, store);
    expect(
      cli('gate', '--claims', file, '--store', store, '--write-baseline', baseline).status,
    ).toBe(0);
    const before = readFileSync(baseline, 'utf8');
    // The same suite on an empty store (as with other overrides or another backend: no run there).
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const refused = cli(
      'gate',
      '--claims',
      file,
      '--store',
      empty,
      '--no-run',
      '--write-baseline',
      baseline,
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(
      `baseline not written: it would have no cell for dense-learns/a (4 not in the store of its 4 runs); a baseline needs a value for every seed of every side of runs. ${baseline} is kept as it was`,
    );
    expect(readFileSync(baseline, 'utf8')).toBe(before);
    expect(row(refused.stdout, 'dense-learns')).toEqual(expect.arrayContaining(['missing']));

    // No file to fall back on: the regression claim cannot be read, so no verdict, and exit 1.
    const elsewhere = join(dir, 'elsewhere.yaml');
    writeFileSync(elsewhere, readFileSync(file, 'utf8').replace('measured.json', 'new.json'));
    const none = cli(
      'gate',
      '--claims',
      elsewhere,
      '--store',
      empty,
      '--no-run',
      '--write-baseline',
      join(dir, 'new.json'),
    );
    expect(none.status).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(
      `claims dense-unchanged read ${join(dir, 'new.json')}, so they cannot be evaluated`,
    );
    expect(existsSync(join(dir, 'new.json'))).toBe(false);
  }, 120_000);

  test('a refused baseline fails a gate that passed; forced, the gate’s own code', () => {
    const { dir, results, suite, store } = workspace();
    const file = suite(
      'passing-unbaselined',
      claim('high-beats-low', 'high', 'low') +
        '  - { id: dense-learns, description: dense beats 90%, kind: at-least, value: 0.9, gate: false, a: { method: { name: dense } } }\n',
    );
    const baseline = join(dir, 'b.json');
    const gate = (...args: string[]) =>
      cli(
        'gate',
        '--claims',
        file,
        '--store',
        store,
        '--results',
        results,
        '--no-run',
        '--write-baseline',
        baseline,
        ...args,
      );
    const refused = gate();
    expect(refused.stdout).toMatch(/^GATE PASSED/m);
    expect(refused.stderr).toContain(
      'baseline not written: it would have no cell for dense-learns/a',
    );
    expect(refused.status).toBe(1);
    expect(existsSync(baseline)).toBe(false);
    const forced = gate('--force-baseline');
    expect(forced.status).toBe(0);
    expect(loadMeasuredBaselines(baseline).cells).toEqual({});
  }, 60_000);
});
