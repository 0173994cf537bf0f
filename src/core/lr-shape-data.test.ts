import { describe, expect, test } from 'vitest';
import {
  cycleMultiplier,
  peakUnit,
  shapeHasBoundaries,
  validateShape,
  type ShapeData,
} from './lr-schedule.js';

/**
 * Oracles written out by hand, independent of the module: linear warm-up from a start factor
 * (PyTorch's LinearLR: start + (1 − start) · i / W), then a constant factor per segment.
 */
const oracle =
  (warmup: number, start: number, milestones: number[], factors: number[]) =>
  (unit: number): number => {
    if (unit < warmup) return start + ((1 - start) * unit) / warmup;
    if (unit < milestones[0]!) return factors[0]!;
    if (unit < milestones[1]!) return factors[1]!;
    return factors[2]!;
  };

const shape = (over: Partial<ShapeData>): ShapeData => ({
  kind: 'segments',
  unit: 'epoch',
  warmup: 5,
  warmupStartFactor: 0.1,
  milestones: [30, 60],
  factors: [1, 0.2, 0.04],
  ...over,
});

describe('LR shapes written as data', () => {
  test('milestones in epochs: warm-up 5 epochs from 0.1, ×0.2 at 30, ×0.04 at 60 on 90 epochs', () => {
    const expected = oracle(5, 0.1, [30, 60], [1, 0.2, 0.04]);
    for (let e = 0; e < 90; e++)
      expect(cycleMultiplier(shape({}), e, 90)).toBeCloseTo(expected(e), 14);
    expect(cycleMultiplier(shape({}), 0, 90)).toBeCloseTo(0.1, 14);
    expect(cycleMultiplier(shape({}), 4, 90)).toBeCloseTo(0.82, 14);
    expect(peakUnit(shape({}), 90)).toBe(5);
  });
  test('milestones in epochs set per step: epoch e starts at step e · stepsPerEpoch', () => {
    const steps = 7;
    const expected = oracle(5 * steps, 0.1, [30 * steps, 60 * steps], [1, 0.2, 0.04]);
    for (let s = 0; s < 90 * steps; s += 3)
      expect(cycleMultiplier(shape({}), s, 90 * steps, 'round-half-up', steps)).toBeCloseTo(
        expected(s),
        14,
      );
    expect(cycleMultiplier(shape({}), 30 * steps - 1, 90 * steps, 'round-half-up', steps)).toBe(1);
    expect(cycleMultiplier(shape({}), 30 * steps, 90 * steps, 'round-half-up', steps)).toBe(0.2);
  });
  test('epochs are epochs: a milestone past a shorter cycle never comes in it', () => {
    const expected = oracle(5, 0.1, [30, Infinity], [1, 0.2, 0.04]);
    for (let e = 0; e < 40; e++)
      expect(cycleMultiplier(shape({}), e, 40)).toBeCloseTo(expected(e), 14);
  });
  test('milestones as fractions follow the boundary rule', () => {
    const fractions = shape({ unit: 'fraction', warmup: 0.1, milestones: [0.5, 0.75] });
    // 20 epochs: warm-up 2, drops at 10 and 15 under either rule.
    const twenty = oracle(2, 0.1, [10, 15], [1, 0.2, 0.04]);
    for (let e = 0; e < 20; e++)
      expect(cycleMultiplier(fractions, e, 20)).toBeCloseTo(twenty(e), 14);
    // 7 epochs: 0.7 → 1; 3.5 → 4 either way; 5.25 → 5 rounded, 6 by ceil.
    const rounded = oracle(1, 0.1, [4, 5], [1, 0.2, 0.04]);
    const ceiled = oracle(1, 0.1, [4, 6], [1, 0.2, 0.04]);
    for (let e = 0; e < 7; e++) {
      expect(cycleMultiplier(fractions, e, 7, 'round-half-up')).toBeCloseTo(rounded(e), 14);
      expect(cycleMultiplier(fractions, e, 7, 'ceil')).toBeCloseTo(ceiled(e), 14);
    }
    expect(shapeHasBoundaries(fractions)).toBe(true);
    expect(shapeHasBoundaries(shape({}))).toBe(false);
  });
  test('no warm-up and one segment is constant at its factor', () => {
    const flat = shape({ warmup: 0, milestones: [], factors: [0.5] });
    expect(Array.from({ length: 6 }, (_, e) => cycleMultiplier(flat, e, 6))).toEqual([
      0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
    ]);
  });
  test('malformed shapes are refused naming the field', () => {
    expect(() => validateShape(shape({ factors: [1, 0.1] }))).toThrow(
      /shape\.factors: expected 3 factors/,
    );
    expect(() => validateShape(shape({ factors: [1, 0.1, 0.5] }))).toThrow(/shape\.factors\[2\]/);
    expect(() => validateShape(shape({ milestones: [3, 60] }))).toThrow(
      /shape\.milestones\[0\]: expected a position after 5/,
    );
    expect(() => validateShape(shape({ milestones: [30.5, 60] }))).toThrow(
      /shape\.milestones\[0\]: expected an integer/,
    );
    expect(() =>
      validateShape(shape({ unit: 'fraction', warmup: 0.1, milestones: [0.5, 1] })),
    ).toThrow(/shape\.milestones\[1\]/);
    expect(() => validateShape(shape({ warmupStartFactor: 2 }))).toThrow(
      /shape\.warmupStartFactor/,
    );
  });
});
