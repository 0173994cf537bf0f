/**
 * Analyses over a real store: runs keep the network of every cycle, refs resolve to them, the
 * cycle series compares consecutive cycles, and results are cached beside the run.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun, runId } from '../config/resolve.js';
import { executeRun } from '../harness/execute.js';
import { Store } from '../store/store.js';
import { cycleSeries, storedLmc, storedSharpness, storedSignFlips } from './stored.js';

const config = (method: string, model = 'lenet-300-100') =>
  resolveRun(
    parseConfigText(
      `
extends: mini-mnist-lenet300
model: { name: ${model} }
data: { trainPerClass: 30, testPerClass: 10 }
training: { epochsPerCycle: 1, batchSize: 50 }
method: ${method}
seed: 2
`,
      'test.yaml',
    ),
  );

/** Temporary folders, removed when the file's tests end. */
const temporary: string[] = [];
function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}
const root = temporaryDir('analysis-store-');
const store = new Store(root);
const cyclic = config('{ name: cyclic, cycles: 3 }');
const lrr = config('{ name: lrr, levels: 2 }');
const lenet5 = config('{ name: dense }', 'lenet-5');

beforeAll(async () => {
  for (const c of [cyclic, lrr, lenet5]) {
    const outcome = await executeRun(store, c);
    expect(outcome.state).toBe('finished');
  }
}, 120_000);
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

describe('stored networks', () => {
  test('every cycle of every phase is kept, numbered as result.cycles', () => {
    for (const c of [cyclic, lrr]) {
      const id = runId(c);
      expect(store.storedCycles(id)).toEqual([1, 2, 3]);
      expect(store.result(id)!.cycles).toHaveLength(3);
      // The last cycle's network is the final one.
      const last = store.network(`${id}@3`);
      const final = store.network(id);
      expect([...final.values.keys()]).toEqual([...last.values.keys()]);
      for (const [name, values] of final.values) expect(last.values.get(name)).toEqual(values);
    }
    const id = runId(lrr);
    expect(store.network(`${id}@1`).mask.sparsity()).toBe(0);
    expect(store.network(`${id}@3`).mask.sparsity()).toBeCloseTo(0.36, 2);
  });
  test('bad references say what exists', () => {
    const id = runId(cyclic);
    expect(() => store.network(`${id}@7`)).toThrow(/expected a stored cycle of .*: @1, @2, @3/);
    expect(() => store.network('nope-0000')).toThrow(/^run: expected a run of the store/);
    expect(() => store.network(`${id}@x`)).toThrow(
      /^run: expected a run id, optionally @final or @<cycle>/,
    );
  });
});

describe('analyses of stored runs', () => {
  test('the cycle series compares consecutive cycles and caches every result', async () => {
    const id = runId(cyclic);
    const series = await cycleSeries(store, id, { sharpness: { samples: 128 } });
    expect(series.cycles.map((c) => c.cycle)).toEqual([1, 2, 3]);
    expect(series.pairs.map((p) => [p.from, p.to])).toEqual([
      [1, 2],
      [2, 3],
    ]);
    for (const pair of series.pairs) {
      expect(pair.testErrorBarrier).toBeGreaterThanOrEqual(0);
      expect(pair.signFlipFraction).toBeGreaterThanOrEqual(0);
      expect(pair.curve).toHaveLength(11);
    }
    const cached = readdirSync(join(store.dir(id), 'analyses'));
    expect(cached.filter((f) => f.startsWith('sharpness-'))).toHaveLength(3);
    expect(cached.filter((f) => f.startsWith('lmc-'))).toHaveLength(2);
    // A second call reads the cache: the same records, computed once.
    const again = await storedSharpness(store, `${id}@2`, { samples: 128 });
    expect(again.result.eigenvalues[0]!.value).toBe(series.cycles[1]!.sharpness);
  }, 120_000);
  test('LMC of a network with itself has no barrier; two models cannot be compared', async () => {
    const id = runId(cyclic);
    const self = await storedLmc(store, `${id}@2`, `${id}@2`, { alphas: [0.5] });
    expect(self.result.barrier.test.error).toBe(0);
    expect((await storedSignFlips(store, `${id}@2`, `${id}@2`)).result.flipped).toBe(0);
    expect(() => storedSignFlips(store, id, runId(lenet5))).toThrow(
      /^runs: expected two networks of the same model, got .*: lenet-300-100, .*: lenet-5/,
    );
  });
  test('runs without cycle networks get an empty series and a clear message', async () => {
    const id = runId(lrr);
    const copy = new Store(temporaryDir('analysis-copy-'));
    spawnSync('cp', ['-r', store.dir(id), copy.dir(id)]);
    rmSync(join(copy.dir(id), 'cycles'), { recursive: true });
    expect((await cycleSeries(copy, id)).pairs).toEqual([]);
    expect(() => copy.network(`${id}@1`)).toThrow(
      /kept no cycle networks .* compare its final network \(@final\)/,
    );
    expect(existsSync(join(copy.dir(id), 'checkpoint'))).toBe(true);
  });
});

describe('cyclesparse analyze', () => {
  const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8' });
  test('lmc, signs, overlap and cycles print tables; --json prints the record', () => {
    const id = runId(cyclic);
    const lmc = cli('analyze', 'lmc', `${id}@3`, `${id}@1`, '--store', root, '--alphas', '0.5');
    expect(lmc.status).toBe(0);
    expect(lmc.stdout).toMatch(/^0\.500 /m);
    expect(lmc.stdout).toMatch(/^barrier: train error [\d.]+ pts/m);
    const signs = cli('analyze', 'signs', `${id}@1`, `${id}@3`, '--store', root, '--json');
    const record = JSON.parse(signs.stdout) as {
      kind: string;
      networks: string[];
      result: { compared: number };
    };
    expect(record.kind).toBe('signs');
    expect(record.networks).toEqual([`${id}@1`, `${id}@3`]);
    expect(record.result.compared).toBe(266200);
    const overlap = cli('analyze', 'overlap', runId(lrr), `${runId(lrr)}@1`, '--store', root);
    expect(overlap.stdout).toMatch(/^overall: IoU 0\.64/m);
    const cycles = cli('analyze', 'cycles', id, '--store', root, '--samples', '128');
    expect(cycles.stdout).toMatch(/^3 +[-\d.e]+ +2→3 /m);
    const missing = cli('analyze', 'lmc', id, '--store', root);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/runB: expected a second run to compare with/);
  }, 120_000);
});
