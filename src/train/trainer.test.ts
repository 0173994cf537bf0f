import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { CONSTANT, CIFAR_STEP_WARMUP, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { Batcher, NORMALIZATIONS } from '../data/batches.js';
import { subsetPerClass } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { useBackend, type BackendInfo } from '../engine/backend.js';
import { Network } from '../engine/network.js';
import { MaskedSgd } from '../engine/sgd.js';
import { modelSpec } from '../models/zoo.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import { Trainer, evaluate } from './trainer.js';

let backend: BackendInfo;
beforeAll(async () => {
  backend = await useBackend('wasm');
});

const train = subsetPerClass(loadMnist('train'), 100, randomStream(0, 'subset'));
const test_ = subsetPerClass(loadMnist('test'), 30, randomStream(0, 'subset'));

function lenet(peak: number, cycleEpochs: number[], seed = 0): Trainer {
  const network = Network.initialize(modelSpec('lenet-300-100'), seed);
  const sgd = new MaskedSgd(network, { momentum: 0.9, nesterov: false, weightDecay: 1e-4 });
  const batcher = new Batcher(train, 50, NORMALIZATIONS.mnist);
  const schedule = new LrSchedule({
    peak,
    shape: CIFAR_STEP_WARMUP,
    granularity: 'epoch',
    stepsPerEpoch: batcher.batchesPerEpoch,
    cycleEpochs,
  });
  return new Trainer(network, sgd, batcher, schedule, { seed });
}

describe('Trainer on real MNIST', () => {
  test('LeNet-300-100 learns: test accuracy far above chance after 3 epochs on 1,000 images', () => {
    const trainer = lenet(0.05, [3]);
    const epochs: number[] = [];
    const outcome = trainer.run({ onEpoch: (m) => epochs.push(m.trainLoss) });
    expect(outcome.status).toBe('completed');
    expect(outcome.backend).toEqual(backend);
    expect(outcome.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(epochs[2]).toBeLessThan(epochs[0]!);
    const result = evaluate(trainer.network, test_, new Batcher(test_, 100, NORMALIZATIONS.mnist));
    expect(result.count).toBe(300);
    expect(result.accuracy).toBeGreaterThan(0.7);
  });
  test('a learning rate that blows up stops the run as diverged, at the step it happened', () => {
    const outcome = lenet(1e8, [2]).run();
    expect(outcome.status).toBe('diverged');
    if (outcome.status === 'diverged') expect(Number.isFinite(outcome.loss)).toBe(false);
  });
  test('momentum restarts at the first step of every cycle unless asked to keep it', () => {
    for (const reset of [true, false]) {
      const network = Network.initialize(modelSpec('lenet-300-100'), 0);
      const sgd = new MaskedSgd(network);
      const resets = vi.spyOn(sgd, 'resetMomentum');
      const batcher = new Batcher(train, 500, NORMALIZATIONS.mnist);
      const schedule = new LrSchedule({
        peak: 0.01,
        shape: CONSTANT,
        granularity: 'step',
        stepsPerEpoch: 2,
        cycleEpochs: [1, 1, 1],
      });
      const trainer = new Trainer(network, sgd, batcher, schedule, {
        seed: 0,
        resetMomentumEachCycle: reset,
      });
      const stepsAtReset: number[] = [];
      resets.mockImplementation(function (this: MaskedSgd) {
        stepsAtReset.push(trainer.position.step);
        MaskedSgd.prototype.resetMomentum.call(this);
      });
      trainer.run();
      expect(stepsAtReset).toEqual(reset ? [0, 2, 4] : []);
    }
    const network = Network.initialize(modelSpec('lenet-300-100'), 0);
    const sgd = new MaskedSgd(network);
    sgd.momentum.get('fc1.bias')!.assign(tf.onesLike(sgd.momentum.get('fc1.bias')!));
    sgd.resetMomentum();
    expect(new Set(sgd.momentum.get('fc1.bias')!.dataSync())).toEqual(new Set([0]));
  });
  test('a failure inside a step names the step and backend, and the wasm heap limit', () => {
    const trainer = lenet(0.05, [1]);
    trainer.trainStep();
    vi.spyOn(trainer.network, 'forward').mockImplementation(() => {
      throw new Error('Aborted()');
    });
    expect(() => trainer.trainStep()).toThrow(
      /^training step 1 failed on wasm: Aborted\(\); if the model or batch is large, the wasm heap \(at most 4 GB\) may be exhausted/,
    );
  });
  test('refuses a schedule whose steps per epoch do not match the data', () => {
    const network = Network.initialize(modelSpec('lenet-300-100'), 0);
    const batcher = new Batcher(train, 64, NORMALIZATIONS.mnist);
    const schedule = new LrSchedule({
      peak: 0.1,
      shape: CONSTANT,
      granularity: 'epoch',
      stepsPerEpoch: 10,
      cycleEpochs: [1],
    });
    expect(
      () => new Trainer(network, new MaskedSgd(network), batcher, schedule, { seed: 0 }),
    ).toThrow(/^schedule\.stepsPerEpoch: expected 16 \(batches per epoch\), got 10/);
  });
});

describe('checkpoints', () => {
  test('a run stopped mid-epoch and resumed ends exactly where the uninterrupted run does', () => {
    const straight = lenet(0.05, [2, 1]);
    straight.run();
    const first = lenet(0.05, [2, 1]);
    first.run({ untilStep: 33 }); // inside epoch 1
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    saveCheckpoint(dir, first);
    const resumed = lenet(0.05, [2, 1], 99);
    restoreCheckpoint(loadCheckpoint(dir), resumed);
    const outcome = resumed.run();
    expect(outcome.status).toBe('completed');
    expect(resumed.network.snapshot()).toEqual(straight.network.snapshot());
  });
  test('rewrites atomically, and rejects truncated or altered checkpoints naming the problem', () => {
    const trainer = lenet(0.05, [1]);
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    saveCheckpoint(dir, trainer);
    trainer.trainStep();
    saveCheckpoint(dir, trainer); // over the old one
    expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
    expect(loadCheckpoint(dir).position.step).toBe(1);
    expect(loadCheckpoint(dir).meta.backend).toEqual(backend);

    const blob = readFileSync(join(dir, 'tensors.bin'));
    writeFileSync(join(dir, 'tensors.bin'), blob.subarray(0, 1000));
    expect(() => loadCheckpoint(dir)).toThrow(
      /\/checkpoint\/tensors\.bin: expected \d+ bytes, got "1000 bytes \(truncated\?\)"/,
    );
    writeFileSync(join(dir, 'tensors.bin'), blob);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      meta: { position: { step: number } };
    };
    state.meta.position.step = -1;
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
    expect(() => loadCheckpoint(dir)).toThrow(/^checkpoint\.position\.step:/);
    writeFileSync(join(dir, 'state.json'), '{ not json');
    expect(() => loadCheckpoint(dir)).toThrow(/state\.json: expected valid JSON/);
    expect(() => loadCheckpoint(join(dir, 'nothing'))).toThrow(
      /^state: expected a directory with state\.json/,
    );
  });
  test('refuses a checkpoint of another model', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    saveCheckpoint(dir, lenet(0.05, [1]));
    const network = Network.initialize(modelSpec('lenet-5'), 0);
    const batcher = new Batcher(train, 50, NORMALIZATIONS.mnist);
    const schedule = new LrSchedule({
      peak: 0.1,
      shape: CONSTANT,
      granularity: 'epoch',
      stepsPerEpoch: batcher.batchesPerEpoch,
      cycleEpochs: [1],
    });
    const other = new Trainer(network, new MaskedSgd(network), batcher, schedule, { seed: 0 });
    expect(() => restoreCheckpoint(loadCheckpoint(dir), other)).toThrow(
      /^checkpoint\.model: expected lenet-5, got "lenet-300-100"/,
    );
  });
});
