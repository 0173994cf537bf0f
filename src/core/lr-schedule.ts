/**
 * Learning-rate schedules as pure functions of the global step.
 *
 * A cycle's shape is declared on fractions of the cycle and evaluated on integer units (epochs
 * or steps, the granularity): each fraction f becomes the unit boundary roundHalfUp(f · U) for a
 * cycle of U units, with the counting rule of `selection.ts`. So the CIFAR shape (warm-up 10/150,
 * drops at 70/150 and 130/150) gives exactly epochs 0–9 / 10–69 / 70–129 / 130–149 on a 150-epoch
 * cycle, and the same shape, scaled, on a 3-epoch one. Integer boundaries make "where the peak
 * is" a unit index, not a float comparison.
 *
 * Peer libraries compare `step >= f * total` instead, which starts a boundary at ceil(f · U):
 * `boundaries: 'ceil'` (`conventions.ts`) gives that, e.g. drops at epochs 42 and 77 of an
 * 88-epoch cycle rather than 41 and 76.
 *
 * A schedule is a list of cycles (lengths in epochs) sharing one shape: C equal cycles for cyclic
 * training, one cycle of the summed length for the one-cycle control, or a total budget split
 * into cycles that sums back to it exactly.
 *
 * Besides the named shapes, a shape may be written as data (`segments`): an optional linear
 * warm-up then piecewise-constant factors, its positions as fractions of the cycle (placed by the
 * boundary rule, as above) or as whole epochs (placed exactly: epoch e starts at unit e, or at
 * step e · stepsPerEpoch when the rate is set per step; a position past a cycle's end never
 * comes in that cycle).
 */

import { BOUNDARY_RULES, type BoundaryRule } from './conventions.js';
import { InvalidArgumentError, requireInteger, requireNumber } from './errors.js';
import { roundHalfUp } from './selection.js';

export type CycleShape =
  | ShapeData
  | { readonly kind: 'constant' }
  | {
      /** Warm-up then piecewise-constant drops (CIFAR and ImageNet step schedules). */
      readonly kind: 'step';
      /** Fraction of the cycle spent warming up (0 for none). */
      readonly warmupFraction: number;
      /**
       * `linear`: unit i of W warm-up units runs at (i + 1)/W of the peak (the peak is reached on
       * the last warm-up unit). `constant`: warm-up units run at `warmupFactor` of the peak.
       */
      readonly warmup: 'linear' | 'constant';
      readonly warmupFactor?: number;
      /** From unit roundHalfUp(at · U) on, the multiplier is `factor` (not cumulative). */
      readonly milestones: readonly { readonly at: number; readonly factor: number }[];
    }
  | {
      /** Optional linear warm-up ((i + 1)/W), then cosine from 1 down towards `minFactor`. */
      readonly kind: 'cosine';
      readonly warmupFraction: number;
      readonly minFactor: number;
    }
  | {
      /** `startFactor` → 1 linearly up to unit W = roundHalfUp(peakAt · U), then 1 → 0 linearly. */
      readonly kind: 'triangular';
      readonly startFactor: number;
      readonly peakAt: number;
    };

/** A shape written as data (`training.shape: { … }`, config/lr-shape.ts). */
export type ShapeData = {
  /**
   * A shape as data: W warm-up units at startFactor + (1 − startFactor) · i / W of the peak
   * (PyTorch's LinearLR), then `factors[0]` from the end of the warm-up and `factors[k + 1]`
   * from `milestones[k]` on: one factor more than milestones.
   */
  readonly kind: 'segments';
  /** What `warmup` and `milestones` count: fractions of the cycle, or epochs. */
  readonly unit: 'fraction' | 'epoch';
  /** Length of the warm-up (0 for none). */
  readonly warmup: number;
  readonly warmupStartFactor: number;
  /** Where each segment after the first starts, increasing, after the warm-up. */
  readonly milestones: readonly number[];
  /** The peak's multiplier in each segment: in (0, 1], each at most the one before. */
  readonly factors: readonly number[];
};

/** Any shape the rules below evaluate: a named one's or one written as data. */
export type AnyCycleShape = CycleShape | ShapeData;

/** CIFAR step-warmup (150 epochs in the paper): warm-up 10, ×0.1 at 70, ×0.01 at 130. */
export const CIFAR_STEP_WARMUP: CycleShape = Object.freeze({
  kind: 'step',
  warmupFraction: 10 / 150,
  warmup: 'linear',
  milestones: Object.freeze([
    Object.freeze({ at: 70 / 150, factor: 0.1 }),
    Object.freeze({ at: 130 / 150, factor: 0.01 }),
  ]),
});

/** ImageNet (90 epochs): 10 epochs at 0.1 of the peak, then the peak, ×0.1 at 40, ×0.01 at 70. */
export const IMAGENET_STEP_WARMUP: CycleShape = Object.freeze({
  kind: 'step',
  warmupFraction: 10 / 90,
  warmup: 'constant',
  warmupFactor: 0.1,
  milestones: Object.freeze([
    Object.freeze({ at: 40 / 90, factor: 0.1 }),
    Object.freeze({ at: 70 / 90, factor: 0.01 }),
  ]),
});

/** The authors' later per-step triangle: 0.2 → 1 over the first 20%, then 1 → 0. */
export const TRIANGULAR: CycleShape = Object.freeze({
  kind: 'triangular',
  startFactor: 0.2,
  peakAt: 0.2,
});

export const COSINE: CycleShape = Object.freeze({
  kind: 'cosine',
  warmupFraction: 0,
  minFactor: 0,
});
export const CONSTANT: CycleShape = Object.freeze({ kind: 'constant' });

/** Rejects malformed shapes with the failing field named (`shape.milestones[1].at`, ...). */
export function validateShape<S extends AnyCycleShape>(shape: S, argument = 'shape'): S {
  const fraction = (name: string, value: number, openMax = false) =>
    requireNumber(`${argument}.${name}`, value, { min: 0, max: 1, openMax });
  switch (shape.kind) {
    case 'constant':
      return shape;
    case 'step': {
      fraction('warmupFraction', shape.warmupFraction, true);
      if (shape.warmup !== 'linear' && shape.warmup !== 'constant') {
        throw new InvalidArgumentError(
          `${argument}.warmup`,
          "'linear' or 'constant'",
          shape.warmup,
        );
      }
      if (shape.warmup === 'constant') {
        requireNumber(`${argument}.warmupFactor`, shape.warmupFactor ?? Number.NaN, {
          min: 0,
          max: 1,
          openMin: true,
        });
      }
      let previous = shape.warmupFraction;
      let previousFactor = 1; // drops only: each factor at most the one before
      shape.milestones.forEach(({ at, factor }, i) => {
        const at_ = requireNumber(`${argument}.milestones[${i}].at`, at, {
          min: 0,
          max: 1,
          openMax: true,
        });
        if (!(at_ > previous)) {
          throw new InvalidArgumentError(
            `${argument}.milestones[${i}].at`,
            `a fraction above ${previous} (after the warm-up and the previous milestone)`,
            at,
          );
        }
        previous = at_;
        requireNumber(`${argument}.milestones[${i}].factor`, factor, {
          min: 0,
          max: previousFactor,
          openMin: true,
        });
        previousFactor = factor;
      });
      return shape;
    }
    case 'cosine':
      fraction('warmupFraction', shape.warmupFraction, true);
      requireNumber(`${argument}.minFactor`, shape.minFactor, { min: 0, max: 1, openMax: true });
      return shape;
    case 'triangular':
      requireNumber(`${argument}.startFactor`, shape.startFactor, { min: 0, max: 1 });
      fraction('peakAt', shape.peakAt);
      return shape;
    case 'segments':
      validateSegments(shape, argument);
      return shape;
    default: {
      const kind: unknown = (shape as { kind: unknown }).kind;
      throw new InvalidArgumentError(
        `${argument}.kind`,
        "one of 'constant', 'step', 'cosine', 'triangular', 'segments'",
        kind,
      );
    }
  }
}

type Segments = ShapeData;

function validateSegments(shape: Segments, argument: string): void {
  if (shape.unit !== 'fraction' && shape.unit !== 'epoch')
    throw new InvalidArgumentError(`${argument}.unit`, "'fraction' or 'epoch'", shape.unit);
  const epochs = shape.unit === 'epoch';
  // A position: a fraction in [0, 1), or a whole epoch.
  const position = (name: string, value: number) =>
    epochs
      ? requireInteger(`${argument}.${name}`, value, 0)
      : requireNumber(`${argument}.${name}`, value, { min: 0, max: 1, openMax: true });
  position('warmup', shape.warmup);
  requireNumber(`${argument}.warmupStartFactor`, shape.warmupStartFactor, { min: 0, max: 1 });
  // Lists checked as unknown values: a shape may come from a file.
  const milestones: unknown = shape.milestones;
  const factors: unknown = shape.factors;
  if (!Array.isArray(milestones))
    throw new InvalidArgumentError(`${argument}.milestones`, 'a list', milestones);
  let previous = shape.warmup;
  shape.milestones.forEach((at: number, i) => {
    position(`milestones[${i}]`, at);
    if (!(at > previous))
      throw new InvalidArgumentError(
        `${argument}.milestones[${i}]`,
        `a position after ${previous} (after the warm-up and the previous milestone)`,
        at,
      );
    previous = at;
  });
  if (!Array.isArray(factors) || factors.length !== shape.milestones.length + 1)
    throw new InvalidArgumentError(
      `${argument}.factors`,
      `${shape.milestones.length + 1} factors (one per segment: one more than milestones)`,
      factors,
    );
  let previousFactor = 1; // drops only, as the named step shapes: the peak stays the largest rate
  shape.factors.forEach((factor: number, i) => {
    requireNumber(`${argument}.factors[${i}]`, factor, {
      min: 0,
      max: previousFactor,
      openMin: true,
    });
    previousFactor = factor;
  });
}

/** Whether the boundary rule can change this shape's schedule (it has a fraction to place). */
export function shapeHasBoundaries(shape: AnyCycleShape): boolean {
  switch (shape.kind) {
    case 'constant':
      return false;
    case 'cosine':
      return shape.warmupFraction > 0;
    case 'segments':
      return shape.unit === 'fraction' && (shape.warmup > 0 || shape.milestones.length > 0);
    default:
      return true;
  }
}

/** The unit index where a fraction of a U-unit cycle starts. */
function boundary(fraction: number, units: number, rule: BoundaryRule): number {
  const at = fraction * units;
  return Math.min(units, rule === 'ceil' ? Math.ceil(at) : roundHalfUp(at));
}

function requireBoundaryRule(rule: BoundaryRule): BoundaryRule {
  if (!(BOUNDARY_RULES as readonly string[]).includes(rule))
    throw new InvalidArgumentError('boundaries', `one of ${BOUNDARY_RULES.join(', ')}`, rule);
  return rule;
}

/**
 * Unit boundaries of a shape on a `units`-unit cycle: the warm-up length, the first unit at the
 * peak, and (step shapes) where each milestone starts. Short cycles keep the declared order:
 * warm-ups that ramp to a separate peak unit leave it room, and no milestone starts before the
 * unit after the peak, so every cycle runs at least one unit at the peak. `unitsPerEpoch` places
 * positions given in epochs (segments with unit epoch): the steps per epoch when the rate is set
 * per step, else 1.
 */
export function shapeBoundaries(
  shape: AnyCycleShape,
  units: number,
  rule: BoundaryRule = 'round-half-up',
  unitsPerEpoch = 1,
): { warmup: number; peak: number; milestones: number[] } {
  requireBoundaryRule(rule);
  switch (shape.kind) {
    case 'segments': {
      requireInteger('unitsPerEpoch', unitsPerEpoch, 1);
      const place = (at: number) =>
        shape.unit === 'epoch' ? Math.min(units, at * unitsPerEpoch) : boundary(at, units, rule);
      // As the step shapes: the warm-up leaves the cycle at least one unit after it, and no
      // milestone starts before the unit after the peak.
      const warmup = Math.min(place(shape.warmup), units - 1);
      let previous = warmup + 1;
      const milestones = shape.milestones.map((at) => {
        previous = Math.max(previous, place(at));
        return previous;
      });
      return { warmup, peak: warmup, milestones };
    }
    case 'constant':
      return { warmup: 0, peak: 0, milestones: [] };
    case 'cosine': {
      const warmup = boundary(shape.warmupFraction, units, rule);
      return { warmup, peak: Math.max(0, warmup - 1), milestones: [] };
    }
    case 'triangular': {
      const warmup = Math.min(boundary(shape.peakAt, units, rule), units - 1);
      return { warmup, peak: warmup, milestones: [] };
    }
    case 'step': {
      const linear = shape.warmup === 'linear';
      const warmup = Math.min(
        boundary(shape.warmupFraction, units, rule),
        linear ? units : units - 1,
      );
      const peak = linear ? Math.max(0, warmup - 1) : warmup;
      let previous = peak + 1;
      const milestones = shape.milestones.map(({ at }) => {
        previous = Math.max(previous, boundary(at, units, rule));
        return previous;
      });
      return { warmup, peak, milestones };
    }
  }
}

/**
 * The first unit that runs at the peak (multiplier 1). Units before it are the warm-up
 * (non-decreasing); units from it on never increase.
 */
export function peakUnit(
  shape: AnyCycleShape,
  units: number,
  rule: BoundaryRule = 'round-half-up',
  unitsPerEpoch = 1,
): number {
  requireInteger('units', units, 1);
  return shapeBoundaries(shape, units, rule, unitsPerEpoch).peak;
}

/** Multiplier of the peak learning rate for unit `unit` of a `units`-unit cycle. */
export function cycleMultiplier(
  shape: AnyCycleShape,
  unit: number,
  units: number,
  rule: BoundaryRule = 'round-half-up',
  unitsPerEpoch = 1,
): number {
  requireInteger('units', units, 1);
  requireInteger('unit', unit, 0, units - 1);
  const { warmup: w, milestones } = shapeBoundaries(shape, units, rule, unitsPerEpoch);
  switch (shape.kind) {
    case 'segments': {
      if (unit < w) return shape.warmupStartFactor + ((1 - shape.warmupStartFactor) * unit) / w;
      let segment = 0;
      milestones.forEach((at, i) => {
        if (unit >= at) segment = i + 1;
      });
      return shape.factors[segment]!;
    }
    case 'constant':
      return 1;
    case 'step': {
      if (unit < w) return shape.warmup === 'linear' ? (unit + 1) / w : shape.warmupFactor!;
      let factor = 1;
      shape.milestones.forEach((m, i) => {
        if (unit >= milestones[i]!) factor = m.factor;
      });
      return factor;
    }
    case 'cosine': {
      if (unit < w) return (unit + 1) / w;
      const progress = (unit - w) / (units - w);
      return shape.minFactor + (1 - shape.minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case 'triangular': {
      if (unit < w) return shape.startFactor + ((1 - shape.startFactor) * unit) / w;
      return (units - unit) / (units - w);
    }
  }
}

export type Granularity = 'epoch' | 'step';

export interface ScheduleSpec {
  /** Peak learning rate. */
  readonly peak: number;
  readonly shape: CycleShape;
  /** `epoch`: the rate is set once per epoch (the paper's CIFAR runs); `step`: every step. */
  readonly granularity: Granularity;
  readonly stepsPerEpoch: number;
  /** Length of each cycle in epochs; the shape restarts at each cycle. */
  readonly cycleEpochs: readonly number[];
  /** Where a fraction of a cycle starts (default round-half-up; see the module comment). */
  readonly boundaries?: BoundaryRule;
}

export interface SchedulePosition {
  readonly cycle: number;
  readonly stepInCycle: number;
  readonly epochInCycle: number;
  /** Index of the unit (epoch or step, by granularity) inside the cycle. */
  readonly unit: number;
  readonly unitsInCycle: number;
}

/** A validated schedule: `learningRateAt(step)` for every step of every cycle. */
export class LrSchedule {
  readonly spec: ScheduleSpec;
  readonly totalSteps: number;
  readonly totalEpochs: number;
  /** First global step of each cycle. */
  readonly cycleStarts: readonly number[];

  constructor(spec: ScheduleSpec) {
    requireNumber('peak', spec.peak, { min: 0, max: Number.MAX_VALUE, openMin: true });
    validateShape(spec.shape);
    if (spec.granularity !== 'epoch' && spec.granularity !== 'step') {
      throw new InvalidArgumentError('granularity', "'epoch' or 'step'", spec.granularity);
    }
    requireInteger('stepsPerEpoch', spec.stepsPerEpoch, 1);
    if (spec.boundaries !== undefined) requireBoundaryRule(spec.boundaries);
    const cycleEpochs: unknown = spec.cycleEpochs;
    if (!Array.isArray(cycleEpochs) || cycleEpochs.length === 0) {
      throw new InvalidArgumentError(
        'cycleEpochs',
        'a non-empty list of cycle lengths',
        spec.cycleEpochs,
      );
    }
    spec.cycleEpochs.forEach((e, i) => requireInteger(`cycleEpochs[${i}]`, e, 1));
    this.spec = spec;
    const starts: number[] = [];
    let step = 0;
    for (const epochs of spec.cycleEpochs) {
      starts.push(step);
      step += epochs * spec.stepsPerEpoch;
    }
    this.cycleStarts = starts;
    this.totalSteps = step;
    this.totalEpochs = spec.cycleEpochs.reduce((a, b) => a + b, 0);
  }

  get cycles(): number {
    return this.spec.cycleEpochs.length;
  }

  /** Steps in cycle `cycle`. */
  cycleSteps(cycle: number): number {
    requireInteger('cycle', cycle, 0, this.cycles - 1);
    return this.spec.cycleEpochs[cycle]! * this.spec.stepsPerEpoch;
  }

  positionAt(step: number): SchedulePosition {
    requireInteger('step', step, 0, this.totalSteps - 1);
    let lo = 0;
    let hi = this.cycleStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.cycleStarts[mid]! <= step) lo = mid;
      else hi = mid - 1;
    }
    const stepInCycle = step - this.cycleStarts[lo]!;
    const epochInCycle = Math.floor(stepInCycle / this.spec.stepsPerEpoch);
    const byEpoch = this.spec.granularity === 'epoch';
    return {
      cycle: lo,
      stepInCycle,
      epochInCycle,
      unit: byEpoch ? epochInCycle : stepInCycle,
      unitsInCycle: byEpoch ? this.spec.cycleEpochs[lo]! : this.cycleSteps(lo),
    };
  }

  /** Units (epochs or steps) per epoch: where a position given in epochs starts. */
  private get unitsPerEpoch(): number {
    return this.spec.granularity === 'step' ? this.spec.stepsPerEpoch : 1;
  }

  multiplierAt(step: number): number {
    const { unit, unitsInCycle } = this.positionAt(step);
    return cycleMultiplier(
      this.spec.shape,
      unit,
      unitsInCycle,
      this.spec.boundaries,
      this.unitsPerEpoch,
    );
  }

  learningRateAt(step: number): number {
    return this.spec.peak * this.multiplierAt(step);
  }

  /** First global step of cycle `cycle` that runs at the peak. */
  peakStep(cycle: number): number {
    requireInteger('cycle', cycle, 0, this.cycles - 1);
    const units =
      this.spec.granularity === 'epoch' ? this.spec.cycleEpochs[cycle]! : this.cycleSteps(cycle);
    const unit = peakUnit(this.spec.shape, units, this.spec.boundaries, this.unitsPerEpoch);
    return (
      this.cycleStarts[cycle]! +
      (this.spec.granularity === 'epoch' ? unit * this.spec.stepsPerEpoch : unit)
    );
  }
}

/** C cycles of `epochsPerCycle` epochs each. */
export function cyclicEpochs(epochsPerCycle: number, cycles: number): number[] {
  requireInteger('epochsPerCycle', epochsPerCycle, 1);
  requireInteger('cycles', cycles, 1);
  return Array.from({ length: cycles }, () => epochsPerCycle);
}

/**
 * Splits a total epoch budget into `cycles` cycles that sum to it exactly; lengths differ by at
 * most one epoch, the longer cycles first.
 */
export function splitBudget(totalEpochs: number, cycles: number): number[] {
  requireInteger('cycles', cycles, 1);
  requireInteger('totalEpochs', totalEpochs, cycles);
  const base = Math.floor(totalEpochs / cycles);
  const extra = totalEpochs - base * cycles;
  return Array.from({ length: cycles }, (_, i) => base + (i < extra ? 1 : 0));
}

/** The one-cycle control of a cyclic schedule: one cycle as long as all of them together. */
export function oneCycleControl(spec: ScheduleSpec): ScheduleSpec {
  return { ...spec, cycleEpochs: [spec.cycleEpochs.reduce((a, b) => a + b, 0)] };
}
