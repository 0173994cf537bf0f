/**
 * The fault campaign: seeded, bounded, in CI. Short runs are stopped at random fault points
 * (`train/faults.ts`: the checkpoint write's steps and the lock's), random stored files are
 * corrupted; after each, every command still answers, no result is lost or duplicated, and every
 * resumed run equals the uninterrupted one. (Processes sweeping one store concurrently are
 * src/store/store.test.ts's; FAULT_CAMPAIGN_SWEEPERS=3 adds three here.)
 *
 * In process (cheap, so many trials): a fault point throws, as a kill would stop the code there
 * (nothing between points cleans up), then the run is executed again. Across processes (real
 * SIGKILL at a fault point): a few trials through the CLI.
 *
 * Size and seed: FAULT_CAMPAIGN_SEED, FAULT_CAMPAIGN_KILLS, FAULT_CAMPAIGN_CORRUPTIONS,
 * FAULT_CAMPAIGN_PROCESS_KILLS, FAULT_CAMPAIGN_SWEEPERS; a failure names its trial and seed.
 */

import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun, runId } from '../src/config/resolve.js';
import type { RunConfig } from '../src/config/schema.js';
import { StoredFileError } from '../src/core/errors.js';
import { randomStream, type RandomStream } from '../src/core/random.js';
import { executeRun } from '../src/harness/execute.js';
import { Store } from '../src/store/store.js';
import { InjectedFault, setFaultHook } from '../src/train/faults.js';

const SEED = Number(process.env.FAULT_CAMPAIGN_SEED ?? 20261127);
const KILLS = Number(process.env.FAULT_CAMPAIGN_KILLS ?? 10);
const CORRUPTIONS = Number(process.env.FAULT_CAMPAIGN_CORRUPTIONS ?? 5);
const PROCESS_KILLS = Number(process.env.FAULT_CAMPAIGN_PROCESS_KILLS ?? 1);
const SWEEPERS = Number(process.env.FAULT_CAMPAIGN_SWEEPERS ?? 0);

const MAIN = join(import.meta.dirname, '../src/cli/main.ts');
const TEXT = `
extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 5 }
training: { epochsPerCycle: 2, batchSize: 50 }
method: { name: lrr, levels: 1 }
`;
const configOf = (seed: number): RunConfig =>
  resolveRun({ ...parseConfigText(TEXT, 'campaign'), seed }, 'campaign');

/** Points a kill may land on, and how many times each is reached in one run (bounds for n). */
const STATE_POINTS = [
  'state:tensors-written',
  'state:state-written',
  'state:previous-kept',
  'state:renamed',
  'state:published',
];
const LOCK_POINTS = ['lock:staged'];

const pick = <T>(stream: RandomStream, items: readonly T[]): T =>
  items[Math.floor(stream.float() * items.length)]!;

const withoutTime = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => {
          // Wall-clock fields (an epoch's seconds, when it ended) differ between any two runs.
          const record = JSON.parse(line) as { metrics: Record<string, unknown>; at?: string };
          delete record.metrics.seconds;
          delete record.at;
          return record;
        })
    : [];

let baseline: { result: unknown; metrics: unknown[]; reached: Map<string, number> };

/** A stored result without its provenance: when and where it ran differs between any two runs. */
const resultIn = (dir: string): unknown => {
  const { provenance, ...result } = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as {
    provenance?: unknown;
  };
  expect(provenance).toBeDefined();
  return result;
};

beforeAll(async () => {
  // The uninterrupted run, counting how often each fault point is reached.
  const reached = new Map<string, number>();
  setFaultHook((point) => reached.set(point, (reached.get(point) ?? 0) + 1));
  const store = new Store(mkdtempSync(join(tmpdir(), 'campaign-baseline-')));
  const outcome = await executeRun(store, configOf(0));
  setFaultHook(undefined);
  expect(outcome.state).toBe('finished');
  const dir = store.dir(outcome.id);
  baseline = {
    result: resultIn(dir),
    metrics: withoutTime(join(dir, 'metrics.jsonl')),
    reached,
  };
  for (const point of [...STATE_POINTS, ...LOCK_POINTS])
    expect(reached.get(point), `${point} is reached`).toBeGreaterThan(0);
}, 120_000);

afterEach(() => {
  setFaultHook(undefined);
});

/** Runs the configuration in-process with a fault at the n-th time `point` is reached. */
async function stoppedAt(store: Store, point: string, nth: number) {
  let remaining = nth;
  setFaultHook((at) => {
    if (at === point && --remaining === 0) throw new InjectedFault(at);
  });
  try {
    return await executeRun(store, configOf(0));
  } finally {
    setFaultHook(undefined);
  }
}

function expectEqualsBaseline(store: Store, trial: string) {
  const id = runId(configOf(0));
  const dir = store.dir(id);
  expect(resultIn(dir), trial).toEqual(baseline.result);
  expect(withoutTime(join(dir, 'metrics.jsonl')), trial).toEqual(baseline.metrics);
  expect(store.status(id).state, trial).toBe('finished');
}

describe(`the fault campaign (seed ${SEED})`, () => {
  test(`${KILLS} runs stopped at random fault points resume to the uninterrupted result`, async () => {
    const stream = randomStream(SEED, 'campaign/kills');
    for (let trial = 0; trial < KILLS; trial++) {
      const point = pick(stream, STATE_POINTS);
      const nth = 1 + Math.floor(stream.float() * baseline.reached.get(point)!);
      const name = `kill ${trial}: ${point}#${nth} (seed ${SEED})`;
      const store = new Store(mkdtempSync(join(tmpdir(), 'campaign-kill-')));
      const stopped = await stoppedAt(store, point, nth);
      expect(stopped.state, name).toBe('failed');
      expect(store.list(), name).toHaveLength(1); // status answers
      const resumed = await executeRun(store, configOf(0));
      expect(resumed.state, name).toBe('finished');
      expectEqualsBaseline(store, name);
    }
  }, 600_000);

  test(`${CORRUPTIONS} random corruptions of random stored files: named, never a wrong result`, async () => {
    const stream = randomStream(SEED, 'campaign/corruptions');
    for (let trial = 0; trial < CORRUPTIONS; trial++) {
      const point = pick(stream, STATE_POINTS);
      const nth = 1 + Math.floor(stream.float() * baseline.reached.get(point)!);
      const store = new Store(mkdtempSync(join(tmpdir(), 'campaign-corrupt-')));
      await stoppedAt(store, point, nth);
      const id = runId(configOf(0));
      const files = listFiles(store.dir(id)).filter(
        (f) => !f.endsWith('.partial') && statSync(f).size > 0,
      );
      const victim = pick(stream, files);
      const how = pick(stream, ['truncate', 'garbage'] as const);
      const name = `corruption ${trial}: ${how} ${victim.slice(store.dir(id).length + 1)} after ${point}#${nth} (seed ${SEED})`;
      if (how === 'truncate') truncateSync(victim, Math.floor(statSync(victim).size / 2));
      else writeFileSync(victim, '{"not": "what was there"');
      // Every command still answers: status lists the run (unreadable or not).
      expect(
        store.list().map((r) => r.id),
        name,
      ).toEqual([id]);
      const again = await executeRun(store, configOf(0));
      if (again.state === 'failed') {
        // Refused, naming the file; the documented way forward finishes it.
        expect(again.kind, name).toBe('input');
        expect(again.error, name).toContain(store.dir(id));
        const forward = await executeRun(store, configOf(0), undefined, {
          discardCheckpoint: true,
        });
        if (forward.state === 'failed') {
          // Only a file outside the checkpoint (the configuration, the metrics) stops it for good.
          expect(forward.error, name).toMatch(/config\.json|metrics\.jsonl|failed\.json|lock/);
          continue;
        }
      }
      expectEqualsBaseline(store, name);
    }
  }, 600_000);
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

describe(`the fault campaign across processes (seed ${SEED})`, () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 300_000,
    });

  test(`${PROCESS_KILLS} SIGKILL at a random fault point, then status and run answer and resume exactly`, () => {
    const stream = randomStream(SEED, 'campaign/process-kills');
    for (let trial = 0; trial < PROCESS_KILLS; trial++) {
      const point = pick(stream, [...STATE_POINTS, ...LOCK_POINTS]);
      const nth = 1 + Math.floor(stream.float() * baseline.reached.get(point)!);
      const name = `process kill ${trial}: ${point}#${nth} (seed ${SEED})`;
      const dir = mkdtempSync(join(tmpdir(), 'campaign-process-'));
      const file = join(dir, 'run.yaml');
      writeFileSync(file, `${TEXT}seed: 0\n`);
      const killed = cli(['run', file, '--store', join(dir, 'runs')], {
        CYCLESPARSE_FAULT: `${point}#${nth}@exit`,
      });
      expect(killed.signal, name).toBe('SIGKILL');
      expect(cli(['status', join(dir, 'runs')]).status, name).toBe(0);
      const resumed = cli(['run', file, '--store', join(dir, 'runs')]);
      expect(resumed.status, `${name}\n${resumed.stdout}${resumed.stderr}`).toBe(0);
      expectEqualsBaseline(new Store(join(dir, 'runs')), name);
    }
  }, 600_000);

  test.runIf(SWEEPERS > 1)(
    `${SWEEPERS} processes sweeping one store train every cell once`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'campaign-concurrent-'));
      const file = join(dir, 'sweep.yaml');
      writeFileSync(file, `${TEXT}sweep: { seeds: [0, 1, 2] }\n`);
      const store = join(dir, 'runs');
      const sweeps = Array.from({ length: SWEEPERS }, () => 0).map(
        () =>
          new Promise<number | null>((resolve) => {
            const child = spawn(
              process.execPath,
              ['--import', 'tsx', MAIN, 'sweep', file, '--store', store, '--concurrency', '1'],
              { stdio: 'ignore', env: { ...process.env, CI: 'true' } },
            );
            child.once('exit', (code) => resolve(code));
          }),
      );
      await Promise.all(sweeps);
      // Whatever each process said about cells another one held, the store ends with each cell
      // finished once, its epochs recorded once, and seed 0 equal to the uninterrupted run.
      const runs = new Store(store).list();
      expect(runs.map((r) => r.state)).toEqual(['finished', 'finished', 'finished']);
      for (const run of runs)
        expect(run.epochs).toBe((run.result as { cost: { epochs: number } }).cost.epochs);
      expectEqualsBaseline(new Store(store), 'concurrent sweeps');
      expect(() => new Store(store).list()).not.toThrow(StoredFileError);
    },
    600_000,
  );
});
