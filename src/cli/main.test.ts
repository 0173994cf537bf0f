import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { layerSize } from '../core/mask.js';
import { prunableLayers } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';
import { TORCH_PYTHON } from '../engine/torch/torch-testing.js';
import { parseConfigText, resolveRun, runId } from '../config/resolve.js';
import { Store } from '../store/store.js';
import { CLI_MAIN } from './cli-testing.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });

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

describe('cyclesparse CLI', () => {
  test('self-check honours --model, --sparsity, --seed and --json', () => {
    const run = cli(
      'self-check',
      '--model',
      'resnet-56',
      '--sparsity',
      '0.8',
      '--seed',
      '7',
      '--json',
    );
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as { options: unknown; weights: number; passed: boolean };
    expect(report.options).toEqual({ model: 'resnet-56', sparsity: 0.8, seed: 7 });
    expect(report.weights).toBe(
      prunableLayers(modelSpec('resnet-56')).reduce((n, l) => n + layerSize(l), 0),
    );
    expect(report.passed).toBe(true);
  });
  test('self-check prints one line per check by default', () => {
    const run = cli('self-check');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^self-check on resnet-20: 22 layers, 270896 weights, sparsity 0.9, seed 0$/m,
    );
    expect(run.stdout.match(/^ {2}ok /gm)).toHaveLength(8);
  });
  test.each([
    [
      ['--sparsity', '1.5'],
      /--sparsity <s>' argument '1.5' is invalid. expected a sparsity in \[0, 1\)/,
    ],
    [['--seed', '-1'], /--seed <n>' argument '-1' is invalid. expected an integer >= 0/],
    [
      ['--model', 'resnet-20', '--stem', 'imagenet'],
      /stem: expected no stem option: only resnet-18 and resnet-50/,
    ],
    [['--model', 'vgg'], /Allowed choices are lenet-300-100, lenet-5, conv-2/],
  ])('rejects %j naming the option and the allowed values', (args, message) => {
    const run = cli('self-check', ...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});

describe('gate, report and reproduce', () => {
  const suite = (value: number) => `suite: tiny
seeds: [0, 1, 2]
base:
  extends: mini-mnist-lenet300
  data: { trainPerClass: 50, testPerClass: 10 }
  training: { epochsPerCycle: 1 }
claims:
  - id: dense-learns
    description: one epoch on 500 images beats chance by a margin
    kind: at-least
    value: ${value}
    a: { method: { name: dense } }
`;
  test('gate trains what is missing, exits 0 when claims hold and 1 when one fails', () => {
    const dir = temporaryDir('gate-cli-');
    const store = join(dir, 'runs');
    writeFileSync(join(dir, 'missing.yaml'), suite(0.2));
    const missing = cli(
      'gate',
      '--claims',
      join(dir, 'missing.yaml'),
      '--store',
      store,
      '--no-run',
    );
    expect(missing.status).toBe(1);
    expect(missing.stdout).toMatch(/dense-learns .* missing/);

    const holds = cli('gate', '--claims', join(dir, 'missing.yaml'), '--store', store, '--json');
    expect(holds.status).toBe(0);
    const verdict = JSON.parse(holds.stdout) as { passed: boolean; claims: { a: { n: number } }[] };
    expect(verdict.passed).toBe(true);
    expect(verdict.claims[0]!.a.n).toBe(3);

    // A stricter claim on the same runs: nothing is retrained and the gate fails.
    writeFileSync(join(dir, 'strict.yaml'), suite(0.999));
    const fails = cli('gate', '--claims', join(dir, 'strict.yaml'), '--store', store);
    expect(fails.status).toBe(1);
    expect(fails.stdout).toMatch(
      /^GATE FAILED: 1 gating claim: 0 holds, 1 contradicted, 0 inconclusive;/m,
    );
    expect(fails.stdout).toMatch(/^0 runs trained/m);

    const report = cli(
      'report',
      '--claims',
      join(dir, 'strict.yaml'),
      '--store',
      store,
      '--out',
      join(dir, 'report'),
    );
    expect(report.status).toBe(0);
    expect(readFileSync(join(dir, 'report', 'index.md'), 'utf8')).toMatch(/\*\*Gate failed\*\*/);
    expect(existsSync(join(dir, 'report', 'accuracy-vs-sparsity.png'))).toBe(true);
  }, 120_000);
  test.each([
    [
      ['reproduce', 'huge'],
      /suite: expected one of mini, cifar10-resnet20, cifar100-resnet18, imagenet-resnet50, got "huge"/,
    ],
    [['download', 'mnist', '--dir', '/tmp/x'], /Allowed choices are fashion-mnist, cifar10/],
    [['gate'], /required option '--claims <file>' not specified/],
    [
      ['reproduce', 'paper'],
      /suite: paper was split into cifar10-resnet20, cifar100-resnet18, imagenet-resnet50/,
    ],
    [['gate', '--claims', '/nonexistent/suite.yaml'], /suite\.yaml/],
  ])('%j is bad input: exit 2 with the reason', (args, message) => {
    const run = cli(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});

describe.runIf(TORCH_PYTHON !== undefined)('the PyTorch engine from the command line', () => {
  const config = (training: string) => `extends: mini-mnist-lenet300
data: { trainPerClass: 20, testPerClass: 5 }
training: { epochsPerCycle: 1, ${training} }
method: { name: dense }
`;
  const write = (name: string, text: string) => {
    const dir = temporaryDir('torch-cli-');
    writeFileSync(join(dir, name), text);
    return { dir, file: join(dir, name) };
  };
  test('run trains on backend torch, device cpu, and records the engine with the result', () => {
    const { dir, file } = write('torch.yaml', config('backend: torch, device: cpu'));
    const estimate = cli('run', file, '--dry-run');
    expect(estimate.status).toBe(0);
    expect(estimate.stdout).toMatch(/^ {2}backend: torch$/m);
    expect(estimate.stdout).toMatch(/^ {2}device: cpu$/m);
    expect(estimate.stdout).toMatch(/^ {2}precision: fp32$/m);
    expect(estimate.stdout).toMatch(/^1 runs, 1 epochs, about \d+ s/m); // measured on torch, cpu
    const run = cli('run', file, '--store', join(dir, 'runs'));
    expect(run.status).toBe(0);
    const [id] = /dense-[0-9a-f]{16}/.exec(run.stdout)!;
    const result = JSON.parse(readFileSync(join(dir, 'runs', id, 'result.json'), 'utf8')) as {
      backend: { name: string; tfjsVersion: unknown; torch: { device: string; precision: string } };
    };
    expect(result.backend).toMatchObject({
      name: 'torch',
      tfjsVersion: null,
      torch: { device: 'cpu', precision: 'fp32' },
    });
  }, 120_000);
  test.each([
    [
      'an unknown device',
      'backend: torch, device: tpu',
      /training\.device: expected cpu, cuda, cuda:N or mps/,
    ],
    [
      'a device for a TF.js backend',
      'backend: native, device: cuda',
      /training\.device: expected no device for backend native/,
    ],
  ])('%s is bad input: exit 2 naming the field', (_, training, message) => {
    const { file } = write('bad.yaml', config(training));
    const run = cli('run', file, '--dry-run');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });
  test('CUDA where PyTorch has none, or no Python, fails the run as bad input (exit 2)', () => {
    const { dir, file } = write('cuda.yaml', config('backend: torch, device: cuda'));
    const cuda = cli('run', file, '--store', join(dir, 'runs'));
    if (!/sees no CUDA device/.test(cuda.stdout)) return; // a GPU machine: nothing to refuse
    expect(cuda.status).toBe(2);
    expect(cuda.stdout).toMatch(/training\.device: expected cpu \(this PyTorch .* sees no CUDA/);
    const { file: cpu } = write('cpu.yaml', config('backend: torch, device: cpu'));
    const noPython = spawnSync(
      process.execPath,
      [CLI_MAIN, 'run', cpu, '--store', join(dir, 'runs')],
      { encoding: 'utf8', env: { ...process.env, CYCLESPARSE_PYTHON: '/nonexistent/python3' } },
    );
    expect(noPython.status).toBe(2);
    expect(noPython.stdout).toMatch(/backend torch: \/nonexistent\/python3 not found/);
  }, 60_000);
  test('gate and reproduce run every run on the engine --backend and --device name', () => {
    const { dir, file } = write(
      'suite.yaml',
      `suite: tiny
seeds: [0, 1]
base: { extends: mini-mnist-lenet300, data: { trainPerClass: 20, testPerClass: 5 }, training: { epochsPerCycle: 1 } }
claims:
  - { id: learns, description: better than nothing, kind: at-least, value: 0, a: { method: { name: dense } } }
`,
    );
    const plan = cli(
      'gate',
      '--claims',
      file,
      '--store',
      join(dir, 'runs'),
      '--backend',
      'torch',
      '--device',
      'cpu',
      '--dry-run',
    );
    expect(plan.status).toBe(0);
    expect(plan.stdout).toMatch(/dense-[0-9a-f]{16}/);
    const bad = cli('gate', '--claims', file, '--device', 'cpu', '--dry-run');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/training\.device: expected no device for backend wasm/);
  }, 60_000);
});

describe('signals, unfinished runs and hostile input', () => {
  const launcher = fileURLToPath(new URL('../../bin/cyclesparse.js', import.meta.url));
  const config = (epochs: number) => `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 5 }
training: { epochsPerCycle: ${epochs} }
method: { name: dense }
`;
  const workspace = (text: string) => {
    const dir = temporaryDir('cli-faults-');
    writeFileSync(join(dir, 'run.yaml'), text);
    return { dir, file: join(dir, 'run.yaml'), store: join(dir, 'runs') };
  };
  const idOf = (text: string) => runId(resolveRun(parseConfigText(text, 'run.yaml')));
  /** Starts a command; `ended` resolves with its exit code, signal and output. */
  const start = (args: string[], options: { readonly program?: string } = {}) => {
    const child = spawn(
      process.execPath,
      options.program === undefined ? [CLI_MAIN, ...args] : [options.program, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ended = new Promise<{
      code: number | null;
      signal: string | null;
      stdout: string;
      stderr: string;
    }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, ended };
  };
  const waitFor = async (condition: () => boolean, ms = 60_000) => {
    const until = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > until) throw new Error('timed out waiting');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  test('through the launcher, Ctrl-C and SIGTERM stop a run (130, 143) saying it resumes; kill -9 leaves nothing training', async () => {
    const text = config(1000);
    const { file, store } = workspace(text);
    const id = idOf(text);
    const epochs = () => (existsSync(store) ? new Store(store).status(id).epochs : 0);
    for (const [signal, code, said] of [
      ['SIGINT', 130, 'interrupted'],
      ['SIGTERM', 143, 'SIGTERM'],
    ] as const) {
      const before = epochs();
      const { child, ended } = start(['run', file, '--store', store], { program: launcher });
      await waitFor(() => epochs() > before);
      child.kill(signal); // the launcher's own pid: nothing else receives it
      const stopped = await ended;
      expect(stopped.code).toBe(code);
      expect(stopped.stderr).toContain(
        `${said}: run ${id} stopped; run the same command to resume it from its last checkpoint`,
      );
      expect(new Store(store).status(id).state).toBe('interrupted');
    }
    const before = epochs();
    const { child, ended } = start(['run', file, '--store', store], { program: launcher });
    await waitFor(() => epochs() > before);
    child.kill('SIGKILL');
    await ended;
    // No process of it holds the run (the lock's owner is gone) or goes on writing epochs.
    expect(new Store(store).status(id).state).toBe('interrupted');
    const after = epochs();
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(epochs()).toBe(after);
  }, 120_000);

  // Each command costs a process start (~1-2 s of CPU): run's own exit 4 is the same few lines.
  test('a sweep says which runs another process is running and exits 4; gate exits 3 naming a failed run', async () => {
    const text = config(1);
    const { dir, store } = workspace(text);
    writeFileSync(join(dir, 'sweep.yaml'), `${text}sweep:\n  seeds: [0]\n`);
    const id = idOf(text);
    const held = new Store(store).run(id);
    expect(held.acquire()).toBe(true); // this test's process runs it, as far as the CLI can tell
    try {
      const sweep = await start([
        'sweep',
        join(dir, 'sweep.yaml'),
        '--store',
        store,
        '--concurrency',
        '1',
      ]).ended;
      expect(sweep.code).toBe(4);
      expect(sweep.stdout).toMatch(/^0\/1 runs done/m);
      expect(sweep.stdout).toContain(`1 left to another process that is running them`);
      expect(sweep.stdout).toContain(id);
    } finally {
      held.release();
    }
    const resolved = resolveRun(parseConfigText(text, 'run.yaml'));
    const failing = new Store(store).run(id);
    expect(failing.acquire()).toBe(true);
    failing.ensureConfig(resolved);
    failing.writeFailure(new Error('out of memory'));
    failing.release();
    writeFileSync(
      join(dir, 'suite.yaml'),
      `suite: failing\nseeds: [0, 1]\nbase:\n${text.trimEnd().replace(/^/gm, '  ')}\nclaims:\n  - { id: learns, description: x, kind: at-least, value: 0.1, a: {} }\n`,
    );
    const gate = await start([
      'gate',
      '--claims',
      join(dir, 'suite.yaml'),
      '--store',
      store,
      '--no-run',
    ]).ended;
    expect(gate.code).toBe(3);
    expect(gate.stdout).toMatch(/^learns .* run-failed/m);
    expect(gate.stdout).toContain(`learns: run ${id} failed`);
  }, 120_000);

  // A store on a file, /proc/x, a device as configuration, a missing results file: exit 2 through
  // the CyclesparseError they throw (store-dir.test.ts, resolve.test.ts, claims.test.ts).
  test('a closed stdout (`… | head -1`) ends the command quietly', async () => {
    const closed = start(['presets']);
    closed.child.stdout.destroy(); // the reader is gone before anything is written
    const ended = await closed.ended;
    expect(ended).toMatchObject({ code: 0, signal: null });
    expect(ended.stderr).not.toMatch(/EPIPE|Error/);
  }, 60_000);
});
