/**
 * The experiment configuration: what a YAML file (after its preset) must say, validated with
 * zod so every error names its path ("method.sparsity: Too big: expected number to be <1").
 * Defaults live here, as zod defaults; a resolved configuration has every field filled, and
 * that is what a run stores and what its id is computed from.
 */

import { z } from 'zod';
import {
  BOUNDARY_RULES,
  CONVENTION_NAMES,
  LAYER_COUNT_RULES,
  LEVEL_RULES,
} from '../core/conventions.js';
import { COUNTING_RULES } from '../core/selection.js';
import { BACKENDS, PRECISIONS, TORCH_DEVICE_PATTERN } from '../engine/engine.js';
import type { MethodConfig } from '../methods/registry.js';
import { METHODS } from '../methods/registry.js';
import { MODEL_NAMES } from '../models/zoo.js';
import { trainingShapeSchema } from './lr-shape.js';

const sparsity = z.number().min(0).lt(1);
const positiveInt = z.number().int().min(1);

export const DATASETS = [
  'mnist',
  'fashion-mnist',
  'cifar10',
  'cifar100',
  'imagenet',
  'folder',
] as const;
export type DatasetChoice = (typeof DATASETS)[number];
/**
 * Data sets of image files read from `data.dir` (ImageNet's layout, docs/CONFIG.md), decoded and
 * resized per image; the others are pixel arrays of one fixed size.
 */
export const FILE_DATASETS = ['imagenet', 'folder'] as const satisfies readonly DatasetChoice[];
export function isFileDatasetName(name: DatasetChoice): name is (typeof FILE_DATASETS)[number] {
  return (FILE_DATASETS as readonly string[]).includes(name);
}
export { SHAPES } from './lr-shape.js';
export const AUGMENTATIONS = ['none', 'crop-flip', 'random-resized-crop-flip'] as const;
/** The crop a network sees on file data sets, unless `data.imageSize` says otherwise. */
export const DEFAULT_IMAGE_SIZE = 224;
/** torchvision's eval transform: the shorter side resized to 256/224 of the crop. */
export function defaultResize(imageSize: number): number {
  return Math.round((imageSize * 256) / 224);
}
/**
 * The largest batch a configuration may ask for: 64 Ki images (about 800 MB of float32 CIFAR
 * images, the buffers a step allocates); papers train with 4 Ki at most.
 */
export const MAX_BATCH_SIZE = 65_536;

export const modelSchema = z
  .object({
    name: z.enum(MODEL_NAMES),
    /** ResNet-18/50 only. */
    stem: z.enum(['cifar', 'imagenet']).optional(),
    prunable: z
      .object({
        first: z.boolean().default(true),
        last: z.boolean().default(true),
        shortcuts: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const dataSchema = z
  .object({
    dataset: z.enum(DATASETS),
    /**
     * Directory of the data set's files (Fashion-MNIST, CIFAR; ImageNet and folder: `train/` and
     * `val/` class folders or `train.txt`/`val.txt` lists); MNIST ships with the package.
     */
    dir: z.string().min(1).optional(),
    /** Train on a seeded subset of this many images per class (default: all). */
    trainPerClass: positiveInt.optional(),
    /** Evaluate on a seeded subset of this many test images per class (default: all). */
    testPerClass: positiveInt.optional(),
    labelNoise: z.number().min(0).lt(1).default(0),
    /**
     * Default: crop-flip on CIFAR, random-resized-crop-flip on ImageNet and folder data, none
     * otherwise (resolved from the data set).
     */
    augmentation: z.enum(AUGMENTATIONS).optional(),
    /**
     * ImageNet and folder only: the square crop the network sees (default 224). At most 4096: a
     * batch of larger crops would not fit a device's memory (and boxes are stored as int16).
     */
    imageSize: positiveInt.max(4096).optional(),
    /**
     * ImageNet and folder only: the evaluation transform's shorter side before its centre crop,
     * at least imageSize (default round(imageSize · 256/224): 256 for 224).
     */
    resize: positiveInt.max(8192).optional(),
  })
  .strict();

export const trainingSchema = z
  .object({
    backend: z.enum(BACKENDS).default('wasm'),
    /** The PyTorch engine's device (backend torch only; default cuda). */
    device: z
      .string()
      .regex(TORCH_DEVICE_PATTERN, { error: 'expected cpu, cuda, cuda:N or mps' })
      .optional(),
    /** The PyTorch engine's arithmetic (backend torch only; default fp32, TF32 off). */
    precision: z.enum(PRECISIONS).optional(),
    /** At most {@link MAX_BATCH_SIZE}; a batch larger than the training set is the whole set. */
    batchSize: positiveInt.max(MAX_BATCH_SIZE).default(128),
    peak: z.number().positive().max(10).default(0.1),
    shape: trainingShapeSchema.default('cifar-step-warmup'),
    granularity: z.enum(['epoch', 'step']).default('epoch'),
    epochsPerCycle: positiveInt.default(150),
    momentum: z.number().min(0).lt(1).default(0.9),
    nesterov: z.boolean().default(false),
    weightDecay: z.number().min(0).max(1).default(5e-4),
  })
  .strict();

/**
 * One object per method of `methods/registry.ts`, its options as the method defines them (with
 * their defaults, and for methods that name a scorer, that scorer's options flat beside it).
 */
export const methodSchema = z.discriminatedUnion(
  'name',
  METHODS.map((m) =>
    z
      .object({ name: z.literal(m.name) })
      .extend(m.options.shape)
      .strict(),
  ) as [z.ZodObject, ...z.ZodObject[]],
  // Built from the registry's schemas, so what it accepts is a MethodConfig.
) as unknown as z.ZodType<MethodConfig, Record<string, unknown>>;

/**
 * The integer rules to follow (`core/conventions.ts`): a preset's name, or rules — optionally on
 * top of a preset. Resolving keeps exactly the rules the run uses, filled from the preset (default
 * cyclesparse); a rule given by name that the run would not use is refused.
 */
const conventionRules = z
  .object({
    preset: z.enum(CONVENTION_NAMES).optional(),
    counting: z.enum(COUNTING_RULES).optional(),
    levels: z.enum(LEVEL_RULES).optional(),
    layerCounts: z.enum(LAYER_COUNT_RULES).optional(),
    lrBoundaries: z.enum(BOUNDARY_RULES).optional(),
  })
  .strict();

/** What a file may write (for the JSON Schema): a preset's name or rules. */
export const conventionsInputSchema = z.union([z.enum(CONVENTION_NAMES), conventionRules]);

/** A preset's name is read as `{ preset }`, so every error names its field. */
export const conventionsSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { preset: value } : value),
  conventionRules,
);

/** One run, fully resolved. */
export const runConfigSchema = z
  .object({
    model: modelSchema,
    data: dataSchema,
    training: trainingSchema.prefault({}),
    method: methodSchema,
    conventions: conventionsSchema.optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31)
      .default(0),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;
export type { MethodConfig };

/**
 * A sweep: the product of methods × sparsities × seeds × grid × zip over one base
 * configuration. `grid` and `zip` map a dotted key of the configuration (`training.peak`) to
 * the values it takes: every combination of the grid's lists, and the zip's lists side by side
 * (all of one length).
 */
export const sweepSchema = z
  .object({
    /**
     * Method settings merged over the base `method`, or replacing it when they name another
     * method (default: just the base method).
     */
    methods: z.array(z.record(z.string(), z.unknown())).min(1).optional(),
    /** Set as `sparsity` (PaI) or `targetSparsity` (iterative, coupling, SCULPT). */
    sparsities: z.array(sparsity).min(1).optional(),
    seeds: z.array(z.number().int().min(0)).min(1).optional(),
    /** Every combination of these keys' values (the cartesian product). */
    grid: z.record(z.string(), z.array(z.unknown()).min(1)).optional(),
    /** These keys' values taken together, the i-th of each list in the i-th cell. */
    zip: z.record(z.string(), z.array(z.unknown()).min(1)).optional(),
  })
  .strict();

export type SweepConfig = z.infer<typeof sweepSchema>;
