/**
 * export, query and status --where/--group-by as the command line runs them (the command modules
 * registered on a program here; `status` also through main.ts for the exit code of a misspelt
 * store). Outputs read back by their consumers: DuckDB for Parquet, Python's csv for CSV.
 */

import { Command } from '@commander-js/extra-typings';
import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { parseConfigText, resolveRun } from '../../config/resolve.js';
import { executeRun } from '../../harness/execute.js';
import { Store } from '../../store/store.js';
import { CLI_MAIN } from '../cli-testing.js';
import { register as exportCommand } from './export.js';
import { register as queryCommand } from './query.js';
import { register as statusCommand } from './status.js';

let root: string;
let store: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'results-cli-'));
  store = join(root, 'store');
  for (const seed of [0, 1]) {
    const yaml = `extends: mini-mnist-lenet300\ndata: { trainPerClass: 10, testPerClass: 10 }\ntraining: { epochsPerCycle: 1 }\nmethod: { name: dense }\nseed: ${seed}\n`;
    const outcome = await executeRun(new Store(store), resolveRun(parseConfigText(yaml, 'r.yaml')));
    expect(outcome.state).toBe('finished');
  }
}, 60_000);

/** Runs the command line `args` in this process; what it printed. */
async function cli(...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  for (const register of [exportCommand, queryCommand, statusCommand]) register(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

const ids = () => readdirSync(store).sort();
const accuracy = (id: string): number => {
  const result = JSON.parse(readFileSync(join(store, id, 'result.json'), 'utf8')) as {
    cycles: { testAccuracy: { final: number } }[];
  };
  return result.cycles.at(-1)!.testAccuracy.final;
};

describe('cyclesparse export / query / status through DuckDB', () => {
  test('export infers the format from the extension; DuckDB reads the Parquet back', async () => {
    const out = join(root, 'x.parquet');
    expect(await cli('export', '--store', store, '--out', out)).toMatch(/^2 rows .*\(parquet\)/);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      `SELECT run_id, test_accuracy_final FROM read_parquet('${out}') ORDER BY run_id`,
    );
    expect(reader.getRowObjectsJS()).toEqual(
      ids().map((id) => ({ run_id: id, test_accuracy_final: accuracy(id) })),
    );
    connection.closeSync();
    instance.closeSync();
  });

  test('export refuses an unknown format, naming the allowed ones, and a missing store', async () => {
    await expect(cli('export', '--store', store, '--out', join(root, 'x.xlsx'))).rejects.toThrow(
      /expected one of csv, jsonl, parquet/,
    );
    await expect(
      cli('export', '--store', join(root, 'nope'), '--out', join(root, 'y.csv')),
    ).rejects.toThrow(`--store ${join(root, 'nope')}: no such directory`);
    // An --out DuckDB could not write: refused naming it before anything is read.
    const missingDir = join(root, 'no-dir', 'z.csv');
    await expect(cli('export', '--store', store, '--out', missingDir)).rejects.toThrow(
      `--out ${missingDir}: `,
    );
    await expect(cli('export', '--store', store, '--out', root, '--format', 'csv')).rejects.toThrow(
      /is a directory \(expected a file in an existing, writable directory\)/,
    );
  });

  test('options of the other listing are refused, not ignored', async () => {
    await expect(
      cli('status', store, '--queue', 'redis://127.0.0.1:1', '--where', 'seed = 0'),
    ).rejects.toThrow(/--where: expected a store listing \(without --queue\)/);
    await expect(cli('status', store, '--collect')).rejects.toThrow(
      /--collect: expected a queue listing \(with --queue\)/,
    );
  });

  test('query --csv is read by Python’s csv module; --json parses', async () => {
    const sql = `SELECT run_id, test_accuracy_final AS acc, 'a,"b"' AS odd FROM runs ORDER BY run_id`;
    const csv = await cli('query', sql, '--store', store, '--csv');
    const rows = JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        ['-c', 'import csv,json,sys; print(json.dumps(list(csv.DictReader(sys.stdin))))'],
        { input: csv, encoding: 'utf8' },
      ),
    ) as Record<string, string>[];
    expect(rows).toEqual(
      ids().map((id) => ({ run_id: id, acc: String(accuracy(id)), odd: 'a,"b"' })),
    );
    const json = JSON.parse(await cli('query', sql, '--store', store, '--json')) as unknown[];
    expect(json).toEqual(ids().map((id) => ({ run_id: id, acc: accuracy(id), odd: 'a,"b"' })));
    expect(await cli('query', 'SELECT count(*) AS n FROM epochs', '--store', store)).toMatch(
      /n\s*\n.*\n?\s*2\b/,
    );
  });

  test('status --where filters, --group-by summarises, --json carries its schema version', async () => {
    const seedOf = (id: string) =>
      (
        JSON.parse(readFileSync(join(store, id, 'config.json'), 'utf8')) as {
          config: { seed: number };
        }
      ).config.seed;
    const [first, second] = ids();
    const seed1 = ids().filter((id) => seedOf(id) === 1);
    expect(seed1).toHaveLength(1);
    const filtered = JSON.parse(await cli('status', store, '--where', 'seed = 1', '--json')) as {
      id: string;
      schemaVersion: number;
    }[];
    expect(filtered.map((r) => [r.id, r.schemaVersion])).toEqual([[seed1[0], 1]]);
    const seed0 = await cli('status', store, '--where', 'seed = 0');
    expect(seed0).not.toContain(seed1[0]);
    expect(seed0).toContain(ids().find((id) => seedOf(id) === 0));
    const groups = JSON.parse(await cli('status', store, '--group-by', 'method', '--json')) as {
      group: object;
      runs: number;
      metrics: { test_accuracy_final: { n: number; mean: number } };
    }[];
    expect(groups).toHaveLength(1);
    expect(groups[0]!.group).toEqual({ method: 'dense' });
    expect(groups[0]!.metrics.test_accuracy_final.n).toBe(2);
    expect(groups[0]!.metrics.test_accuracy_final.mean).toBeCloseTo(
      (accuracy(first!) + accuracy(second!)) / 2,
      12,
    );
    await expect(cli('status', store, '--where', 'sed = 1')).rejects.toThrow(/--where: .*sed/);
  });

  test('status of a misspelt store exits 2 naming it (not "no runs", exit 0)', () => {
    const missing = join(root, 'rusn');
    const run = spawnSync(process.execPath, [CLI_MAIN, 'status', missing], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`store ${missing}: no such directory`);
  });

  test('the command modules load no DuckDB until an action runs (--help stays fast)', () => {
    const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
    // DuckDB's native binding is loaded through require: it shows in the CommonJS cache.
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const duckdb = () => Object.keys(cache).filter((k) => k.includes('duckdb')).length;
      for (const m of ${JSON.stringify(['export.ts', 'query.ts', 'status.ts'].map(here))}) await import(m);
      const before = duckdb();
      await import(${JSON.stringify(here('../../results/duck.ts'))});
      console.log(JSON.stringify([before, duckdb()]));`;
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const [before, after] = JSON.parse(run.stdout) as [number, number];
    expect(before).toBe(0);
    expect(after).toBeGreaterThan(0); // the check can see DuckDB when it is loaded
  });
});
