import { describe, expect, test } from 'vitest';
import { LrSchedule } from '../core/lr-schedule.js';
import { buildExperiment } from './build.js';
import { resolveRun, runId } from './resolve.js';

const base = {
  extends: 'mini-mnist-lenet300',
  method: { name: 'lrr', targetSparsity: 0.9 },
};
const data = {
  unit: 'epoch',
  warmup: 1,
  warmupStartFactor: 0.5,
  milestones: [3],
  factors: [1, 0.1],
};

describe('training.shape as data, wired through', () => {
  test('a run with a data shape trains on it, and its id differs from the preset run', () => {
    const config = resolveRun({ ...base, training: { shape: data } });
    expect(config.training.shape).toEqual(data);
    expect(runId(config)).not.toBe(runId(resolveRun(base)));
    const { setup } = buildExperiment(config);
    expect(setup.schedule.shape).toEqual({ kind: 'segments', ...data });
    const schedule = new LrSchedule({
      ...setup.schedule,
      stepsPerEpoch: 1,
      cycleEpochs: [4],
    });
    expect([0, 1, 2, 3].map((e) => schedule.learningRateAt(e))).toEqual([
      0.025, 0.05, 0.05, 0.005000000000000001,
    ]);
  });
  test('a bad name or field of the shape is reported as for any section', () => {
    expect(() => resolveRun({ ...base, training: { shape: 'sawtooth' } })).toThrow(
      /training\.shape: Invalid option: expected one of "cifar-step-warmup"/,
    );
    expect(() => resolveRun({ ...base, training: { shape: { factors: [] } } })).toThrow(
      /training\.shape\.factors: Too small/,
    );
    expect(() => resolveRun({ ...base, training: { shape: { factor: [1] } } })).toThrow(
      /training\.shape: Unrecognized key: "factor" \(did you mean factors\?\)/,
    );
  });
  test('problems name the field; epochs past the cycle are refused', () => {
    expect(() =>
      resolveRun({
        ...base,
        training: { shape: { ...data, milestones: [4] } },
      }),
    ).toThrow(
      /training\.shape\.milestones\[0\]: expected an epoch below training\.epochsPerCycle \(4\), got 4/,
    );
    expect(() => resolveRun({ ...base, training: { shape: { ...data, factors: [1] } } })).toThrow(
      /training\.shape\.factors: expected 2 factors/,
    );
  });
});
