/**
 * A run directory's reads: every file checked, an absent one undefined, a present one that cannot
 * be read an error naming it (and the field or line) — never undefined. Files as the code before
 * versions wrote them still read. No training here: the files are written by hand.
 */

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import { StoredFileError } from '../core/errors.js';
import { Mask } from '../core/mask.js';
import { writeState } from '../train/state-files.js';
import type { StoredEpoch, StoredProgress, StoredResult } from './records.js';
import { RunDirectory } from './run-directory.js';
import { Store } from './store.js';

const config = resolveRun(
  parseConfigText(
    'extends: mini-mnist-lenet300\nmethod: { name: dense }\ntraining: { epochsPerCycle: 1 }\n',
    'test.yaml',
  ),
);

const mask = Mask.dense([{ name: 'fc', shape: [2, 3], layout: 'io' }]).toJSON();

const epoch: StoredEpoch = {
  phase: 'dense',
  level: 0,
  metrics: {
    epoch: 0,
    cycle: 0,
    trainLoss: 0.5,
    trainAccuracy: 0.8,
    learningRate: 0.1,
    steps: 10,
    seconds: 1,
  },
  test: { loss: 0.6, accuracy: 0.75 },
};

const result: StoredResult = {
  method: 'dense',
  options: { epochsPerCycle: 1 },
  setup: {
    model: 'lenet-300-100',
    train: ['mnist'],
    test: ['mnist'],
    batchSize: 50,
    schedule: {
      peak: 0.05,
      shape: { kind: 'step', warmupFraction: 0.1, warmup: 'linear', milestones: [] },
      granularity: 'epoch',
    },
    sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
    seed: 0,
    prunable: { first: true },
  },
  backend: { name: 'wasm', tfjsVersion: '4.22.0', threads: 1, simd: true, provider: null },
  status: 'completed',
  cycles: [
    {
      phase: 'dense',
      level: 0,
      cycle: 0,
      epochs: 1,
      steps: 10,
      sparsity: 0,
      layers: [{ name: 'fc', size: 6, kept: 6, sparsity: 0 }],
      trainLoss: { final: 0.5, best: 0.5 },
      trainAccuracy: { final: 0.8, best: 0.8 },
      testLoss: { final: 0.6, best: 0.6 },
      testAccuracy: { final: 0.75, best: 0.75 },
      flopsDense: 100,
      flopsSparse: 100,
    },
  ],
  levels: [{ level: 0, label: 'dense', sparsity: 0, mask }],
  cost: { epochs: 1, steps: 10, flopsDense: 100, flopsSparse: 100 },
};

const backend = result.backend;

const progress: StoredProgress = {
  phase: 0,
  trainer: {
    step: 10,
    epoch: 1,
    batch: 0,
    dataOrderAtEpochStart: [1, 2, 3, 4],
    augmentation: [5, 6, 7, 8],
  },
  partial: [epoch],
  mask,
  snapshots: [],
  cycles: [],
  levels: [],
  cost: { epochs: 0, steps: 0, flopsDense: 0, flopsSparse: 0 },
  emitted: 1,
};

const tensors = new Map([
  ['param:fc.weight', new Float32Array([1, 2, 3, 4, 5, 6])],
  ['momentum:fc.weight', new Float32Array(6)],
]);

function fresh(): { store: Store; run: RunDirectory } {
  const store = new Store(mkdtempSync(join(tmpdir(), 'run-directory-')));
  const run = store.runOf(config);
  run.ensureConfig(config);
  return { store, run };
}

/** The StoredFileError `read` throws (failing the test if it throws none or another). */
function storedError(read: () => unknown): StoredFileError {
  try {
    read();
  } catch (error) {
    if (error instanceof StoredFileError) return error;
    throw error;
  }
  throw new Error('expected a StoredFileError, got none');
}

describe('run directory reads', () => {
  test('what it writes reads back; absent files read as undefined', () => {
    const { store, run } = fresh();
    expect(run.result()).toBeUndefined();
    expect(run.failure()).toBeUndefined();
    expect(run.checkpoint()).toBeUndefined();
    expect(run.metrics()).toEqual([]);
    expect(store.status(run.id).state).toBe('pending');
    run.appendEpoch(epoch);
    run.writeCheckpoint({ model: 'lenet-300-100', backend, progress, tensors });
    expect(store.status(run.id).state).toBe('interrupted');
    expect(run.checkpoint()).toEqual({ backend: 'wasm', progress, tensors });
    run.writeResult(result);
    expect(run.result()).toEqual(result);
    expect(run.config()?.config).toEqual(config);
    expect(store.status(run.id)).toMatchObject({ state: 'finished', epochs: 1, result });
  });

  test('a corrupt or foreign result.json is an error naming the file, not an unfinished run', () => {
    const { store, run } = fresh();
    const file = join(run.path, 'result.json');
    writeFileSync(file, '{"method": "dense", "status": "compl');
    const error = storedError(() => run.result());
    expect(error.file).toBe(file);
    expect(error.message).toMatch(/result\.json: expected valid JSON, got "/);
    // Status lists it as unreadable, naming the file, instead of stopping at it.
    expect(store.status(run.id)).toEqual({
      id: run.id,
      state: 'unreadable',
      error: error.message,
      epochs: 0,
      config, // what can still be read is shown beside the error
    });

    writeFileSync(
      file,
      JSON.stringify({ ...result, cycles: [{ ...result.cycles[0], epochs: 'one' }] }),
    );
    expect(storedError(() => run.result()).message).toBe(
      `${file}: cycles[0].epochs: Invalid input: expected number, received string`,
    );
    writeFileSync(file, JSON.stringify({ ...result, version: 2 }));
    expect(storedError(() => run.result()).message).toBe(
      `${file}: version: expected a version this cyclesparse reads (1), got 2`,
    );
    // Version 1 said out loud reads as without it.
    writeFileSync(file, JSON.stringify({ ...result, version: 1 }));
    expect(run.result()).toEqual(result);
  });

  test('values that cannot be are refused: an accuracy outside [0, 1], a negative loss or count', () => {
    const { run } = fresh();
    const file = join(run.path, 'result.json');
    const cycle = result.cycles[0]!;
    const bad = (cycles: object[], rest: object = {}) =>
      writeFileSync(file, JSON.stringify({ ...result, ...rest, cycles }));
    bad([{ ...cycle, testAccuracy: { final: 7, best: 0.8 } }]);
    expect(storedError(() => run.result()).message).toBe(
      `${file}: cycles[0].testAccuracy.final: Too big: expected number to be <=1`,
    );
    bad([{ ...cycle, trainLoss: { final: -0.5, best: 0.5 } }]);
    expect(storedError(() => run.result()).message).toMatch(
      /cycles\[0\]\.trainLoss\.final: .*expected number to be >=0/,
    );
    bad([{ ...cycle, steps: -3 }]);
    expect(storedError(() => run.result()).message).toMatch(/cycles\[0\]\.steps: Too small/);
    bad([cycle], { cost: { ...result.cost, flopsSparse: -1 } });
    expect(storedError(() => run.result()).message).toMatch(/cost\.flopsSparse: Too small/);
    const metrics = join(run.path, 'metrics.jsonl');
    writeFileSync(metrics, `${JSON.stringify({ ...epoch, test: { loss: 0.6, accuracy: 1.5 } })}\n`);
    expect(storedError(() => run.metrics()).message).toBe(
      `${metrics}:1: test.accuracy: Too big: expected number to be <=1`,
    );
  });

  test('one bad run never hides the others: status and list name its file, the rest read', () => {
    const { store, run } = fresh();
    run.writeResult(result);
    const other = store.run('dense-0000000000000000');
    mkdirSync(other.path);
    writeFileSync(join(other.path, 'config.json'), readFileSync(join(run.path, 'config.json')));
    for (const text of ['{}', '', '{"method": "dense", "status": "comp']) {
      writeFileSync(join(other.path, 'result.json'), text);
      expect(store.list().map((r) => [r.id, r.state])).toEqual([
        ['dense-0000000000000000', 'unreadable'],
        [run.id, 'finished'],
      ]);
      // A truncated result is unreadable, not an interrupted run to train again.
      expect(store.status(other.id).error).toMatch(/dense-0000000000000000\/result\.json: /);
    }
  });

  test('a non-finite loss (written by JSON as null) reads back as NaN', () => {
    const { run } = fresh();
    const diverged = {
      ...result,
      status: 'diverged' as const,
      cycles: [{ ...result.cycles[0]!, testLoss: { final: Number.NaN, best: Number.NaN } }],
    };
    run.writeResult(diverged);
    expect(run.result()?.cycles[0]?.testLoss.final).toBeNaN();
  });

  test('config.json: corrupt, another run, or an invalid configuration', () => {
    const { store, run } = fresh();
    const file = join(run.path, 'config.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { config: { seed: number } };
    writeFileSync(file, JSON.stringify({ ...stored, config: { ...stored.config, seed: -1 } }));
    expect(storedError(() => run.config()).message).toMatch(
      /config\.json: config\.seed: Too small: expected number to be >=0/,
    );
    writeFileSync(file, JSON.stringify({ ...stored, canonical: '{"another":"run"}' }));
    const collision = storedError(() => run.ensureConfig(config));
    expect(collision.file).toBe(file);
    expect(collision.message).toMatch(
      /config\.json: canonical: expected the configuration of dense-[0-9a-f]{16}, .* refusing to mix results\), got "\{\\"another\\":\\"run\\"\}"/,
    );
    writeFileSync(file, '');
    expect(() => store.network(run.id)).toThrow(/config\.json: expected valid JSON/);
    expect(store.list().map((r) => [r.state, r.error])).toEqual([
      ['unreadable', expect.stringMatching(/config\.json: expected valid JSON/)],
    ]);
  });

  test('metrics.jsonl: a bad line names its number; a last line still being written is not an epoch', () => {
    const { store, run } = fresh();
    const file = join(run.path, 'metrics.jsonl');
    run.appendEpoch(epoch);
    run.appendEpoch({ ...epoch, metrics: { ...epoch.metrics, epoch: 1 } });
    const first = readFileSync(file, 'utf8').split('\n')[0]!;
    writeFileSync(file, '{"phase":"dense","lev', { flag: 'a' });
    expect(run.metrics()).toHaveLength(2);
    expect(store.status(run.id).epochs).toBe(2);
    run.keepEpochs(1);
    expect(readFileSync(file, 'utf8')).toBe(`${first}\n`);

    writeFileSync(file, `${JSON.stringify(epoch)}\n{"phase": 3}\n`);
    const error = storedError(() => run.metrics());
    expect([error.file, error.line]).toEqual([file, 2]);
    expect(error.message).toBe(`${file}:2: phase: Invalid input: expected string, received number`);
    writeFileSync(file, `not json\n`);
    expect(storedError(() => store.metrics(run.id)).message).toMatch(
      /metrics\.jsonl:1: expected valid JSON/,
    );
  });

  test('checkpoint/: a bad state.json, a truncated tensors.bin or an unknown version names the file', () => {
    const { run } = fresh();
    run.writeCheckpoint({ model: 'lenet-300-100', backend, progress, tensors });
    const dir = join(run.path, 'checkpoint');
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      meta: Record<string, unknown>;
      bin: string;
    };
    expect(state.meta).toMatchObject({ format: 'cyclesparse.checkpoint', version: 3 });
    const binFile = join(dir, state.bin);
    const bin = readFileSync(binFile);

    writeFileSync(binFile, bin.subarray(0, 20));
    const truncated = storedError(() => run.checkpoint());
    expect(truncated.file).toBe(binFile);
    expect(truncated.message).toBe(`${binFile}: expected 48 bytes, got "20 bytes (truncated?)"`);
    writeFileSync(binFile, bin);

    const write = (meta: unknown) =>
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, meta }));
    write({ ...state.meta, version: 4 });
    expect(storedError(() => run.checkpoint()).message).toBe(
      `${join(dir, 'state.json')}: meta.version: expected a version this cyclesparse reads (1, 3), got 4`,
    );
    write({ ...state.meta, pipeline: { ...(state.meta.pipeline as object), emitted: 'two' } });
    expect(storedError(() => run.checkpoint()).message).toMatch(
      /checkpoint\/state\.json: meta\.pipeline\.emitted: Invalid input: expected number/,
    );
    write({ ...state.meta, format: 'something.else' });
    expect(storedError(() => run.checkpoint()).message).toMatch(
      /checkpoint\/state\.json: meta\.format: Invalid input: expected "cyclesparse\.checkpoint"/,
    );
    writeFileSync(join(dir, 'state.json'), '{"meta": {}, "tensors": 3}');
    expect(storedError(() => run.checkpoint()).message).toMatch(
      /checkpoint\/state\.json: tensors: Invalid input: expected array/,
    );
  });

  test('a checkpoint as the store wrote it before the format was shared (no version) still reads', () => {
    const { store, run } = fresh();
    writeState(join(run.path, 'checkpoint'), { progress, backend: 'native' }, tensors);
    expect(run.checkpoint()).toEqual({ backend: 'native', progress, tensors });
    // Its final network, once finished, as before.
    run.writeResult(result);
    const network = store.network(run.id);
    expect([...network.values.keys()]).toEqual(['fc.weight']);
    expect(network.mask.toJSON()).toEqual(mask);
  });

  test('cycles/<k>/: written with a version, read without one, refused with an unknown one', () => {
    const { store, run } = fresh();
    const meta = { cycle: 1, phase: 'dense', level: 0, mask, backend: 'wasm' };
    const values = new Map([['fc.weight', new Float32Array(6)]]);
    run.writeCycleNetwork(meta, values);
    expect(run.cycleNetwork(1)?.meta).toEqual({ version: 1, ...meta });
    writeState(join(run.path, 'cycles', '2'), meta, values); // as before versions
    expect(store.storedCycles(run.id)).toEqual([1, 2]);
    expect(store.network(`${run.id}@2`).values).toEqual(values);
    writeState(join(run.path, 'cycles', '2'), { ...meta, version: 2 }, values);
    expect(() => store.network(`${run.id}@2`)).toThrow(
      /cycles\/2\/state\.json: meta\.version: expected a version this cyclesparse reads \(1\), got 2/,
    );
  });

  test('failed.json and the lock are checked too', () => {
    const { store, run } = fresh();
    writeFileSync(join(run.path, 'failed.json'), '{"message": 3}');
    expect(store.status(run.id).error).toMatch(/failed\.json: message: Invalid input/);
    run.clearFailure();
    writeFileSync(join(run.path, 'lock'), '{"pid": "me"}');
    expect(() => run.acquire()).toThrow(/lock: pid: Invalid input/);
  });
});

describe('the run lock', () => {
  test('one holder at a time; a dead holder is taken over; another host is left alone', () => {
    const { store, run } = fresh();
    const other = new RunDirectory(store.root, run.id);
    expect(run.acquire()).toBe(true);
    expect(other.acquire()).toBe(false); // this process is alive
    expect(store.status(run.id).state).toBe('running');
    run.release();
    expect(store.status(run.id).state).toBe('pending');

    const lock = join(run.path, 'lock');
    const dead = { pid: 2 ** 22 + 1, host: hostname(), started: new Date().toISOString() };
    writeFileSync(lock, JSON.stringify(dead));
    expect(run.acquire()).toBe(true);
    expect(run.lock()?.pid).toBe(process.pid);
    run.release();

    writeFileSync(lock, JSON.stringify({ ...dead, host: 'elsewhere' }));
    expect(run.acquire()).toBe(false);
    run.release(); // not ours: left
    expect(run.lock()?.host).toBe('elsewhere');
  });
});

describe('provenance and stamped metric lines (issue 17)', () => {
  test('appended metric lines carry the run id and the time they were written', () => {
    const { run } = fresh();
    const before = Date.now();
    run.appendEpoch(epoch);
    const lines = readFileSync(join(run.path, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line.run).toBe(run.id);
    const at = Date.parse(String(line.at));
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(String(line.at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(run.metrics()).toEqual([{ run: run.id, at: line.at, ...epoch }]);
  });

  test('files written before provenance (no run id, no time, no provenance) still read', () => {
    const { store, run } = fresh();
    // Written by hand as the code before issue 17 wrote them.
    const oldLine = JSON.stringify(epoch);
    writeFileSync(join(run.path, 'metrics.jsonl'), `${oldLine}\n${oldLine}\n`);
    writeFileSync(join(run.path, 'result.json'), JSON.stringify(result, null, 1));
    expect(run.metrics()).toEqual([epoch, epoch]);
    expect(run.metrics()[0]).not.toHaveProperty('run');
    const read = run.result();
    expect(read).toEqual(result);
    expect(read).not.toHaveProperty('provenance');
    expect(store.status(run.id).state).toBe('finished');
  });

  test('a result with provenance reads back; a malformed provenance names the field', () => {
    const { run } = fresh();
    const provenance = {
      started: '2026-01-02T03:04:05.000Z',
      finished: '2026-01-02T03:05:05.000Z',
      resumedAfter: 0,
      version: '0.1.0',
      commit: null,
      host: 'h',
      backend: 'wasm',
      threads: 1,
    };
    run.writeResult({ ...result, provenance });
    expect(run.result()?.provenance).toEqual(provenance);
    const file = join(run.path, 'result.json');
    writeFileSync(file, JSON.stringify({ ...result, provenance: { ...provenance, threads: 'x' } }));
    expect(storedError(() => run.result()).message).toMatch(/provenance\.threads/);
  });
});

describe('importRun', () => {
  test('stores a run finished elsewhere once', () => {
    const store = new Store(mkdtempSync(join(tmpdir(), 'import-')));
    expect(store.importRun(config, result, [epoch])).toBe('imported');
    expect(store.importRun(config, result, [epoch])).toBe('already-finished');
    const id = store.runOf(config).id;
    expect(store.result(id)).toEqual(result);
    expect(store.metrics(id)).toEqual([epoch]);
    writeFileSync(join(store.dir(id), 'result.json'), '[]');
    expect(() => store.importRun(config, result, [epoch])).toThrow(
      /result\.json: Invalid input: expected object, received array/,
    );
    expect(store.runOf(config).lock()).toBeUndefined(); // released on the way out
  });
});
