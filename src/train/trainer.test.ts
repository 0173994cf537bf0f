import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { CONSTANT, CIFAR_STEP_WARMUP, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { NORMALIZATIONS, NO_AUGMENTATION } from '../data/batches.js';
import { subsetPerClass } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import type { BackendInfo, TrainPlan } from '../engine/engine.js';
import { TfjsEngine, type TfjsModel } from '../engine/tfjs-engine.js';
import { initialValues } from '../models/init.js';
import { modelSpec } from '../models/zoo.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import { Trainer } from './trainer.js';

let engine: TfjsEngine;
let backend: BackendInfo;
beforeAll(async () => {
  engine = await TfjsEngine.open('wasm');
  backend = engine.info;
});

const train = subsetPerClass(loadMnist('train'), 100, randomStream(0, 'subset'));
const test_ = subsetPerClass(loadMnist('test'), 30, randomStream(0, 'subset'));
const lenetSpec = modelSpec('lenet-300-100');
const data = (batchSize: number) => ({
  dataset: train,
  normalization: NORMALIZATIONS.mnist,
  augmentation: NO_AUGMENTATION,
  batchSize,
});

async function lenet(peak: number, cycleEpochs: number[], seed = 0): Promise<Trainer> {
  const model = await engine.model(lenetSpec, initialValues(lenetSpec, seed), {
    momentum: 0.9,
    nesterov: false,
    weightDecay: 1e-4,
  });
  const schedule = new LrSchedule({
    peak,
    shape: CIFAR_STEP_WARMUP,
    granularity: 'epoch',
    stepsPerEpoch: 20,
    cycleEpochs,
  });
  return new Trainer(model, data(50), schedule, { seed });
}

describe('Trainer on real MNIST', () => {
  test('LeNet-300-100 learns: test accuracy far above chance after 3 epochs on 1,000 images', async () => {
    const trainer = await lenet(0.05, [3]);
    const epochs: number[] = [];
    const outcome = await trainer.run({ onEpoch: (m) => void epochs.push(m.trainLoss) });
    expect(outcome.status).toBe('completed');
    expect(outcome.backend).toEqual(backend);
    expect(outcome.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(epochs[2]).toBeLessThan(epochs[0]!);
    const result = await trainer.model.evaluate(test_, NORMALIZATIONS.mnist, 100);
    expect(result.count).toBe(300);
    expect(result.accuracy).toBeGreaterThan(0.7);
  });
  test('a learning rate that blows up stops the run as diverged, at the step it happened', async () => {
    const trainer = await lenet(1e8, [2]);
    const losses: number[] = [];
    const original = trainer.model.train.bind(trainer.model);
    vi.spyOn(trainer.model, 'train').mockImplementation(async (plan: TrainPlan) => {
      const steps = await original(plan);
      losses.push(...steps.losses);
      return steps;
    });
    const outcome = await trainer.run();
    expect(outcome.status).toBe('diverged');
    if (outcome.status !== 'diverged') return;
    const first = losses.findIndex((l) => !Number.isFinite(l));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(outcome.step).toBe(first);
    expect(Number.isFinite(outcome.loss)).toBe(false);
    // Epochs completed before the divergence are reported, the one it happened in is not.
    expect(outcome.epochs.length).toBe(Math.floor(first / 20));
  });
  test('asks the engine to restart momentum at the first step of every cycle unless told to keep it', async () => {
    for (const reset of [true, false]) {
      const model = await engine.model(lenetSpec, initialValues(lenetSpec, 0));
      // Cycles of several epochs: a restart every epoch would show as extra resets.
      const schedule = new LrSchedule({
        peak: 0.01,
        shape: CONSTANT,
        granularity: 'step',
        stepsPerEpoch: 2,
        cycleEpochs: [2, 1, 2],
      });
      const trainer = new Trainer(model, data(500), schedule, {
        seed: 0,
        resetMomentumEachCycle: reset,
      });
      const stepsAtReset: number[] = [];
      const original = model.train.bind(model);
      vi.spyOn(model, 'train').mockImplementation((plan: TrainPlan) => {
        plan.resetMomentum.forEach((r, k) => {
          if (r === 1) stepsAtReset.push(plan.firstStep + k);
        });
        return original(plan);
      });
      await trainer.run();
      expect(stepsAtReset).toEqual(reset ? [0, 4, 6] : []);
    }
    const model = await engine.model(lenetSpec, initialValues(lenetSpec, 0));
    const sgd = model.optimizer;
    sgd.momentum.get('fc1.bias')!.assign(tf.onesLike(sgd.momentum.get('fc1.bias')!));
    await model.resetMomentum();
    expect(new Set((await model.readMomentum()).get('fc1.bias'))).toEqual(new Set([0]));
  });
  test('plans an epoch as one request: its batches in the epoch order, each step at its learning rate', async () => {
    const trainer = await lenet(0.05, [2]);
    const plans: TrainPlan[] = [];
    const model = trainer.model;
    const original = model.train.bind(model);
    vi.spyOn(model, 'train').mockImplementation((plan: TrainPlan) => {
      plans.push(plan);
      return original(plan);
    });
    await trainer.run();
    expect(plans.map((p) => [p.firstStep, p.learningRates.length])).toEqual([
      [0, 20],
      [20, 20],
    ]);
    const order = randomStream(0, 'dataOrder').permutation(train.count);
    expect(Array.from(plans[0]!.indices)).toEqual(Array.from(order));
    expect(Array.from(plans[0]!.offsets.subarray(0, 3))).toEqual([0, 50, 100]);
    expect(plans[1]!.learningRates[0]).toBe(trainer.schedule.learningRateAt(20));
  });
  test('a failure inside a step names the step and backend, and the wasm heap limit', async () => {
    const trainer = await lenet(0.05, [1]);
    await trainer.trainStep();
    vi.spyOn((trainer.model as TfjsModel).network, 'forward').mockImplementation(() => {
      throw new Error('Aborted()');
    });
    await expect(trainer.trainStep()).rejects.toThrow(
      /^training step 1 failed on wasm: Aborted\(\); if the model or batch is large, the wasm heap \(at most 4 GB\) may be exhausted/,
    );
  });
  test('refuses a schedule whose steps per epoch do not match the data', async () => {
    const model = await engine.model(lenetSpec, initialValues(lenetSpec, 0));
    const schedule = new LrSchedule({
      peak: 0.1,
      shape: CONSTANT,
      granularity: 'epoch',
      stepsPerEpoch: 10,
      cycleEpochs: [1],
    });
    expect(() => new Trainer(model, data(64), schedule, { seed: 0 })).toThrow(
      /^schedule\.stepsPerEpoch: expected 16 \(batches per epoch\), got 10/,
    );
  });
});

describe('checkpoints', () => {
  test('a run stopped mid-epoch and resumed ends exactly where the uninterrupted run does', async () => {
    const straight = await lenet(0.05, [2, 1]);
    await straight.run();
    const first = await lenet(0.05, [2, 1]);
    await first.run({ untilStep: 33 }); // inside epoch 1
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    await saveCheckpoint(dir, first);
    const resumed = await lenet(0.05, [2, 1], 99);
    await restoreCheckpoint(loadCheckpoint(dir), resumed);
    const outcome = await resumed.run();
    expect(outcome.status).toBe('completed');
    expect(await resumed.model.read()).toEqual(await straight.model.read());
  });
  test('rewrites atomically, and rejects truncated or altered checkpoints naming the problem', async () => {
    const trainer = await lenet(0.05, [1]);
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    await saveCheckpoint(dir, trainer);
    await trainer.trainStep();
    await saveCheckpoint(dir, trainer); // over the old one
    expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
    expect(loadCheckpoint(dir).position.step).toBe(1);
    expect(loadCheckpoint(dir).meta.backend).toEqual(backend);

    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      meta: { position: { step: number } };
      bin: string;
    };
    const blob = readFileSync(join(dir, state.bin));
    writeFileSync(join(dir, state.bin), blob.subarray(0, 1000));
    expect(() => loadCheckpoint(dir)).toThrow(
      /\/checkpoint\/tensors-[0-9a-f]+\.bin: expected \d+ bytes, got "1000 bytes \(truncated\?\)"/,
    );
    writeFileSync(join(dir, state.bin), blob);
    state.meta.position.step = -1;
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
    expect(() => loadCheckpoint(dir)).toThrow(
      /\/checkpoint\/state\.json: meta\.position\.step: Too small/,
    );
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, meta: { version: 9 } }));
    expect(() => loadCheckpoint(dir)).toThrow(
      /\/checkpoint\/state\.json: meta\.version: expected a version this cyclesparse reads \(2, 3\), got 9/,
    );
    writeFileSync(join(dir, 'state.json'), '{ not json');
    expect(() => loadCheckpoint(dir)).toThrow(/state\.json: expected valid JSON/);
    expect(() => loadCheckpoint(join(dir, 'nothing'))).toThrow(
      /^state: expected a directory with state\.json/,
    );
  });
  test('reads the version 2 format, and refuses a checkpoint taken between phases', async () => {
    const trainer = await lenet(0.05, [1]);
    await trainer.trainStep();
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    await saveCheckpoint(dir, trainer);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      meta: Record<string, unknown>;
    };
    expect(state.meta).toMatchObject({ format: 'cyclesparse.checkpoint', version: 3 });
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({ ...state, meta: { ...state.meta, version: 2 } }),
    );
    expect(loadCheckpoint(dir).position).toEqual(trainer.position);
    expect(loadCheckpoint(dir).meta.version).toBe(3);
    const between = { ...state.meta, position: null, pipeline: { phase: 1 } };
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, meta: between }));
    expect(() => loadCheckpoint(dir)).toThrow(
      /\/checkpoint\/state\.json: meta\.position: expected a trainer position \(a checkpoint taken inside a train phase\), got null/,
    );
  });
  test('refuses a checkpoint of another model', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'checkpoint');
    await saveCheckpoint(dir, await lenet(0.05, [1]));
    const spec = modelSpec('lenet-5');
    const model = await engine.model(spec, initialValues(spec, 0));
    const schedule = new LrSchedule({
      peak: 0.1,
      shape: CONSTANT,
      granularity: 'epoch',
      stepsPerEpoch: 20,
      cycleEpochs: [1],
    });
    const other = new Trainer(model, data(50), schedule, { seed: 0 });
    await expect(restoreCheckpoint(loadCheckpoint(dir), other)).rejects.toThrow(
      /^checkpoint\.model: expected lenet-5, got "lenet-300-100"/,
    );
  });
});
