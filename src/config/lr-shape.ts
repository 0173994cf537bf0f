/**
 * `training.shape` as data, besides the named presets: what a file writes, and the schedule
 * module's shape it stands for (`core/lr-schedule.ts` owns the rule; this only reads the file).
 *
 *   shape: { unit: epoch, warmup: 5, warmupStartFactor: 0.1, milestones: [30, 60], factors: [1, 0.2, 0.04] }
 */

import { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import {
  CIFAR_STEP_WARMUP,
  CONSTANT,
  COSINE,
  IMAGENET_STEP_WARMUP,
  TRIANGULAR,
  validateShape,
  type AnyCycleShape,
  type CycleShape,
  type ShapeData,
} from '../core/lr-schedule.js';

export const SHAPES = [
  'cifar-step-warmup',
  'imagenet-step-warmup',
  'triangular',
  'cosine',
  'constant',
] as const;

/** The named shapes (the same table as config/build.ts's SCHEDULE_SHAPES). */
export const NAMED_SHAPES: Readonly<Record<(typeof SHAPES)[number], CycleShape>> = {
  'cifar-step-warmup': CIFAR_STEP_WARMUP,
  'imagenet-step-warmup': IMAGENET_STEP_WARMUP,
  triangular: TRIANGULAR,
  cosine: COSINE,
  constant: CONSTANT,
};

/** A shape as a file writes it (every field but `factors` has a default). */
export const shapeDataSchema = z
  .object({
    /** What `warmup` and `milestones` count: fractions of the cycle, or whole epochs. */
    unit: z.enum(['fraction', 'epoch']).default('fraction'),
    /** Warm-up length (0: none): linear from warmupStartFactor of the peak (PyTorch LinearLR). */
    warmup: z.number().min(0).default(0),
    warmupStartFactor: z.number().min(0).max(1).default(0.1),
    /** Where each segment after the first starts, increasing, after the warm-up. */
    milestones: z.array(z.number().min(0)).default([]),
    /** The peak's multiplier per segment (one more than milestones), each at most the one before. */
    factors: z.array(z.number().gt(0).max(1)).min(1),
  })
  .strict();
export type ShapeDataInput = z.infer<typeof shapeDataSchema>;

/** `training.shape`: a preset's name or a shape as data. */
export const trainingShapeSchema = z.union([z.enum(SHAPES), shapeDataSchema]);
export type TrainingShape = z.infer<typeof trainingShapeSchema>;

/** The schedule module's shape for `training.shape`. */
export function cycleShapeOf(shape: TrainingShape): AnyCycleShape {
  if (typeof shape === 'string') return NAMED_SHAPES[shape];
  const data: ShapeData = { kind: 'segments', ...shape };
  return data;
}

/**
 * What is wrong with a shape written as data on cycles of `epochsPerCycle` epochs, one line per
 * problem, each naming its field (`training.shape.milestones[1]: …`).
 */
export function shapeProblems(shape: TrainingShape, epochsPerCycle: number): string[] {
  if (typeof shape === 'string') return [];
  try {
    validateShape(cycleShapeOf(shape), 'training.shape');
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    return [error.message];
  }
  if (shape.unit !== 'epoch') return [];
  // A position at or past the cycle's end would never come: in a file that is a slip.
  const late = [
    ['warmup', shape.warmup] as const,
    ...shape.milestones.map((m, i) => [`milestones[${i}]`, m] as const),
  ].filter(([, at]) => at >= epochsPerCycle);
  return late.map(
    ([field, at]) =>
      `training.shape.${field}: expected an epoch below training.epochsPerCycle (${epochsPerCycle}), got ${at}`,
  );
}
