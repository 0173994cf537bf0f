/**
 * Export, query and status grouping read back by their consumers: Parquet by DuckDB's own
 * read_parquet, CSV by Python's csv module, JSON Lines line by line; every value compared with
 * what the run's result.json / config.json / metrics.jsonl say, read here as plain JSON (not
 * through the export's code). Runs are tiny real runs (a few hundred ms each).
 */

import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import { executeRun } from '../harness/execute.js';
import { Store } from '../store/store.js';
import { exportFormat, exportStore, queryStore } from './duck.js';
import { FIXED_COLUMNS } from './schema.js';
import { runsWhere, statusGroups } from './status.js';

const base = `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 10 }
training: { epochsPerCycle: 1 }
`;
const methods = [
  'method: { name: dense }',
  'method: { name: pai, criterion: random, sparsity: 0.5, cycles: 2 }',
];
const SEEDS = [0, 1, 2];

let store: Store;
let dir: string;

interface Json {
  [key: string]: unknown;
}
const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;

/** The stored files of every run, as plain JSON. */
function storedRuns(): { id: string; config: Json; result: Json; metrics: Json[] }[] {
  return readdirSync(store.root)
    .sort()
    .map((id) => ({
      id,
      config: readJson(join(store.root, id, 'config.json')).config as Json,
      result: readJson(join(store.root, id, 'result.json')),
      metrics: readFileSync(join(store.root, id, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Json),
    }));
}

/** What each row of the export must say, from the stored files. */
function expectedRows(): Json[] {
  return storedRuns().flatMap(({ id, config, result }) =>
    (result.cycles as Json[]).map((c, i) => {
      const p = result.provenance as Json;
      const method = config.method as Json;
      const training = config.training as Json;
      return {
        run_id: id,
        method: method.name,
        seed: config.seed,
        cycle: i + 1,
        backend: (result.backend as Json).name,
        threads: (result.backend as Json).threads,
        sparsity: c.sparsity,
        test_accuracy_final: (c.testAccuracy as Json).final,
        test_accuracy_best: (c.testAccuracy as Json).best,
        train_loss_final: (c.trainLoss as Json).final,
        flops_sparse: c.flopsSparse,
        git_commit: p.commit,
        host: p.host,
        'training.batchSize': training.batchSize,
        'method.sparsity': method.sparsity ?? null,
      };
    }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'results-'));
  store = new Store(join(dir, 'store'));
  for (const method of methods)
    for (const seed of SEEDS) {
      const config = resolveRun(parseConfigText(`${base}${method}\nseed: ${seed}\n`, 'r.yaml'));
      const outcome = await executeRun(store, config);
      expect(outcome.state).toBe('finished');
    }
}, 120_000);

const pick = (row: Json, keys: string[]): Json =>
  Object.fromEntries(keys.map((k) => [k, row[k] ?? null]));

describe('export', () => {
  test('Parquet, read back by DuckDB, holds every run × cycle with the stored values', async () => {
    const out = join(dir, 'runs.parquet');
    const expected = expectedRows();
    expect(await exportStore(store, out, 'parquet')).toBe(expected.length);
    expect(expected.length).toBe(SEEDS.length * 3); // dense: 1 cycle; pai with 2 cycles
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      `SELECT * FROM read_parquet('${out}') ORDER BY run_id, cycle`,
    );
    const columns = reader.columnNames();
    // The fixed columns first, in the documented order.
    expect(columns.slice(0, FIXED_COLUMNS.length)).toEqual(FIXED_COLUMNS.map((c) => c.name));
    const rows = reader.getRowObjectsJS() as Json[];
    connection.closeSync();
    instance.closeSync();
    const keys = Object.keys(expected[0]!);
    expect(
      rows.map((r) =>
        pick(
          { ...r, seed: Number(r.seed), 'training.batchSize': Number(r['training.batchSize']) },
          keys,
        ),
      ),
    ).toEqual(expected);
    // Timestamps: the stored ISO strings, as UTC TIMESTAMPs.
    const stored = storedRuns();
    for (const row of rows) {
      const p = stored.find((s) => s.id === row.run_id)!.result.provenance as Json;
      expect((row.started as Date).toISOString()).toBe(p.started);
      expect((row.finished as Date).toISOString()).toBe(p.finished);
      expect(row.schema_version).toBe(1);
    }
  });

  test('CSV, read by Python’s csv module, has the same values', async () => {
    const out = join(dir, 'runs.csv');
    await exportStore(store, out, exportFormat(undefined, out));
    const script =
      'import csv, json, sys\nprint(json.dumps(list(csv.DictReader(open(sys.argv[1], newline="")))))';
    const rows = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', script, out], { encoding: 'utf8' }),
    ) as Record<string, string>[];
    const expected = expectedRows();
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const want = expected[i]!;
      expect(row.run_id).toBe(want.run_id);
      expect(row.method).toBe(want.method);
      expect(Number(row.seed)).toBe(want.seed);
      expect(Number(row.cycle)).toBe(want.cycle);
      expect(Number(row.test_accuracy_final)).toBe(want.test_accuracy_final);
      expect(Number(row.flops_sparse)).toBe(want.flops_sparse);
      expect(row.git_commit).toBe(want.git_commit);
      expect(Number(row['training.batchSize'])).toBe(want['training.batchSize']);
      const sparsity = want['method.sparsity'] as number | null;
      expect(row['method.sparsity']).toBe(sparsity === null ? '' : String(sparsity));
    });
  });

  test('JSON Lines: one object per line with the same values', async () => {
    const out = join(dir, 'runs.jsonl');
    await exportStore(store, out, 'jsonl');
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    const rows = lines.slice(0, -1).map((l) => JSON.parse(l) as Json);
    const expected = expectedRows();
    expect(rows.map((r) => pick(r, Object.keys(expected[0]!)))).toEqual(expected);
  });

  test('an unknown format is refused naming the allowed ones', () => {
    expect(() => exportFormat(undefined, 'out.xlsx')).toThrow(
      /--format: expected one of csv, jsonl, parquet/,
    );
    expect(() => exportFormat('xml', 'out.csv')).toThrow(/got "xml"/);
    expect(exportFormat(undefined, 'a/b.PARQUET')).toBe('parquet');
  });
});

describe('query', () => {
  test('SQL over runs and epochs agrees with the stored files', async () => {
    const stored = storedRuns();
    const { rows } = await queryStore(
      store,
      `SELECT r.run_id, count(*) AS epochs, max(e.test_accuracy) AS best
       FROM epochs e JOIN (SELECT DISTINCT run_id FROM runs) r USING (run_id)
       GROUP BY r.run_id ORDER BY r.run_id`,
    );
    expect(rows).toEqual(
      stored.map((s) => ({
        run_id: s.id,
        epochs: s.metrics.length,
        best: Math.max(...s.metrics.map((m) => (m.test as Json).accuracy as number)),
      })),
    );
    for (const s of stored) expect(s.metrics.every((m) => m.run === s.id)).toBe(true);
  });

  test('bad SQL is an input error carrying DuckDB’s message', async () => {
    await expect(queryStore(store, 'SELECT nope FROM runs')).rejects.toThrow(/query: .*nope/);
  });
});

describe('status through DuckDB', () => {
  test('--where selects the runs the condition holds for', async () => {
    const ids = await runsWhere(store, `method = 'pai' AND seed >= 1`);
    const want = storedRuns()
      .filter((s) => (s.config.method as Json).name === 'pai' && (s.config.seed as number) >= 1)
      .map((s) => s.id);
    expect(ids).toEqual(want);
    expect(want).toHaveLength(2);
  });

  test('--group-by: mean ± 95% t-interval over seeds, checked against the t table', async () => {
    const groups = await statusGroups(store, ['method']);
    expect(groups.map((g) => g.group)).toEqual([{ method: 'dense' }, { method: 'pai' }]);
    // t(0.975, 2 degrees of freedom) from a printed t table, not computed by the code under test.
    const T_975_2 = 4.302652729911275;
    for (const g of groups) {
      const values = storedRuns()
        .filter((s) => (s.config.method as Json).name === g.group.method)
        .map((s) => ((s.result.cycles as Json[]).at(-1)!.testAccuracy as Json).final as number);
      expect(values).toHaveLength(3);
      const mean = (values[0]! + values[1]! + values[2]!) / 3;
      const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / 2);
      const half = (T_975_2 * sd) / Math.sqrt(3);
      const m = g.metrics.test_accuracy_final;
      expect(m.n).toBe(3);
      expect(sd).toBeGreaterThan(0); // seeds differ: the interval has a width to check
      expect(m.mean).toBeCloseTo(mean, 12);
      expect(m.low).toBeCloseTo(mean - half, 9);
      expect(m.high).toBeCloseTo(mean + half, 9);
      expect(g.states).toEqual({ finished: 3 });
    }
  });

  test('an unknown grouping column is an input error naming it', async () => {
    await expect(statusGroups(store, ['mehtod'])).rejects.toThrow(/--group-by: .*mehtod/);
  });
});

describe('runs stored before provenance, and diverged losses', () => {
  test('export them with null provenance; epochs take the run id from the directory', async () => {
    const [id] = readdirSync(store.root).sort();
    const old = new Store(mkdtempSync(join(tmpdir(), 'results-old-')));
    const config = (readJson(join(store.root, id!, 'config.json')) as { config: never }).config;
    const result = readJson(join(store.root, id!, 'result.json'));
    delete result.provenance;
    // A diverged loss: JSON has null where the run had NaN.
    const cycles = result.cycles as Json[];
    cycles[0] = { ...cycles[0], trainLoss: { final: null, best: 0.5 } };
    const line = readFileSync(join(store.root, id!, 'metrics.jsonl'), 'utf8').split('\n')[0]!;
    const { run: _run, at: _at, ...oldLine } = JSON.parse(line) as Json;
    expect(_run).toBe(id);
    expect(old.importRun(resolveRun(config), result as never, [])).toBe('imported');
    // As the code before issue 17 wrote them: no provenance, metric lines without id and time.
    writeFileSync(join(old.root, id!, 'metrics.jsonl'), `${JSON.stringify(oldLine)}\n`);
    const { rows } = await queryStore(
      old,
      `SELECT r.run_id, started, finished, git_commit, host, cyclesparse_version, train_loss_final,
              train_loss_best, e.run_id AS epoch_run, e.at
       FROM runs r JOIN epochs e USING (run_id) WHERE r.cycle = 1`,
    );
    expect(rows).toEqual([
      {
        run_id: id,
        started: null,
        finished: null,
        git_commit: null,
        host: null,
        cyclesparse_version: null,
        train_loss_final: null,
        train_loss_best: 0.5,
        epoch_run: id,
        at: null,
      },
    ]);
  });
});
