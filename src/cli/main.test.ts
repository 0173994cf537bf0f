import { spawnSync } from 'node:child_process';
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
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(message);
  });
});
