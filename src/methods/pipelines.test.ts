/**
 * Every pipeline end to end on a real MNIST subset (500 training images in batches of 50,
 * LeNet-300-100, 3-epoch cycles), on the wasm engine and on the PyTorch engine (CPU): it completes, learns,
 * lands on the exact sparsity its plan promises, and records options, masks and cost.
 */

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CIFAR_STEP_WARMUP } from '../core/lr-schedule.js';
import { layerSize, Mask } from '../core/mask.js';
import { randomStream } from '../core/random.js';
import { keptCount } from '../core/selection.js';
import { NORMALIZATIONS, NO_AUGMENTATION } from '../data/batches.js';
import { subsetPerClass, withLabelNoise } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import type { Engine } from '../engine/engine.js';
import { TfjsEngine } from '../engine/tfjs-engine.js';
import { TorchEngine } from '../engine/torch/engine.js';
import { openTorchCpu, TORCH_PYTHON } from '../engine/torch/torch-testing.js';
import { prunableLayers } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';
import { pipelineOf } from './registry.js';
import { runPipeline, type PipelineResult, type PipelineSetup } from './runner.js';

const ENGINES = TORCH_PYTHON === undefined ? (['wasm'] as const) : (['wasm', 'torch'] as const);

const spec = modelSpec('lenet-300-100');
const weights = prunableLayers(spec).reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);
const setup: PipelineSetup = {
  spec,
  // 500 images in batches of 50: the same 10 steps an epoch as 1,000 in batches of 100 (so the
  // same learning), at half the arithmetic.
  train: subsetPerClass(loadMnist('train'), 50, randomStream(0, 'subset')),
  test: subsetPerClass(loadMnist('test'), 30, randomStream(0, 'subset')),
  normalization: NORMALIZATIONS.mnist,
  augmentation: NO_AUGMENTATION,
  batchSize: 50,
  schedule: { peak: 0.05, shape: CIFAR_STEP_WARMUP, granularity: 'epoch' },
  sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
  seed: 0,
};
const E = 3;

function expectLevelsMonotone(result: PipelineResult): void {
  const masks = result.levels.map((l) => Mask.fromJSON(l.mask));
  masks.slice(1).forEach((m, i) => expect(m.isSubsetOf(masks[i]!)).toBe(true));
}

// Every pipeline on every engine: TF.js (wasm) and, where torch imports, the PyTorch worker on
// the CPU — the same phases, masks and counts, each engine's own arithmetic.
describe.each(ENGINES)('on %s', (name) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = name === 'wasm' ? await TfjsEngine.open('wasm') : await openTorchCpu();
  }, 60_000); // importing torch in a fresh Python takes over 10 s on a loaded 2-core machine
  afterAll(() => {
    if (engine instanceof TorchEngine) engine.close();
  });
  function expectLearned(result: PipelineResult): void {
    expect(result.status).toBe('completed');
    expect(result.backend.name).toBe(name);
    expect(result.cycles.at(-1)!.testAccuracy.best).toBeGreaterThan(0.6);
  }

  describe('dense, cyclic and the one-cycle control', () => {
    test('cyclic and its control train the same epochs, steps and FLOPs; cycles are recorded apart', async () => {
      const cyclic = await runPipeline(
        engine,
        setup,
        pipelineOf('cyclic', { cycles: 3, epochsPerCycle: E }),
      );
      const control = await runPipeline(
        engine,
        setup,
        pipelineOf('one-cycle', { cycles: 3, epochsPerCycle: E }),
      );
      expectLearned(cyclic);
      expectLearned(control);
      expect(cyclic.cycles.map((c) => c.cycle)).toEqual([0, 1, 2]);
      expect(control.cycles).toHaveLength(1);
      expect(cyclic.cost).toEqual(control.cost);
      expect(cyclic.cost).toEqual({
        epochs: 9,
        steps: 90,
        flopsDense: 6 * weights * 4500,
        flopsSparse: 6 * weights * 4500,
      });
    });
    test('dense records its one cycle with final and best of every metric', async () => {
      const result = await runPipeline(engine, setup, pipelineOf('dense', { epochsPerCycle: E }));
      expectLearned(result);
      const [cycle] = result.cycles;
      expect(cycle!.testAccuracy.best).toBeGreaterThanOrEqual(cycle!.testAccuracy.final);
      expect(cycle!.trainLoss.best).toBeLessThanOrEqual(cycle!.trainLoss.final);
      expect(result.options).toEqual({ epochs: E });
    });
  });

  describe('iterative pruning', () => {
    test.each(['imp', 'wr', 'lrr'] as const)(
      '%s reaches 0.8^k density exactly at every level and learns',
      async (method) => {
        const pipeline =
          method === 'imp'
            ? pipelineOf('imp', { epochsPerCycle: E, levels: 3, weights })
            : method === 'wr'
              ? pipelineOf('wr', {
                  epochsPerCycle: E,
                  levels: 3,
                  weights,
                  shape: CIFAR_STEP_WARMUP,
                })
              : pipelineOf('lrr', { epochsPerCycle: E, levels: 3, weights });
        const result = await runPipeline(engine, setup, pipeline);
        expectLearned(result);
        expectLevelsMonotone(result);
        expect(result.levels.map((l) => Mask.fromJSON(l.mask).totalKept)).toEqual(
          [1, 2, 3].map((k) => keptCount(1 - 0.8 ** k, weights)),
        );
        expect(result.cycles.map((c) => c.level)).toEqual([0, 1, 2, 3]);
        expect(result.options).toMatchObject({
          epochsPerCycle: E,
          rate: 0.2,
          levels: 3,
          scope: 'global',
        });
        if (method === 'wr') expect(result.cost.epochs).toBe(E + 3 * (E - 1)); // levels train from the rewind point
      },
    );
    test('a target sparsity is met exactly on the last level (clamped by default)', async () => {
      const result = await runPipeline(
        engine,
        setup,
        pipelineOf('lrr', { epochsPerCycle: 2, targetSparsity: 0.5, weights }),
      );
      expect(Mask.fromJSON(result.levels.at(-1)!.mask).totalKept).toBe(keptCount(0.5, weights));
      expect(result.levels).toHaveLength(4); // 0.8^3 = 0.512 > 0.5 ≥ 0.8^4
      expect(result.options).toMatchObject({
        targetSparsity: 0.5,
        lastLevel: 'clamp',
        resetMomentum: true,
      });
    });
  });

  describe('pruning at initialisation, coupling and SCULPT', () => {
    /** PaI to sparsity 0.9 with `criterion` (SynFlow in `rounds` rounds). */
    const pai = (
      criterion: 'snip' | 'synflow' | 'random',
      options: Record<string, unknown> & { epochsPerCycle: number },
      rounds: number,
    ) =>
      runPipeline(
        engine,
        setup,
        pipelineOf('pai', {
          criterion,
          sparsity: 0.9,
          ...options,
          ...(criterion === 'synflow' ? { synflowIterations: rounds } : {}),
        }),
      );
    test.each(['snip', 'synflow', 'random'] as const)(
      'PaI with %s prunes to sparsity 0.9 exactly, then trains cyclically',
      async (criterion) => {
        const result = await pai(criterion, { cycles: 2, epochsPerCycle: E }, 10);
        expectLearned(result);
        expect(Mask.fromJSON(result.levels[0]!.mask).totalKept).toBe(keptCount(0.9, weights));
        expect(result.cycles.every((c) => c.sparsity === result.cycles[0]!.sparsity)).toBe(true);
        expect(result.cost.flopsSparse).toBeLessThan(0.15 * result.cost.flopsDense);
        // Only the settings the criterion uses are recorded.
        expect(result.options).toEqual({
          criterion,
          sparsity: 0.9,
          cycles: 2,
          epochsPerCycle: E,
          ...{
            snip: { scope: 'global' },
            synflow: { scope: 'global', synflowIterations: 10 },
            random: { distribution: 'erk', sampling: 'exact' },
          }[criterion],
        });
      },
    );
    test.each(['fresh', 'original', 'warmup', 'signs-only'] as const)(
      'coupling: the LRR mask with %s weights trains cyclically',
      async (init) => {
        const result = await runPipeline(
          engine,
          setup,
          pipelineOf('coupling', {
            epochsPerCycle: E,
            levels: 2,
            weights,
            init,
            cycles: 2,
            shape: CIFAR_STEP_WARMUP,
          }),
        );
        expectLearned(result);
        expect(result.method).toBe(`coupling-lrr-${init}`);
        const coupled = result.cycles.filter((c) => c.phase === 'coupled');
        expect(coupled).toHaveLength(2);
        expect(coupled[0]!.sparsity).toBe(Mask.fromJSON(result.levels.at(-1)!.mask).sparsity());
      },
    );
    test.each(['snip', 'synflow'] as const)(
      'PaI with %s and layerwise scope prunes every layer to the sparsity on its own',
      async (criterion) => {
        const result = await pai(criterion, { epochsPerCycle: 1, scope: 'layerwise' }, 3);
        const mask = Mask.fromJSON(result.levels[0]!.mask);
        for (const layer of mask.layers)
          expect(mask.kept(layer.name)).toBe(keptCount(0.9, layerSize(layer)));
      },
    );
    test('SCULPT: start mask, cycles, one prune to the target, one more cycle', async () => {
      const result = await runPipeline(
        engine,
        setup,
        pipelineOf('sculpt', {
          start: 'random',
          startSparsity: 0.5,
          targetSparsity: 0.9,
          cycles: 2,
          epochsPerCycle: E,
        }),
      );
      expectLearned(result);
      expect(result.cycles.map((c) => c.phase)).toEqual(['cyclic', 'cyclic', 'retrain']);
      expect(result.levels.map((l) => l.label)).toEqual(['start mask', 'coupling prune']);
      expectLevelsMonotone(result);
      expect(Mask.fromJSON(result.levels[1]!.mask).totalKept).toBe(keptCount(0.9, weights));
      expect(result.options).toMatchObject({
        criterion: 'magnitude',
        startSparsity: 0.5,
        targetSparsity: 0.9,
      });
    });
    test('any pipeline runs on labels with noise, and says so in its record', async () => {
      const noisy = {
        ...setup,
        train: withLabelNoise(setup.train, 0.15, randomStream(0, 'labelNoise')),
      };
      const result = await runPipeline(
        engine,
        noisy,
        pipelineOf('pai', { criterion: 'random', sparsity: 0.5, cycles: 1, epochsPerCycle: 2 }),
      );
      expect(result.status).toBe('completed');
      expect(result.setup.train.at(-1)).toBe('label noise: 75 of 500 labels flipped');
    });
  });
});

describe('options', () => {
  test('pruning at initialisation refuses a setting its criterion would not use', () => {
    expect(() =>
      pipelineOf('pai', {
        criterion: 'random',
        sparsity: 0.9,
        epochsPerCycle: 1,
        scope: 'layerwise',
      }),
    ).toThrow(
      /^scope: expected no scope for criterion random \(it uses distribution and sampling\)/,
    );
    expect(() =>
      pipelineOf('pai', {
        criterion: 'snip',
        sparsity: 0.9,
        epochsPerCycle: 1,
        sampling: 'bernoulli',
      }),
    ).toThrow(/^sampling: expected no sampling for criterion snip/);
    expect(() =>
      pipelineOf('sculpt', {
        start: 'random',
        startSparsity: 0.5,
        targetSparsity: 0.9,
        cycles: 1,
        epochsPerCycle: 1,
        synflowIterations: 3,
      }),
    ).toThrow(/^synflowIterations: expected no synflowIterations for start random/);
  });
  test('are validated with the argument named', () => {
    expect(() => pipelineOf('imp', { epochsPerCycle: E, weights })).toThrow(
      /^levels: expected either levels or targetSparsity \(exactly one\)/,
    );
    expect(() =>
      pipelineOf('wr', {
        epochsPerCycle: 3,
        levels: 1,
        weights,
        shape: CIFAR_STEP_WARMUP,
        rewindEpoch: 3,
      }),
    ).toThrow(/^rewindEpoch: expected an integer in \[1, 2\], got 3/);
    expect(() =>
      pipelineOf('pai', { criterion: 'grasp', sparsity: 0.9, epochsPerCycle: 1 }),
    ).toThrow(/^criterion: expected one of random, snip, synflow, got "grasp"/);
    expect(() =>
      pipelineOf('sculpt', {
        start: 'random',
        startSparsity: 0.9,
        targetSparsity: 0.5,
        cycles: 1,
        epochsPerCycle: 1,
      }),
    ).toThrow(/^targetSparsity: expected at least startSparsity \(0\.9\)/);
    expect(() =>
      pipelineOf('coupling', {
        epochsPerCycle: 3,
        levels: 1,
        weights,
        init: 'lottery',
        cycles: 1,
        shape: CIFAR_STEP_WARMUP,
      }),
    ).toThrow(/^init: expected one of fresh, original, warmup, signs-only/);
  });
});
