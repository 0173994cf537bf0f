import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { loadSuite, suiteRuns } from '../../claims/claims.js';
import type { EngineOverride } from '../../config/resolve.js';
import { loadNative } from '../../engine/native.js';
import { defaultConcurrency } from '../../harness/plan.js';
import { TORCH_MISSING, TORCH_PYTHON } from '../../engine/torch/torch-testing.js';
import { CLI_MAIN } from '../cli-testing.js';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });

/** The table row of a run: its epochs and steps columns. */
const stepsOf = (stdout: string, id: string) => {
  const row = stdout.split('\n').find((line) => line.startsWith(id));
  expect(row, stdout).toBeDefined();
  // The last columns: epochs, steps, estimate (`12 s`, `2.4 min`).
  return /\s(\d+)\s+(\d+)\s+[\d.]+ (?:s|min|h)\s*$/.exec(row!)!.slice(1, 3);
};

describe('runs at once without --concurrency (gate, reproduce and their dry runs)', () => {
  const baselines = fileURLToPath(new URL('../../../baselines/', import.meta.url));
  const concurrencyOf = (suite: string, engine: EngineOverride = {}) =>
    defaultConcurrency(
      suiteRuns(
        loadSuite(join(baselines, `${suite}.claims.yaml`), { data: { dir: '/nowhere' } }, engine)
          .suite,
      ).values(),
      16,
    );
  test('one per GPU the runs use (from --backend/--device, or a preset naming torch), one per core otherwise', () => {
    expect(concurrencyOf('imagenet-resnet50')).toBe(16); // the paper preset: wasm
    expect(concurrencyOf('imagenet-resnet50', { backend: 'torch' })).toBe(1); // cuda by default
    expect(concurrencyOf('imagenet-resnet50', { backend: 'torch', device: 'cuda:1' })).toBe(1);
    expect(concurrencyOf('imagenet-resnet50', { backend: 'torch', device: 'cpu' })).toBe(16);
    // Its LRR-curve sides extend the TurboPrune preset (backend torch, cuda) without any flag.
    expect(concurrencyOf('cifar10-resnet20')).toBe(1);
    expect(concurrencyOf('mini')).toBe(16);
    expect(concurrencyOf('mini', { backend: 'torch', device: 'mps' })).toBe(1);
  });
});

describe('--dry-run', () => {
  test('run: works with a data directory that does not exist, the same steps as with the data, and states its basis', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-dry-run-'));
    const method = 'method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 }';
    writeFileSync(join(dir, 'with.yaml'), `extends: mini-mnist-lenet300\n${method}\n`);
    writeFileSync(
      join(dir, 'without.yaml'),
      `extends: mini-mnist-lenet300\ndata: { dir: ${join(dir, 'not-downloaded')} }\n${method}\n`,
    );
    const withData = cli('run', join(dir, 'with.yaml'), '--dry-run', '--store', join(dir, 'runs'));
    const without = cli('run', join(dir, 'without.yaml'), '--dry-run');
    expect(withData.status, withData.stderr).toBe(0);
    expect(without.status, without.stderr).toBe(0);
    const id = (out: string) => /^# run (\S+)/m.exec(out)![1]!;
    // 5,000 images in batches of 128: 40 steps an epoch; 3 cycles of 4 epochs.
    expect(stepsOf(withData.stdout, id(withData.stdout))).toEqual(['12', '480']);
    expect(stepsOf(without.stdout, id(without.stdout))).toEqual(['12', '480']);
    expect(without.stdout).toMatch(
      /^measured: \d+ steps of lenet-300-100 × batch 128 on wasm, 1 thread: [\d.]+ ms\/step × 480 steps; \+ evaluation [\d.]+ ms\/image and a \d+ ms checkpoint × 12 epochs; about [\d.a-z ]+ hours$/m,
    );
    expect(without.stdout).toMatch(/wall time with 1 at a time$/m);
  });
  // native measures at the pool's thread count; it needs its addon built (npm run build:native).
  test.skipIf(loadNative().addon === undefined)(
    'sweep: the pool’s threads per cell and the wall time for the cells run at once',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-dry-run-'));
      writeFileSync(
        join(dir, 'sweep.yaml'),
        [
          'extends: mini-mnist-lenet300',
          `data: { dir: ${join(dir, 'not-downloaded')} }`,
          'training: { backend: native }',
          'method: { name: pai, criterion: random, sparsity: 0.9, cycles: 1 }',
          'sweep: { seeds: [0, 1, 2] }',
        ].join('\n'),
      );
      const out = cli('sweep', join(dir, 'sweep.yaml'), '--dry-run', '--concurrency', '2');
      expect(out.status, out.stderr).toBe(0);
      expect(out.stdout).toMatch(/^measured: .* on native, \d+ threads?: .* × 480 steps;/m);
      expect(out.stdout).toMatch(/wall time with 2 at a time$/m);
    },
  );
  // A paper-scale suite (ImageNet, the TurboPrune preset) on the PyTorch engine, made small where
  // the measurement runs (ResNet-18, 32×32 crops, batch 4, fp32 on the CPU): sized from the
  // published counts with no data there, the minimum timed when a step is slow (here: always,
  // CYCLESPARSE_SLOW_STEP_MS=0), and the suite's total in hours.
  test.skipIf(TORCH_PYTHON === undefined)(
    `gate: an ImageNet suite on the PyTorch engine, in hours per suite${TORCH_PYTHON === undefined ? ` (${TORCH_MISSING})` : ''}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-dry-run-'));
      const suite = join(dir, 'suite.yaml');
      writeFileSync(
        suite,
        [
          'suite: imagenet-tiny',
          'seeds: [0, 1]',
          `base: { extends: imagenet-resnet50-turboprune, model: { name: resnet-18 }, data: { dir: ${join(dir, 'no-imagenet')}, imageSize: 32 }, training: { batchSize: 4, device: cpu, precision: fp32 } }`,
          'claims:',
          '  - { id: learns, description: better than chance, kind: at-least, value: 0.001, a: { method: { name: dense } } }',
        ].join('\n'),
      );
      const out = spawnSync(
        process.execPath,
        [
          CLI_MAIN,
          'gate',
          '--claims',
          suite,
          '--store',
          join(dir, 'runs'),
          '--dry-run',
          '--concurrency',
          '1',
        ],
        {
          encoding: 'utf8',
          timeout: 180_000,
          env: { ...process.env, CYCLESPARSE_SLOW_STEP_MS: '0', CYCLESPARSE_THREADS: '1' },
        },
      );
      expect(out.status, out.stderr).toBe(0);
      // 1,281,167 images in batches of 4: 320,292 steps an epoch, 90 epochs, 2 seeds.
      expect(out.stdout).toMatch(
        /^measured: 2 steps of resnet-18-imagenet × batch 4 on torch cpu \(.+\) fp32, 1 thread: [\d.]+ ms\/step × 57,652,560 steps; .* × 180 epochs; about [\d,.]+ hours \(a warm step took [\d.]+ s: timed the minimum: a cold step and 2 timed steps, 1 evaluation batch, 1 checkpoint\); image decoding and resizing not included \(measured on synthetic 32×32 pixels/m,
      );
      expect(out.stdout).toMatch(
        /^suite imagenet-tiny: 2 runs, about [\d,.]+ hours on torch cpu \(.+\) fp32; about [\d,.]+ hours wall time at 1 at a time$/m,
      );
    },
    180_000,
  );
});
