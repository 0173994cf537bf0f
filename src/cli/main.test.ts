import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { layerSize } from '../core/mask.js';
import { prunableLayers } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8' });

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
    const dir = mkdtempSync(join(tmpdir(), 'gate-cli-'));
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
    expect(fails.stdout).toMatch(/^GATE FAILED: 0\/1 gating claims hold/m);
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
    [['reproduce', 'huge'], /suite: expected mini or paper, got "huge"/],
    [['download', 'mnist', '--dir', '/tmp/x'], /Allowed choices are fashion-mnist, cifar10/],
    [['gate'], /required option '--claims <file>' not specified/],
    [['reproduce', 'paper'], /--data-dir: expected the directory of the CIFAR-10 binary files/],
    [['gate', '--claims', '/nonexistent/suite.yaml'], /suite\.yaml/],
  ])('%j is bad input: exit 2 with the reason', (args, message) => {
    const run = cli(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});
