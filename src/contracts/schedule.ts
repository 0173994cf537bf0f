/**
 * The learning-rate schedule contracts. A cyclic schedule restarts one cycle shape C times; the
 * shape is declared on fractions of a cycle, so laws hold for any cycle length:
 * - the schedule runs exactly Σ cycle epochs × steps per epoch steps;
 * - cycles of equal length repeat the same rates (the restart is complete);
 * - each cycle reaches the peak where the shape declares it and never exceeds it;
 * - inside a cycle the rate never falls before the peak and never rises after it;
 * - with per-epoch granularity the rate is constant inside each epoch;
 * - the one-cycle control runs the same number of steps in a single unimodal cycle.
 * And the budget contract for splitting E epochs into C cycles: C positive integer lengths that
 * sum to exactly E (the invariant TurboPrune's splitter breaks, research/peers.md §1.10).
 */

import fc from 'fast-check';
import {
  CIFAR_STEP_WARMUP,
  CONSTANT,
  IMAGENET_STEP_WARMUP,
  TRIANGULAR,
  oneCycleControl,
  peakUnit,
  splitBudget,
  type CycleShape,
  type ScheduleSpec,
} from '../core/lr-schedule.js';
import { expectThat, law, type Law } from './law.js';

export interface ScheduleUnderTest {
  readonly totalSteps: number;
  learningRateAt(step: number): number;
}

export type ScheduleFactory = (spec: ScheduleSpec) => ScheduleUnderTest;

const fraction = (max = 1) => fc.double({ min: 0, max, maxExcluded: true, noNaN: true });

/** Every kind of cycle shape, the paper's presets and random ones. */
export function cycleShapeArbitrary(): fc.Arbitrary<CycleShape> {
  const stepShape = fc
    .record({
      warmupFraction: fc.oneof(fc.constant(0), fraction(0.5)),
      warmup: fc.constantFrom('linear' as const, 'constant' as const),
      warmupFactor: fc.double({ min: 0.01, max: 1, noNaN: true }),
      drops: fc.array(fc.tuple(fraction(), fc.double({ min: 0.01, max: 1, noNaN: true })), {
        maxLength: 3,
      }),
    })
    .map(({ warmupFraction, warmup, warmupFactor, drops }): CycleShape => {
      // Milestones strictly after the warm-up, in order, with non-increasing factors.
      const ats = [...new Set(drops.map(([at]) => warmupFraction + (1 - warmupFraction) * at))]
        .filter((at) => at > warmupFraction && at < 1)
        .sort((a, b) => a - b);
      let factor = 1;
      const milestones = ats.map((at, i) => {
        factor *= drops[i]![1];
        return { at, factor };
      });
      return warmup === 'linear'
        ? { kind: 'step', warmupFraction, warmup, milestones }
        : { kind: 'step', warmupFraction, warmup, warmupFactor, milestones };
    });
  return fc.oneof(
    fc.constantFrom(CIFAR_STEP_WARMUP, IMAGENET_STEP_WARMUP, TRIANGULAR, CONSTANT),
    stepShape,
    fc.record({
      kind: fc.constant('cosine' as const),
      warmupFraction: fc.oneof(fc.constant(0), fraction(0.5)),
      minFactor: fraction(),
    }),
    fc.record({
      kind: fc.constant('triangular' as const),
      startFactor: fc.double({ min: 0, max: 1, noNaN: true }),
      peakAt: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  );
}

/** Schedules of 1–5 cycles: equal lengths, or a total budget split unevenly. */
/** Where a cycle's fractions start: cyclesparse's round-half-up, or peers' ceil. */
export type ScheduleBoundaries = 'round-half-up' | 'ceil';

export function scheduleSpecArbitrary(
  boundaries: ScheduleBoundaries = 'round-half-up',
): fc.Arbitrary<ScheduleSpec> {
  return fc
    .record({
      peak: fc.double({ min: 1e-4, max: 1, noNaN: true }),
      shape: cycleShapeArbitrary(),
      granularity: fc.constantFrom('epoch' as const, 'step' as const),
      stepsPerEpoch: fc.integer({ min: 1, max: 12 }),
      cycles: fc.integer({ min: 1, max: 5 }),
      epochs: fc.integer({ min: 1, max: 40 }),
      split: fc.boolean(),
    })
    .map(({ peak, shape, granularity, stepsPerEpoch, cycles, epochs, split }) => ({
      peak,
      shape,
      granularity,
      stepsPerEpoch,
      cycleEpochs: split
        ? splitBudget(Math.max(cycles, epochs * cycles - (epochs > 1 ? 1 : 0)), cycles)
        : Array.from({ length: cycles }, () => epochs),
      ...(boundaries === 'round-half-up' ? {} : { boundaries }),
    }));
}

function cycleRates(schedule: ScheduleUnderTest, spec: ScheduleSpec): number[][] {
  let step = 0;
  return spec.cycleEpochs.map((epochs) => {
    const rates = Array.from({ length: epochs * spec.stepsPerEpoch }, (_, i) =>
      schedule.learningRateAt(step + i),
    );
    step += rates.length;
    return rates;
  });
}

/** Within `1e-12` relative: rates are products of floats, so exact equality is too strict. */
function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

function unimodalIn(rates: readonly number[], peakIndex: number, label: string): void {
  for (let i = 1; i < rates.length; i++) {
    const rising = i <= peakIndex;
    expectThat(
      rising
        ? rates[i]! >= rates[i - 1]! || close(rates[i]!, rates[i - 1]!)
        : rates[i]! <= rates[i - 1]! || close(rates[i]!, rates[i - 1]!),
      () =>
        `${label}: step ${i} ${rising ? 'falls' : 'rises'} (${rates[i - 1]} → ${rates[i]}) ${rising ? 'before' : 'after'} the peak at ${peakIndex}`,
    );
  }
}

export function scheduleContract(
  build: ScheduleFactory,
  options: { readonly boundaries?: ScheduleBoundaries } = {},
): Law[] {
  const specs = scheduleSpecArbitrary(options.boundaries);
  const peakIndex = (spec: ScheduleSpec, epochs: number) => {
    const units = spec.granularity === 'epoch' ? epochs : epochs * spec.stepsPerEpoch;
    const unit = peakUnit(spec.shape, units, options.boundaries);
    return spec.granularity === 'epoch' ? unit * spec.stepsPerEpoch : unit;
  };
  return [
    law('runs exactly the sum of cycle epochs times steps per epoch', specs, (spec) => {
      const expected = spec.cycleEpochs.reduce((a, b) => a + b, 0) * spec.stepsPerEpoch;
      const got = build(spec).totalSteps;
      expectThat(got === expected, () => `${got} steps, expected ${expected}`);
    }),
    law('gives finite rates in [0, peak]', specs, (spec) => {
      const rates = cycleRates(build(spec), spec).flat();
      rates.forEach((rate, step) =>
        expectThat(
          Number.isFinite(rate) && rate >= 0 && (rate <= spec.peak || close(rate, spec.peak)),
          () => `step ${step}: rate ${rate} outside [0, ${spec.peak}]`,
        ),
      );
    }),
    law('repeats the same rates in every cycle of the same length', specs, (spec) => {
      const cycles = cycleRates(build(spec), spec);
      cycles.forEach((rates, c) => {
        const first = cycles.findIndex((other) => other.length === rates.length);
        rates.forEach((rate, i) =>
          expectThat(
            close(rate, cycles[first]![i]!),
            () => `cycle ${c} step ${i}: ${rate}, but cycle ${first} had ${cycles[first]![i]}`,
          ),
        );
      });
    }),
    law(
      'reaches the peak where the shape declares it, rising before and falling after',
      specs,
      (spec) => {
        cycleRates(build(spec), spec).forEach((rates, c) => {
          const peak = peakIndex(spec, spec.cycleEpochs[c]!);
          expectThat(
            close(rates[peak]!, spec.peak),
            () =>
              `cycle ${c}: rate ${rates[peak]} at declared peak step ${peak}, expected ${spec.peak}`,
          );
          unimodalIn(rates, peak, `cycle ${c}`);
        });
      },
    ),
    law('holds the rate constant inside each epoch when set per epoch', specs, (spec) => {
      fc.pre(spec.granularity === 'epoch');
      cycleRates(build(spec), spec)
        .flat()
        .forEach((rate, step, all) => {
          if (step % spec.stepsPerEpoch !== 0) {
            expectThat(
              rate === all[step - 1],
              () => `step ${step} changes the rate inside an epoch`,
            );
          }
        });
    }),
    law('has a one-cycle control of the same total length that never restarts', specs, (spec) => {
      const control = oneCycleControl(spec);
      const schedule = build(control);
      expectThat(
        schedule.totalSteps === build(spec).totalSteps,
        () => `control runs ${schedule.totalSteps} steps, cyclic ${build(spec).totalSteps}`,
      );
      const [rates] = cycleRates(schedule, control);
      unimodalIn(rates!, peakIndex(control, control.cycleEpochs[0]!), 'control');
    }),
  ];
}

export type BudgetSplitter = (totalEpochs: number, cycles: number) => readonly number[];

export function budgetContract(split: BudgetSplitter): Law[] {
  const budgets = fc
    .integer({ min: 1, max: 12 })
    .chain((cycles) => fc.tuple(fc.integer({ min: cycles, max: 1000 }), fc.constant(cycles)));
  return [
    law(
      'splits the budget into the requested number of positive integer cycles',
      budgets,
      ([total, cycles]) => {
        const lengths = split(total, cycles);
        expectThat(lengths.length === cycles, () => `${lengths.length} cycles, expected ${cycles}`);
        lengths.forEach((e, i) =>
          expectThat(Number.isInteger(e) && e >= 1, () => `cycle ${i} has ${e} epochs`),
        );
      },
    ),
    law('conserves the epoch budget exactly', budgets, ([total, cycles]) => {
      const lengths = split(total, cycles);
      const sum = lengths.reduce((a, b) => a + b, 0);
      expectThat(
        sum === total,
        () => `${cycles} cycles of [${lengths.join(', ')}] sum to ${sum}, not ${total}`,
      );
    }),
    law('makes cycle lengths differ by at most one epoch', budgets, ([total, cycles]) => {
      const lengths = split(total, cycles);
      expectThat(
        Math.max(...lengths) - Math.min(...lengths) <= 1,
        () => `uneven cycles [${lengths.join(', ')}]`,
      );
    }),
  ];
}
