import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadSuite, suiteRuns } from '../claims/claims.js';
import { parseOverrides } from '../config/overrides.js';
import type { RunConfig } from '../config/schema.js';
import { madeUpResult, writeMadeUpStore } from '../store/made-up-result-testing.js';
import { CLI_MAIN } from './cli-testing.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });

const SUITE = `suite: from-file
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr-beats-pai, description: LRR beats a random mask, kind: greater, a: { method: { name: lrr, targetSparsity: 0.9 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } } }
`;

/** A made-up result of a run, as the store keeps it (levels with their masks). */
function resultOf(config: RunConfig) {
  const accuracy = (config.method.name === 'lrr' ? 0.95 : 0.935) + config.seed / 700;
  return madeUpResult(
    config,
    [0, 1, 2].map((c) => ({
      phase: `level ${c}`,
      sparsity: c === 2 ? 0.9 : 0.5,
      best: accuracy - 0.01 * (2 - c),
      final: accuracy - 0.01 * (2 - c),
    })),
    {
      levels: [
        {
          level: 0,
          label: 'level 0',
          sparsity: 0,
          mask: {
            format: 'cyclesparse.mask',
            version: 1,
            layers: [{ name: 'fc1', shape: [2, 2], layout: 'io', kept: 4, bits: 'Dw==' }],
          },
        },
      ],
    },
  );
}

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

describe('report --from', () => {
  test('rebuilds, without the store, the report the store gave; refuses --store with it, and a report of nothing unless forced', () => {
    const dir = temporaryDir('report-from-');
    const suiteFile = join(dir, 'suite.yaml');
    writeFileSync(suiteFile, SUITE);
    const store = join(dir, 'runs');
    writeMadeUpStore(store, suiteRuns(loadSuite(suiteFile).suite), resultOf);
    const fromStore = join(dir, 'from-store');
    const first = cli('report', '--claims', suiteFile, '--store', store, '--out', fromStore);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const names = readdirSync(fromStore).sort();
    expect(names).toContain('results.json');

    // The store is gone: the results file alone gives the same files, byte for byte.
    const fromFile = join(dir, 'from-file');
    const rebuilt = cli(
      'report',
      '--claims',
      suiteFile,
      '--from',
      join(fromStore, 'results.json'),
      '--out',
      fromFile,
    );
    expect(rebuilt.status).toBe(0);
    expect(readdirSync(fromFile).sort()).toEqual(names);
    for (const name of names)
      expect(
        readFileSync(join(fromFile, name)).equals(readFileSync(join(fromStore, name))),
        name,
      ).toBe(true);

    const both = cli(
      'report',
      '--claims',
      suiteFile,
      '--from',
      join(fromStore, 'results.json'),
      '--store',
      store,
    );
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/'--store <dir>' cannot be used with option '--from <file>'/);

    // A report of nothing is refused and the directory keeps its report: here the file's runs
    // are not the suite's under another override (which changes every run id), and it says so.
    const before = readFileSync(join(fromStore, 'index.md'), 'utf8');
    const refused = cli(
      'report',
      '--claims',
      suiteFile,
      '--from',
      join(fromFile, 'results.json'),
      '--out',
      fromStore,
      'training.epochsPerCycle=2',
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^report not written: /);
    expect(refused.stderr).toContain(
      `${join(fromFile, 'results.json')}: its 6 runs are none of the suite's: was it written with other key=value overrides than training.epochsPerCycle=2?`,
    );
    expect(readFileSync(join(fromStore, 'index.md'), 'utf8')).toBe(before);
    expect(readdirSync(fromStore).sort()).toEqual(names);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const forced = cli(
      'report',
      '--claims',
      suiteFile,
      '--store',
      empty,
      '--out',
      fromStore,
      '--force',
    );
    expect(forced.status).toBe(0);
    expect(forced.stdout).toMatch(/\(1 claims missing results\)/);
    expect(
      (JSON.parse(readFileSync(join(fromStore, 'results.json'), 'utf8')) as { runs: unknown[] })
        .runs,
    ).toEqual([]);
  }, 120_000);

  test('refuses to replace a results file holding more claims or none of its runs, unless forced; rebuilding in place is never refused', () => {
    const dir = temporaryDir('report-less-');
    const suiteFile = join(dir, 'suite.yaml');
    writeFileSync(
      suiteFile,
      `${SUITE}  - { id: lrr-learns, description: LRR beats 90%, kind: at-least, value: 0.9, a: { method: { name: lrr, targetSparsity: 0.9 } } }\n`,
    );
    const storeOf = (
      name: string,
      keep: (config: RunConfig) => boolean,
      ...overrides: string[]
    ) => {
      const store = join(dir, name);
      const loaded = loadSuite(suiteFile, {}, {}, parseOverrides(overrides));
      const kept = [...suiteRuns(loaded.suite)].filter(([, config]) => keep(config));
      writeMadeUpStore(store, new Map(kept), resultOf);
      return store;
    };
    const whole = storeOf('whole', () => true);
    const lrrOnly = storeOf('lrr-only', (config) => config.method.name === 'lrr');
    const other = storeOf('other', () => true, 'training.epochsPerCycle=2');
    const out = join(dir, 'report');
    expect(cli('report', '--claims', suiteFile, '--store', whole, '--out', out).status).toBe(0);
    const results = join(out, 'results.json');
    const before = readFileSync(results, 'utf8');
    const index = readFileSync(join(out, 'index.md'), 'utf8');

    // From its own results file, in place: the same runs and claims, so written again.
    const inPlace = cli('report', '--claims', suiteFile, '--from', results, '--out', out);
    expect(inPlace.stderr).toBe('');
    expect(inPlace.status).toBe(0);
    expect(readFileSync(results, 'utf8')).toBe(before);

    // A store with only the LRR runs: one claim of two has results, the file there has both.
    const partial = cli('report', '--claims', suiteFile, '--store', lrrOnly, '--out', out);
    expect(partial.status).toBe(1);
    expect(partial.stderr).toContain(
      `report not written: ${results} holds results for 2 of the suite's 2 claims, this report 1; ${out} keeps the report it has (--force writes it anyway)`,
    );
    // Every claim has results, but under another override: none of the runs are the file's.
    const elsewhere = cli(
      'report',
      '--claims',
      suiteFile,
      '--store',
      other,
      '--out',
      out,
      'training.epochsPerCycle=2',
    );
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.stderr).toMatch(
      /^report not written: .*results\.json holds 6 runs and none of this report's 6 \(other key=value overrides, backend or engine give other run ids\)/,
    );
    expect(readFileSync(results, 'utf8')).toBe(before);
    expect(readFileSync(join(out, 'index.md'), 'utf8')).toBe(index);

    const forced = cli(
      'report',
      '--claims',
      suiteFile,
      '--store',
      lrrOnly,
      '--out',
      out,
      '--force',
    );
    expect(forced.status).toBe(0);
    expect(readFileSync(results, 'utf8')).not.toBe(before);
  }, 120_000);
});
