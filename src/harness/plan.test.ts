import { describe, expect, onTestFinished, test } from 'vitest';
import { buildExperiment } from '../config/build.js';
import { resolveRun } from '../config/resolve.js';
import {
  defaultConcurrency,
  estimateBasis,
  estimateTime,
  planConfigs,
  PROCESS_START_SECONDS,
  RUN_OVERHEAD_SECONDS,
  runSeconds,
  scaledCost,
  scaledNote,
  suiteTotalLine,
  wallSeconds,
  type MeasuredCost,
  type PlannedRun,
} from './plan.js';

const NOWHERE = '/nonexistent/cyclesparse-data';

describe('dry runs without the data', () => {
  test('a CIFAR run whose data directory does not exist is planned from the published sizes', () => {
    const config = resolveRun({
      model: { name: 'resnet-20' },
      data: { dataset: 'cifar10', dir: NOWHERE, testPerClass: 100 },
      training: { batchSize: 256, epochsPerCycle: 5 },
      method: { name: 'pai', criterion: 'random', sparsity: 0.9, cycles: 2 },
    });
    const [run] = planConfigs([config]);
    // 50,000 training images in batches of 256: 196 steps an epoch (the last one short).
    expect(run!.epochs).toBe(10);
    expect(run!.steps).toBe(10 * 196);
    expect(run!.work).toMatchObject({ trainImages: 50000, testImages: 1000, cycles: 2, prunes: 1 });
    expect(() => buildExperiment(config)).toThrow(/no such directory/);
  });
  test('the same steps without the data as with it, and the loaded data has the planned sizes', () => {
    const method = { name: 'lrr', targetSparsity: 0.9 };
    const withData = resolveRun({ extends: 'mini-mnist-lenet300', method });
    const without = resolveRun({
      extends: 'mini-mnist-lenet300',
      data: { dir: NOWHERE },
      method,
    });
    const [a] = planConfigs([withData]);
    const [b] = planConfigs([without]);
    expect(b!.steps).toBe(a!.steps);
    expect(b!.epochs).toBe(a!.epochs);
    expect(b!.work).toEqual(a!.work);
    const { setup } = buildExperiment(withData);
    expect(a!.work.trainImages).toBe(setup.train.count);
    expect(a!.work.testImages).toBe(setup.test.count);
    expect(a!.steps).toBe(a!.epochs * Math.ceil(setup.train.count / setup.batchSize));
  });
  test('a subset larger than a class is refused naming the field, as loading would', () => {
    const config = resolveRun({
      extends: 'mini-mnist-lenet300',
      data: { trainPerClass: 6000 },
      method: { name: 'lrr', targetSparsity: 0.9 },
    });
    expect(() => planConfigs([config])).toThrow(/^data\.trainPerClass: expected at most 5421/);
  });
});

const cost: MeasuredCost = {
  model: 'lenet-300-100',
  batchSize: 128,
  backend: 'wasm',
  threads: 1,
  stepMs: 2,
  stepsTimed: 48,
  evalMsPerImage: 0.01,
  evalBatch: 256,
  checkpointMs: 5,
};

describe('the cost model', () => {
  test('steps, evaluation and checkpoints every epoch, cycle networks, prunes, fixed cost', () => {
    const work = {
      epochs: 12,
      steps: 480,
      trainImages: 5000,
      testImages: 2000,
      prunes: 1,
      cycles: 3,
    };
    // 480 × 2 + 12 × (2000 × 0.01 + 5) + 3 × 5 + 1 × (2 + 5) = 960 + 300 + 15 + 7 ms.
    expect(runSeconds(work, cost)).toBeCloseTo(RUN_OVERHEAD_SECONDS + 1.282, 9);
  });
  test('a sweep: cells to the first free process, each process started once, oversubscription slows all', () => {
    const run = (seconds: number | null): PlannedRun => ({ seconds }) as unknown as PlannedRun;
    const plan = [run(10), run(10), run(4), run(null), run(6)];
    const s = PROCESS_START_SECONDS;
    // Two processes: 10 | 10, then 4 to the first, 6 to the second: both end at 16.
    expect(wallSeconds(plan, 2, { cores: 2, load: 0 })).toBeCloseTo(s + 16, 9);
    expect(wallSeconds(plan, 1, { cores: 2, load: 0 })).toBeCloseTo(s + 30, 9);
    // Measured with a core to itself; two cells beside one busy core share two: 2/3 speed.
    expect(wallSeconds(plan, 2, { cores: 2, load: 1 })).toBeCloseTo((s + 16) * 1.5, 9);
    // Measured beside a load of 11 (a share of 2/12); two cells get 2/13 each.
    expect(wallSeconds(plan, 2, { cores: 2, load: 11 })).toBeCloseTo(((s + 16) * 13) / 12, 9);
    // Four cells of 4 threads on 16 idle cores: no oversubscription.
    expect(wallSeconds(plan, 4, { cores: 16, load: 0, threads: 4 })).toBeCloseTo(s + 10, 9);
    expect(wallSeconds([run(null)], 2)).toBeNull();
  });
});

describe('hours of GPU and CPU runs', () => {
  const gpuCost: MeasuredCost = {
    ...cost,
    model: 'resnet-50',
    batchSize: 512,
    backend: 'torch',
    device: 'cuda (NVIDIA H100 80GB HBM3)',
    precision: 'bf16',
    gpu: true,
  };
  const run = (seconds: number | null, basis: MeasuredCost): PlannedRun =>
    ({ seconds, basis, steps: 1, epochs: 1 }) as unknown as PlannedRun;
  const s = PROCESS_START_SECONDS;
  test('runs on one GPU add up whatever the concurrency; a CPU pool beside them ends when both have', () => {
    const gpu = [run(3600, gpuCost), run(7200, gpuCost)];
    for (const concurrency of [1, 2, 16])
      expect(wallSeconds(gpu, concurrency, { cores: 16, load: 0 })).toBeCloseTo(s + 10800, 9);
    // Two CPU runs of 2 h on two idle cores at 2 at a time: 2 h, under the GPU's 3 h.
    const mix = [...gpu, run(7200, cost), run(7200, cost)];
    expect(wallSeconds(mix, 2, { cores: 2, load: 0 })).toBeCloseTo(s + 10800, 9);
    // One at a time the CPU runs take 4 h: the suite ends with them.
    expect(wallSeconds(mix, 1, { cores: 2, load: 0 })).toBeCloseTo(s + 14400, 9);
  });
  test('the suite line: hours per engine, GPU-hours for a GPU, the wall time and what was not measured', () => {
    expect(suiteTotalLine('imagenet', [run(3600, gpuCost), run(7200, gpuCost)])).toBe(
      `suite imagenet: 2 runs, about ${((s + 10800) / 3600).toFixed(1)} GPU-hours on torch cuda (NVIDIA H100 80GB HBM3) bf16; about ${((s + 10800) / 3600).toFixed(1)} hours wall time at 1 at a time`,
    );
    const mix = [run(3600, gpuCost), run(7200, gpuCost), run(1800, cost), run(null, cost)];
    expect(suiteTotalLine('mix', mix, { concurrency: 1 })).toBe(
      `suite mix: 4 runs, about 3.0 GPU-hours on torch cuda (NVIDIA H100 80GB HBM3) bf16, about 0.5 hours on wasm; about ${((s + 10800) / 3600).toFixed(1)} hours wall time at 1 at a time (1 runs not measured)`,
    );
    expect(suiteTotalLine('none', [run(null, cost)])).toBe('suite none: 1 run, none measured');
  });
  test('without --concurrency: one process per GPU the runs use, else one per core', () => {
    const on = (training: Record<string, unknown>) =>
      resolveRun({
        extends: 'mini-mnist-lenet300',
        data: { dir: NOWHERE },
        training,
        method: { name: 'dense' },
      });
    expect(defaultConcurrency([on({}), on({})], 16)).toBe(16);
    expect(defaultConcurrency([on({ backend: 'torch', device: 'cpu' })], 16)).toBe(16);
    // torch's default device is cuda, the same GPU as cuda:0.
    expect(
      defaultConcurrency(
        [on({ backend: 'torch' }), on({ backend: 'torch', device: 'cuda:0' })],
        16,
      ),
    ).toBe(1);
    expect(
      defaultConcurrency(
        [
          on({ backend: 'torch', device: 'cuda:0' }),
          on({ backend: 'torch', device: 'cuda:1' }),
          on({}),
        ],
        16,
      ),
    ).toBe(2);
    expect(defaultConcurrency([on({ backend: 'torch', device: 'mps' })], 16)).toBe(1);
  });
  test('a step measured at a smaller batch is scaled linearly, and the basis line says so', () => {
    const scaled = scaledCost({ ...gpuCost, batchSize: 64, stepMs: 30 }, 256);
    expect(scaled).toMatchObject({ batchSize: 256, measuredBatch: 64, stepMs: 120 });
    // Evaluation per image and a checkpoint do not depend on the training batch.
    expect(scaled).toMatchObject({
      evalMsPerImage: cost.evalMsPerImage,
      checkpointMs: cost.checkpointMs,
    });
    // Scaled again from what was measured, not from the scaled value's batch.
    expect(scaledCost(scaled, 128)).toMatchObject({ measuredBatch: 64, stepMs: 60 });
    expect(scaledNote(scaled)).toBe(
      "scaled ×4 linearly to batch 256 (batch 128 did not fit this machine's memory; a GPU scales sub-linearly, so this overestimates a GPU's time)",
    );
    const line = estimateBasis([run(3600, scaled)])[0]!;
    expect(line).toMatch(
      /^measured: 48 steps of resnet-50 × batch 64 on torch cuda \(NVIDIA H100 80GB HBM3\) bf16, 1 thread, scaled ×4 linearly to batch 256 \(batch 128 did not fit.*\): 120\.00 ms\/step × 1 steps;/,
    );
  });
});

describe('measuring on synthetic data', () => {
  test('the mini suite’s model on wasm: every cost measured, and the basis says what was measured', async () => {
    const config = resolveRun({
      extends: 'mini-mnist-lenet300',
      data: { dir: NOWHERE },
      method: { name: 'pai', criterion: 'random', sparsity: 0.9, cycles: 3 },
    });
    const [run] = await estimateTime(planConfigs([config]), { budgetSeconds: 0.2 });
    const basis = run!.basis!;
    expect(basis).toMatchObject({
      model: 'lenet-300-100',
      batchSize: 128,
      backend: 'wasm',
      threads: 1,
    });
    for (const value of [basis.stepMs, basis.evalMsPerImage, basis.checkpointMs])
      expect(value).toBeGreaterThan(0);
    expect(basis.stepsTimed).toBeGreaterThanOrEqual(3);
    expect(run!.seconds).toBeCloseTo(runSeconds(run!.work, basis), 9);
    const lines = estimateBasis([run!], { concurrency: 1 });
    expect(lines[0]).toMatch(
      /^measured: \d+ steps of lenet-300-100 × batch 128 on wasm, 1 thread: \d+\.\d\d ms\/step × 480 steps; \+ evaluation/,
    );
    expect(lines.at(-1)).toMatch(/wall time with 1 at a time$/);
  });
  test('a batch that does not fit is measured at half, and half again, and scaled to the run’s batch', async () => {
    // The test-only cap stands for a machine whose memory holds batch 32 (out of memory above).
    const before = process.env.CYCLESPARSE_ESTIMATE_MAX_BATCH;
    process.env.CYCLESPARSE_ESTIMATE_MAX_BATCH = '32';
    onTestFinished(() => {
      if (before === undefined) delete process.env.CYCLESPARSE_ESTIMATE_MAX_BATCH;
      else process.env.CYCLESPARSE_ESTIMATE_MAX_BATCH = before;
    });
    const config = resolveRun({
      extends: 'mini-mnist-lenet300',
      data: { dir: NOWHERE },
      method: { name: 'dense' },
    });
    const [run] = await estimateTime(planConfigs([config]), { budgetSeconds: 0.1 });
    expect(run!.basis).toMatchObject({ batchSize: 128, measuredBatch: 32 });
    expect(run!.seconds).toBeCloseTo(runSeconds(run!.work, run!.basis!), 9);
    expect(estimateBasis([run!])[0]).toMatch(
      /^measured: \d+ steps of lenet-300-100 × batch 32 on wasm, 1 thread, scaled ×4 linearly to batch 128 \(batch 64 did not fit/,
    );
  });
});
