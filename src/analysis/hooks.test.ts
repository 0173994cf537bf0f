import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR_STEP_WARMUP } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { NO_AUGMENTATION } from '../data/batches.js';
import { syntheticDataset } from '../data/dataset.js';
import type { Engine } from '../engine/engine.js';
import { TfjsEngine } from '../engine/tfjs-engine.js';
import { pipelineOf } from '../methods/registry.js';
import { runPipeline, type PipelineSetup } from '../methods/runner.js';
import type { ModelSpec } from '../models/spec.js';
import { compareWithPreviousCycle, type CycleComparison } from './hooks.js';

let engine: Engine;
beforeAll(async () => {
  engine = await TfjsEngine.open('wasm');
});

const spec: ModelSpec = {
  name: 'mlp',
  input: [4, 4, 1],
  classes: 3,
  nodes: [
    { op: 'flatten' },
    { op: 'dense', name: 'fc1', in: 16, out: 12, bias: true },
    { op: 'relu' },
    { op: 'dense', name: 'fc2', in: 12, out: 3, bias: true },
  ],
};
const data = (count: number, name: string) =>
  syntheticDataset({ shape: spec.input, classes: 3, count, stream: randomStream(5, name) });
const setup: PipelineSetup = {
  spec,
  train: data(48, 'train'),
  test: data(24, 'test'),
  normalization: { mean: [0.5], std: [0.25] },
  augmentation: NO_AUGMENTATION,
  batchSize: 8,
  schedule: { peak: 0.05, shape: CIFAR_STEP_WARMUP, granularity: 'epoch' },
  sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
  seed: 5,
};

describe('compareWithPreviousCycle', () => {
  test('compares every cycle with the one before, without changing the training', async () => {
    const pipeline = pipelineOf('lrr', { epochsPerCycle: 2, levels: 2, weights: 16 * 12 + 12 * 3 });
    const plain = await runPipeline(engine, setup, pipeline);
    const seen: CycleComparison[] = [];
    const tensors = tf.memory().numTensors;
    const watched = await runPipeline(engine, setup, pipeline, {
      onCycleEnd: compareWithPreviousCycle({
        data: setup,
        lmc: { alphas: [0.5] },
        sharpness: { samples: 48, batchSize: 16 },
        onResult: (c) => seen.push(c),
      }),
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(watched.cycles).toEqual(plain.cycles); // bit-identical training
    expect(seen.map((c) => c.cycle)).toEqual([1, 2, 3]);
    expect(seen[0]!.previous).toBeNull();
    expect(seen[1]!.previous!.cycle).toBe(1);
    // LRR prunes between cycles: the later mask is inside the earlier one.
    expect(seen[2]!.previous!.overlap.intersection).toBe(
      seen[2]!.previous!.overlap.union * seen[2]!.previous!.overlap.iou,
    );
    expect(seen[2]!.previous!.overlap.sparsityA).toBeGreaterThan(
      seen[2]!.previous!.overlap.sparsityB,
    );
    for (const c of seen.slice(1)) {
      expect(c.previous!.lmc.curve.map((p) => p.alpha)).toEqual([0, 0.5, 1]);
      expect(c.previous!.lmc.barrier.test.error).toBeGreaterThanOrEqual(0);
      expect(c.previous!.signs.compared).toBe(c.previous!.overlap.intersection);
    }
    expect(seen.every((c) => c.sharpness !== null && c.sharpness.eigenvalues[0]!.converged)).toBe(
      true,
    );
  });
});
