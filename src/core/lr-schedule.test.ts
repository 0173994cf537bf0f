import { describe, expect, test } from 'vitest';
import {
  CIFAR_STEP_WARMUP,
  IMAGENET_STEP_WARMUP,
  LrSchedule,
  TRIANGULAR,
  COSINE,
  cycleMultiplier,
  cyclicEpochs,
  oneCycleControl,
  splitBudget,
  type ScheduleSpec,
} from './lr-schedule.js';

const perEpoch = (shape: typeof CIFAR_STEP_WARMUP, epochs: number) =>
  Array.from({ length: epochs }, (_, e) => cycleMultiplier(shape, e, epochs));

describe('cycle shapes', () => {
  test('CIFAR step-warmup on 150 epochs: 0–9 warm-up, 10–69 peak, 70–129 ×0.1, 130–149 ×0.01', () => {
    const m = perEpoch(CIFAR_STEP_WARMUP, 150);
    expect(m.slice(0, 10)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(new Set(m.slice(10, 70))).toEqual(new Set([1]));
    expect(new Set(m.slice(70, 130))).toEqual(new Set([0.1]));
    expect(new Set(m.slice(130))).toEqual(new Set([0.01]));
  });
  test('the same shape scaled to a 15-epoch and a 3-epoch cycle', () => {
    expect(perEpoch(CIFAR_STEP_WARMUP, 15)).toEqual([
      1, 1, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01,
    ]);
    expect(perEpoch(CIFAR_STEP_WARMUP, 3)).toEqual([1, 0.1, 0.1]);
  });
  test("boundaries: 'ceil' drops where peers' step >= f·total does (88 epochs: 42 and 77, not 41 and 76)", () => {
    const drops = (rule: 'round-half-up' | 'ceil') => {
      const m = Array.from({ length: 88 }, (_, e) =>
        cycleMultiplier(CIFAR_STEP_WARMUP, e, 88, rule),
      );
      return [m.indexOf(1), m.indexOf(0.1), m.indexOf(0.01)];
    };
    // 10/150·88 = 5.87, 70/150·88 = 41.07, 130/150·88 = 76.27: the warm-up ends at 6 either way.
    expect(drops('round-half-up')).toEqual([5, 41, 76]);
    expect(drops('ceil')).toEqual([5, 42, 77]);
    const schedule = new LrSchedule({
      peak: 1,
      shape: CIFAR_STEP_WARMUP,
      granularity: 'epoch',
      stepsPerEpoch: 1,
      cycleEpochs: [88],
      boundaries: 'ceil',
    });
    expect([schedule.learningRateAt(41), schedule.learningRateAt(42)]).toEqual([1, 0.1]);
    expect(
      () =>
        new LrSchedule({
          peak: 1,
          shape: CIFAR_STEP_WARMUP,
          granularity: 'epoch',
          stepsPerEpoch: 1,
          cycleEpochs: [88],
          boundaries: 'floor' as never,
        }),
    ).toThrow(/^boundaries: expected one of round-half-up, ceil/);
  });
  test('ImageNet on 90 epochs: 0–9 at 0.1, 10–39 peak, 40–69 ×0.1, 70–89 ×0.01', () => {
    const m = perEpoch(IMAGENET_STEP_WARMUP, 90);
    expect([m[0], m[9], m[10], m[39], m[40], m[69], m[70], m[89]]).toEqual([
      0.1, 0.1, 1, 1, 0.1, 0.1, 0.01, 0.01,
    ]);
  });
  test('triangular: 0.2 → 1 over the first 20% of steps, then down towards 0', () => {
    const m = Array.from({ length: 100 }, (_, s) => cycleMultiplier(TRIANGULAR, s, 100));
    expect(m[0]).toBe(0.2);
    expect(m[10]).toBeCloseTo(0.6, 12);
    expect(m[20]).toBe(1);
    expect(m[99]).toBe(1 / 80);
  });
  test('cosine from 1 towards its floor', () => {
    expect(cycleMultiplier(COSINE, 0, 10)).toBe(1);
    expect(cycleMultiplier(COSINE, 5, 10)).toBeCloseTo(0.5, 12);
    expect(cycleMultiplier({ kind: 'cosine', warmupFraction: 0.2, minFactor: 0.1 }, 0, 10)).toBe(
      0.5,
    );
  });
});

describe('LrSchedule', () => {
  const spec: ScheduleSpec = {
    peak: 0.1,
    shape: CIFAR_STEP_WARMUP,
    granularity: 'epoch',
    stepsPerEpoch: 4,
    cycleEpochs: cyclicEpochs(15, 3),
  };
  test('restarts the shape at every cycle and sets the rate once per epoch', () => {
    const schedule = new LrSchedule(spec);
    expect(schedule.totalSteps).toBe(180);
    expect(schedule.cycleStarts).toEqual([0, 60, 120]);
    expect(schedule.learningRateAt(0)).toBe(0.1);
    expect(schedule.learningRateAt(3)).toBe(0.1);
    expect(schedule.learningRateAt(59)).toBeCloseTo(0.001, 15);
    expect(schedule.learningRateAt(60)).toBe(0.1);
    expect(schedule.positionAt(61)).toEqual({
      cycle: 1,
      stepInCycle: 1,
      epochInCycle: 0,
      unit: 0,
      unitsInCycle: 15,
    });
    expect(schedule.peakStep(2)).toBe(120);
  });
  test('the one-cycle control stretches the shape over the same number of steps', () => {
    const control = new LrSchedule(oneCycleControl(spec));
    expect(control.totalSteps).toBe(180);
    expect(control.cycles).toBe(1);
    expect(control.learningRateAt(60)).toBe(0.1);
    expect(control.learningRateAt(179)).toBeCloseTo(0.001, 15);
    expect(control.peakStep(0)).toBe(8); // 45 epochs: warm-up round(3) = 3 epochs, peak from epoch 2
  });
  test('per-step granularity evaluates the shape on steps', () => {
    const schedule = new LrSchedule({
      ...spec,
      shape: TRIANGULAR,
      granularity: 'step',
      cycleEpochs: [5, 5],
    });
    expect(schedule.learningRateAt(0)).toBeCloseTo(0.02, 15);
    expect(schedule.learningRateAt(4)).toBe(0.1);
    expect(schedule.learningRateAt(20)).toBeCloseTo(0.02, 15);
  });
  test('splitBudget conserves the epoch budget exactly', () => {
    expect(splitBudget(100, 3)).toEqual([34, 33, 33]);
    expect(splitBudget(10, 4)).toEqual([3, 3, 2, 2]);
    expect(() => splitBudget(2, 3)).toThrow(/^totalEpochs: expected an integer >= 3, got 2/);
  });
  test('names bad arguments', () => {
    expect(() => new LrSchedule({ ...spec, cycleEpochs: [10, 0] })).toThrow(
      /^cycleEpochs\[1\]: expected an integer >= 1, got 0/,
    );
    expect(() => new LrSchedule({ ...spec, cycleEpochs: [] })).toThrow(
      /^cycleEpochs: expected a non-empty list/,
    );
    expect(() => new LrSchedule({ ...spec, stepsPerEpoch: 0 })).toThrow(
      /^stepsPerEpoch: expected an integer >= 1/,
    );
    expect(() => new LrSchedule({ ...spec, peak: -0.1 })).toThrow(
      /^peak: expected a finite number in \(0,/,
    );
    expect(() => new LrSchedule({ ...spec, granularity: 'batch' as never })).toThrow(
      /^granularity:/,
    );
    expect(
      () =>
        new LrSchedule({
          ...spec,
          shape: {
            kind: 'step',
            warmupFraction: 0.1,
            warmup: 'linear',
            milestones: [
              { at: 0.5, factor: 0.1 },
              { at: 0.4, factor: 0.01 },
            ],
          },
        }),
    ).toThrow(/^shape\.milestones\[1\]\.at: expected a fraction above 0\.5/);
    expect(() => new LrSchedule({ ...spec, shape: { kind: 'cyclic' } as never })).toThrow(
      /^shape\.kind: expected one of/,
    );
    expect(() => new LrSchedule(spec).peakStep(3)).toThrow(
      /^cycle: expected an integer in \[0, 2\], got 3/,
    );
    expect(() => cycleMultiplier(CIFAR_STEP_WARMUP, 5, 5)).toThrow(
      /^unit: expected an integer in \[0, 4\], got 5/,
    );
    expect(() => cycleMultiplier(CIFAR_STEP_WARMUP, 0, 0)).toThrow(
      /^units: expected an integer >= 1, got 0/,
    );
    expect(() => new LrSchedule(spec).learningRateAt(180)).toThrow(
      /^step: expected an integer in \[0, 179\], got 180/,
    );
  });
});
