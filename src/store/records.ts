/**
 * What the store reads, as zod schemas: every file of a run directory is checked against one of
 * these before anything trusts it. The store owns them (it does not import the runner): the
 * harness, which writes the runner's records through the store and hands stored ones back to it,
 * checks at compile time that the two agree.
 *
 * Versions: the plain JSON files (config.json, result.json, metrics lines, failed.json, lock) do
 * not carry one — they are version 1, and a file saying `version: 2` or later is refused rather
 * than misread. The state directories (checkpoint/, cycles/<k>/) say their version.
 * Fields a file has beyond these are dropped on reading, so additions keep the version.
 */

import { z } from 'zod';
import { BOUNDARY_RULES } from '../core/conventions.js';
import { maskJsonSchema, type MaskJson } from '../core/mask.js';
import { runConfigSchema } from '../config/schema.js';
import { backendSchema, checkpointSchema, positionSchema } from '../train/checkpoint.js';
import type { Versions } from '../train/state-files.js';

/**
 * Read-only all the way down: what the store hands out is not to be changed in place. Masks keep
 * the type `core/mask.ts` gives them, as in the runner's records.
 */
export type Frozen<T> = T extends MaskJson
  ? MaskJson
  : T extends readonly (infer E)[]
    ? readonly Frozen<E>[]
    : T extends object
      ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T;

const count = z.number().int().nonnegative();
/** A cross-entropy loss, never negative; JSON writes a non-finite one as null: it reads back as NaN. */
const loss = z
  .number()
  .nonnegative()
  .or(z.null().transform(() => Number.NaN));
/** Accuracies and sparsities are fractions. */
const fraction = z.number().min(0).max(1);
const nonnegative = z.number().nonnegative();
const summary = z.object({ final: fraction, best: fraction });
const lossSummary = z.object({ final: loss, best: loss });

/**
 * A metrics line. `run` (the run's id) and `at` (when the line was written, ISO 8601 UTC) are
 * written since results export (issue 17): lines written before them read without.
 */
export const epochSchema = z.object({
  run: z.string().exactOptional(),
  at: z.string().exactOptional(),
  phase: z.string(),
  level: count,
  metrics: z.object({
    epoch: count,
    cycle: count,
    trainLoss: loss,
    trainAccuracy: fraction,
    learningRate: nonnegative,
    steps: count,
    seconds: nonnegative,
  }),
  test: z.object({ loss, accuracy: fraction }),
});

const cycleSchema = z.object({
  phase: z.string(),
  level: count,
  cycle: count,
  epochs: count,
  steps: count,
  sparsity: fraction,
  layers: z.array(z.object({ name: z.string(), size: count, kept: count, sparsity: fraction })),
  trainLoss: lossSummary,
  trainAccuracy: summary,
  testLoss: lossSummary,
  testAccuracy: summary,
  flopsDense: nonnegative,
  flopsSparse: nonnegative,
});

const levelSchema = z.object({
  level: count,
  label: z.string(),
  sparsity: fraction,
  mask: maskJsonSchema,
});

const costSchema = z.object({
  epochs: count,
  steps: count,
  flopsDense: nonnegative,
  flopsSparse: nonnegative,
});

/** A cycle's learning-rate shape as the runner records it (`core/lr-schedule.ts` CycleShape). */
const cycleShapeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant') }),
  z.object({
    kind: z.literal('step'),
    warmupFraction: z.number(),
    warmup: z.enum(['linear', 'constant']),
    warmupFactor: z.number().exactOptional(),
    milestones: z.array(z.object({ at: z.number(), factor: z.number() })),
  }),
  z.object({ kind: z.literal('cosine'), warmupFraction: z.number(), minFactor: z.number() }),
  z.object({ kind: z.literal('triangular'), startFactor: z.number(), peakAt: z.number() }),
  z.object({
    kind: z.literal('segments'),
    unit: z.enum(['fraction', 'epoch']),
    warmup: z.number(),
    warmupStartFactor: z.number(),
    milestones: z.array(z.number()),
    factors: z.array(z.number()),
  }),
]);

/**
 * Where and how a run was produced, written with result.json since results export (issue 17);
 * results written before it read without (`provenance` absent).
 */
export const provenanceSchema = z.object({
  /** When the process that finished the run started training it (ISO 8601, UTC). */
  started: z.string(),
  /** When the run finished (just before result.json was written). */
  finished: z.string(),
  /** Epochs already stored when that process started (0: trained in one go; >0: resumed). */
  resumedAfter: count,
  /** The cyclesparse version (package.json). */
  version: z.string(),
  /** The git commit of the checkout cyclesparse ran from; null when not run from one. */
  commit: z.string().nullable(),
  host: z.string(),
  /** The backend and threads the engine actually used (as `backend` says, repeated flat). */
  backend: z.string(),
  threads: z.number(),
});

export const resultSchema = z.object({
  method: z.string(),
  options: z.record(z.string(), z.unknown()),
  setup: z.object({
    model: z.string(),
    train: z.array(z.string()),
    test: z.array(z.string()),
    batchSize: count,
    schedule: z.object({
      peak: z.number(),
      shape: cycleShapeSchema,
      granularity: z.enum(['epoch', 'step']),
      boundaries: z.enum(BOUNDARY_RULES).exactOptional(),
    }),
    sgd: z.object({ momentum: z.number(), nesterov: z.boolean(), weightDecay: z.number() }),
    seed: count,
    prunable: z.object({
      first: z.boolean().exactOptional(),
      last: z.boolean().exactOptional(),
      shortcuts: z.boolean().exactOptional(),
    }),
  }),
  backend: backendSchema,
  status: z.enum(['completed', 'diverged']),
  cycles: z.array(cycleSchema),
  levels: z.array(levelSchema),
  cost: costSchema,
  provenance: provenanceSchema.exactOptional(),
});

export const storedConfigSchema = z.object({
  id: z.string(),
  /** The canonical JSON the id hashes (defaults omitted, keys sorted). */
  canonical: z.string(),
  config: runConfigSchema,
});

export const failureSchema = z.object({
  message: z.string(),
  stack: z.string().nullable(),
  at: z.string(),
});

export const lockSchema = z.object({
  pid: z.number().int(),
  host: z.string(),
  started: z.string(),
  /** This taking of the lock (absent in locks written before tokens). */
  token: z
    .string()
    .regex(/^[0-9a-f]{8,64}$/)
    .exactOptional(),
});

/** The checkpoint's `pipeline` section: where the pipeline stands beyond the trainer and mask. */
const pipelineSchema = z.strictObject({
  phase: count,
  partial: z.array(epochSchema),
  snapshots: z.array(z.string()),
  cycles: z.array(cycleSchema),
  levels: z.array(levelSchema),
  cost: costSchema,
  emitted: count,
});

const progressSchema = pipelineSchema.extend({
  trainer: positionSchema.nullable(),
  mask: maskJsonSchema,
});

/** A run's checkpoint as the store uses it: the pipeline's progress, and the engine that wrote it. */
export interface CheckpointRecord {
  readonly backend: string;
  readonly progress: z.output<typeof progressSchema>;
}

export const checkpointVersions: Versions<CheckpointRecord> = {
  // Before the checkpoint format was shared with the trainer: `{ progress, backend: <name> }`.
  1: z.strictObject({ progress: progressSchema, backend: z.string() }),
  3: checkpointSchema(pipelineSchema)
    .extend({ mask: maskJsonSchema })
    .transform(({ backend, position, mask, pipeline }) => ({
      backend: backend.name,
      progress: { ...pipeline, trainer: position, mask },
    })),
};

export const CYCLE_NETWORK_VERSION = 1;

/** The metadata of `cycles/<k>/`: the network at the end of cycle k. */
export const cycleNetworkSchema = z.object({
  version: z.literal(CYCLE_NETWORK_VERSION).exactOptional(),
  cycle: z.number().int().positive(),
  phase: z.string(),
  level: count,
  mask: maskJsonSchema,
  backend: z.string(),
});

/** The formats of the plain JSON files: version 1 only, so far. */
export const onlyVersion1 = <T>(schema: z.ZodType<T>): Versions<T> => ({ 1: schema });

export type StoredResult = Frozen<z.output<typeof resultSchema>>;
export type StoredEpoch = Frozen<z.output<typeof epochSchema>>;
export type Provenance = z.output<typeof provenanceSchema>;
/** Shallow: the configuration is the resolved `RunConfig`, as the config layer types it. */
export type StoredConfig = Readonly<z.output<typeof storedConfigSchema>>;
export type StoredFailure = z.output<typeof failureSchema>;
export type LockRecord = z.output<typeof lockSchema>;
export type StoredProgress = Frozen<CheckpointRecord['progress']>;
export type CycleNetworkMeta = Frozen<z.output<typeof cycleNetworkSchema>>;
