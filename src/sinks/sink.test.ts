/** `--log` specs, the checks before training, and a failing sink dropped after one warning. */

import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../core/errors.js';
import { checkSinks } from './open.js';
import { fanOut, flattenParams, parseLogSpec, type MetricSink } from './sink.js';

describe('--log specs', () => {
  test('tensorboard=DIR and mlflow are read; anything else is refused naming the forms', () => {
    expect(parseLogSpec('tensorboard=runs/tb')).toEqual({ kind: 'tensorboard', dir: 'runs/tb' });
    expect(parseLogSpec('tensorboard=C:\\tb=x')).toEqual({ kind: 'tensorboard', dir: 'C:\\tb=x' });
    expect(parseLogSpec('mlflow')).toEqual({ kind: 'mlflow' });
    for (const bad of ['wandb', 'tensorboard', 'tensorboard=', 'tensorboard:d', 'mlflow=x', ''])
      expect(() => parseLogSpec(bad)).toThrow(InvalidArgumentError);
    expect(() => parseLogSpec('wandb')).toThrow(
      '--log: expected tensorboard=DIR or mlflow, got "wandb"',
    );
    expect(() => parseLogSpec('tensorboard')).toThrow(/needs a directory: --log tensorboard=DIR/);
  });

  test('a TensorBoard directory that cannot be made is refused before training', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sinks-'));
    writeFileSync(join(root, 'file'), '');
    await expect(
      checkSinks([{ kind: 'tensorboard', dir: join(root, 'file', 'tb') }]),
    ).rejects.toThrow(/--log tensorboard=.*file\/tb: cannot write there \(ENOTDIR\)/);
    if (process.getuid?.() !== 0) {
      chmodSync(root, 0o500);
      await expect(checkSinks([{ kind: 'tensorboard', dir: root }])).rejects.toThrow(/EACCES/);
      chmodSync(root, 0o700);
    }
    await expect(
      checkSinks([{ kind: 'tensorboard', dir: join(root, 'new', 'tb') }]),
    ).resolves.toBeUndefined();
    await expect(checkSinks([{ kind: 'mlflow' }], { env: {} })).rejects.toThrow(
      /MLFLOW_TRACKING_URI/,
    );
  });
});

describe('fanOut', () => {
  test('a sink that throws is warned about once and not called again; the others go on', async () => {
    const seen: string[] = [];
    const sink = (name: string, failAt?: string): MetricSink => {
      const call = (what: string) => {
        seen.push(`${name}.${what}`);
        return what === failAt ? Promise.reject(new Error(`${name} broke`)) : Promise.resolve();
      };
      return {
        name,
        start: () => call('start'),
        epoch: (e) => call(`epoch${e.step}`),
        end: () => call('end'),
      };
    };
    const warnings: string[] = [];
    const both = fanOut([sink('a', 'epoch1'), sink('b')], (line) => warnings.push(line));
    const epoch = (step: number) =>
      both.epoch({ step, phase: 'p', level: 0, epoch: step, cycle: 0, values: {}, time: 0 });
    await both.start({ id: 'x', config: {} as never, backend: 'cpu', firstStep: 0 });
    await epoch(0);
    await epoch(1);
    await epoch(2);
    await both.end({ status: 'finished' });
    expect(seen).toEqual([
      'a.start',
      'b.start',
      'a.epoch0',
      'b.epoch0',
      'a.epoch1',
      'b.epoch1',
      'b.epoch2',
      'b.end',
    ]);
    expect(warnings).toEqual([
      'warning: a (run x): a broke; no more metrics go to it (training goes on, the store keeps every result)',
    ]);
  });

  test('a run that never started (failed before training) ends no sink', async () => {
    const seen: string[] = [];
    const sink: MetricSink = {
      name: 's',
      start: () => Promise.resolve(),
      epoch: () => Promise.resolve(),
      end: () => {
        seen.push('end');
        return Promise.resolve();
      },
    };
    await fanOut([sink]).end({ status: 'failed' });
    expect(seen).toEqual([]);
  });
});

test('flattenParams: dotted keys, strings as they are, arrays and numbers as JSON', () => {
  expect(
    flattenParams({ a: { b: 1, c: 'x', d: [1, 2], e: { f: null } }, g: true, h: undefined }),
  ).toEqual({ 'a.b': '1', 'a.c': 'x', 'a.d': '[1,2]', 'a.e.f': 'null', g: 'true' });
});
