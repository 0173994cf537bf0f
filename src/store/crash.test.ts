/**
 * Training against the store with faults injected at named points (train/faults.ts), in process
 * and deterministic: a checkpoint write stopped at each of its steps (as a kill would stop it)
 * resumes to the uninterrupted run; a corrupt checkpoint falls back to the one before it, or is
 * refused naming the file and discarded on request; a run whose stale lock two executions take
 * over at once, one stopped inside each window of the lock, is trained exactly once.
 */

import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import { executeRun, type ExecuteOutcome } from '../harness/execute.js';
import type { PipelineResult } from '../methods/runner.js';
import { InjectedFault, setFaultHook } from '../train/faults.js';
import { Store, type StoredEpoch } from './store.js';

const config = resolveRun(
  parseConfigText(
    `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 10 }
training: { epochsPerCycle: 1, batchSize: 50 }
method: { name: lrr, levels: 1 }
seed: 3
`,
    'crash.yaml',
  ),
);

/** Epochs without what differs between runs of the same computation: times. */
const withoutTime = (records: readonly StoredEpoch[]) =>
  records.map(({ at: _at, ...r }) => ({ ...r, metrics: { ...r.metrics, seconds: 0 } }));
const newStore = () => new Store(mkdtempSync(join(tmpdir(), 'crash-')));

/** Throws (as a kill stops the code) the `nth` time `point` is reached. */
function failAt(point: string, nth: number): void {
  let seen = 0;
  setFaultHook((reached) => {
    if (reached === point && ++seen === nth) throw new InjectedFault(point);
  });
}

afterEach(() => void setFaultHook(undefined));

let straight: { result: PipelineResult; metrics: ReturnType<typeof withoutTime> };

beforeAll(async () => {
  const store = newStore();
  const outcome = await executeRun(store, config);
  if (outcome.state !== 'finished') throw new Error(JSON.stringify(outcome));
  straight = { result: outcome.result, metrics: withoutTime(store.metrics(outcome.id)) };
}, 120_000);

/** The run in `store` is finished and equals the uninterrupted one. */
function expectStraight(store: Store, outcome: ExecuteOutcome): void {
  expect(outcome.state).toBe('finished');
  if (outcome.state !== 'finished') return;
  expect(outcome.result).toEqual(straight.result);
  expect(withoutTime(store.metrics(outcome.id))).toEqual(straight.metrics);
  const checkpoint = readdirSync(join(store.dir(outcome.id), 'checkpoint'));
  // Nothing half-written left, one state (the previous one is dropped once finished).
  expect(checkpoint.sort()).toEqual([
    'state.json',
    expect.stringMatching(/^tensors-[0-9a-f]+\.bin$/) as unknown as string,
  ]);
  expect(readdirSync(store.dir(outcome.id)).filter((f) => f.includes('.partial-'))).toEqual([]);
}

describe('checkpoint writes stopped at each step', () => {
  const points = [
    'state:tensors-written',
    'state:state-written',
    'state:previous-kept',
    'state:renamed',
    'state:published',
  ];
  for (const point of points)
    test(`stopped at ${point}: the run resumes and ends as the uninterrupted one`, async () => {
      const store = newStore();
      failAt(point, 3);
      const killed = await executeRun(store, config);
      setFaultHook(undefined);
      expect(killed).toMatchObject({ state: 'failed', error: `injected fault at ${point}` });
      expect(store.status(killed.id).epochs).toBeGreaterThan(0);
      const resumed = await executeRun(store, config);
      expect(resumed).toMatchObject({ resumed: true });
      expectStraight(store, resumed);
    });
});

describe('a checkpoint that cannot be read', () => {
  /** A run stopped after its third state write, with a current and a previous checkpoint. */
  async function stopped(): Promise<{ store: Store; dir: string }> {
    const store = newStore();
    failAt('state:published', 3);
    const killed = await executeRun(store, config);
    setFaultHook(undefined);
    expect(killed.state).toBe('failed');
    const dir = join(store.dir(killed.id), 'checkpoint');
    expect(readdirSync(dir)).toContain('state.previous.json');
    return { store, dir };
  }

  test('the one before it is resumed from, with a warning; the run ends as the uninterrupted one', async () => {
    const { store, dir } = await stopped();
    const { bin } = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { bin: string };
    writeFileSync(join(dir, bin), 'truncated');
    const lines: string[] = [];
    const resumed = await executeRun(store, config, (line) => lines.push(line));
    expect(lines.join('\n')).toMatch(
      /checkpoint\/tensors-[0-9a-f]+\.bin: expected \d+ bytes, got "9 bytes \(truncated\?\)"; resuming from the checkpoint before it/,
    );
    expectStraight(store, resumed);
  });

  test('with none before it readable, the run fails naming the file and how to go on; discarding it retrains', async () => {
    const { store, dir } = await stopped();
    writeFileSync(join(dir, 'state.json'), '{');
    writeFileSync(join(dir, 'state.previous.json'), '{');
    const failed = await executeRun(store, config);
    expect(failed).toMatchObject({ state: 'failed', kind: 'input' });
    if (failed.state !== 'failed') return;
    expect(failed.error).toMatch(
      /checkpoint\/state\.json: expected valid JSON, got .*\(the checkpoint cannot be read; .* --discard-checkpoint\)/,
    );
    const retrained = await executeRun(store, config, undefined, { discardCheckpoint: true });
    expect(retrained).toMatchObject({ resumed: false });
    expectStraight(store, retrained);
  });

  test('a checkpoint the code before left half-replaced (killed between its renames) is resumed from', async () => {
    const { store, dir } = await stopped();
    renameSync(dir, `${dir}.previous-4242`);
    mkdirSync(`${dir}.partial-4242`);
    expect(store.status(store.runOf(config).id).state).toBe('failed');
    expect(store.runOf(config).hasCheckpoint()).toBe(true);
    const resumed = await executeRun(store, config);
    expect(resumed).toMatchObject({ resumed: true });
    expectStraight(store, resumed);
  });
});

describe('two executions take over a stale lock, one stopped inside each window', () => {
  // The windows of a takeover (lock.test.ts stops a taker at every point without training).
  for (const point of ['lock:stale', 'lock:ticket'])
    test(`stopped at ${point}: the run is trained once`, async () => {
      const store = newStore();
      const run = store.runOf(config);
      mkdirSync(run.path, { recursive: true });
      const dead = { pid: 2 ** 22 + 1, host: hostname(), started: new Date().toISOString() };
      writeFileSync(join(run.path, 'lock'), JSON.stringify(dead));
      let second: Promise<ExecuteOutcome> | undefined;
      let fired = false;
      setFaultHook((reached) => {
        if (fired || reached !== point) return;
        fired = true;
        second = executeRun(store, config); // takes (or not) the lock before returning
      });
      const first = executeRun(store, config);
      setFaultHook(undefined);
      const outcomes = [await first, await second!];
      const states = outcomes.map((o) => o.state).sort();
      expect(states).toEqual(['finished', 'running-elsewhere']);
      const trained = outcomes.find((o) => o.state === 'finished')!;
      expectStraight(store, trained);
      expect(run.lock()).toBeUndefined();
    });
});
