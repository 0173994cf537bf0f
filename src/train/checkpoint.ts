/**
 * The checkpoint format, one for the trainer alone and for a whole pipeline (the store's
 * checkpoints): everything needed to continue bit-identically on the same engine — every
 * parameter, BatchNorm buffer and momentum buffer (`param:<name>`, `momentum:<name>`, and any
 * further tensors of the layer above), the mask, the trainer's position and random-stream states,
 * the engine that wrote it, and an optional `pipeline` section (where the pipeline stands) that
 * the layer above defines and checks. Stored as a state directory (`state-files.ts`: atomic,
 * size-checked); the metadata carries format and version and is validated with zod on load.
 *
 * Versions: 2 (trainer only, position always set) is read as 3; 3 adds the `pipeline` section
 * and a null position between phases.
 */

import { z } from 'zod';
import { InvalidArgumentError, StoredFileError } from '../core/errors.js';
import { Mask, maskJsonSchema } from '../core/mask.js';
import { BACKENDS, PRECISIONS, type BackendInfo, type EngineModel } from '../engine/engine.js';
import { readState, writeState, type Versions } from './state-files.js';
import type { Trainer, TrainerPosition } from './trainer.js';

export const CHECKPOINT_FORMAT = 'cyclesparse.checkpoint';
export const CHECKPOINT_VERSION = 3;

const uint32 = z.number().int().min(0).max(0xffffffff);

export const backendSchema = z.object({
  name: z.enum(BACKENDS),
  tfjsVersion: z.string().nullable(),
  threads: z.number(),
  simd: z.boolean().nullable(),
  provider: z.string().nullable(),
  torch: z
    .object({
      device: z.string(),
      deviceName: z.string(),
      precision: z.enum(PRECISIONS),
      torchVersion: z.string(),
      cudaVersion: z.string().nullable(),
      cudnnVersion: z.number().nullable(),
      python: z.string(),
      deterministic: z.boolean(),
    })
    .exactOptional(),
});

export const positionSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  batch: z.number().int().nonnegative(),
  dataOrderAtEpochStart: z.array(uint32).length(4),
  augmentation: z.array(uint32).length(4),
});

/** Checkpoint metadata (state.json's `meta`) whose `pipeline` section is `pipeline`. */
export function checkpointSchema<P extends z.ZodType>(pipeline: P) {
  return z.strictObject({
    format: z.literal(CHECKPOINT_FORMAT),
    version: z.literal(CHECKPOINT_VERSION),
    /** The model spec's name. */
    model: z.string(),
    /** The engine that wrote it (resuming elsewhere is not bit-identical). */
    backend: backendSchema,
    /** Inside a train phase: the trainer's position; null between phases. */
    position: positionSchema.nullable(),
    /** The mask in force; null: dense. */
    mask: maskJsonSchema.nullable(),
    pipeline,
  });
}

/** What the trainer reads: any checkpoint, the pipeline section left to its owner. */
const trainerSchema = checkpointSchema(z.unknown().exactOptional());
export type CheckpointMeta = z.infer<typeof trainerSchema>;

const trainerVersions: Versions<CheckpointMeta> = {
  2: z
    .strictObject({
      format: z.literal(CHECKPOINT_FORMAT),
      version: z.literal(2),
      model: z.string(),
      backend: backendSchema,
      position: positionSchema,
      mask: maskJsonSchema.nullable(),
    })
    .transform((v2) => ({ ...v2, version: CHECKPOINT_VERSION })),
  3: trainerSchema,
};

/** Writes a checkpoint: `meta` stamped with the format and version, and its tensors. */
export function writeCheckpoint(
  dir: string,
  meta: Omit<CheckpointMeta, 'format' | 'version' | 'position'> & {
    readonly position: TrainerPosition | null;
  },
  tensors: ReadonlyMap<string, Float32Array>,
): void {
  writeState(dir, { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...meta }, tensors);
}

export interface Checkpoint {
  readonly meta: CheckpointMeta;
  readonly position: TrainerPosition;
  readonly mask: Mask | null;
  /** Parameters and BatchNorm buffers by name. */
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly momentum: ReadonlyMap<string, Float32Array>;
}

/**
 * Values and momentum as one flat tensor map (`param:<name>`, `momentum:<name>`): the stored key
 * format of every checkpoint (pipelines add their snapshots under `snapshot:<name>:` prefixes).
 */
export function joinTrainingTensors(
  params: ReadonlyMap<string, Float32Array>,
  momentum: ReadonlyMap<string, Float32Array>,
): Map<string, Float32Array> {
  return new Map([
    ...[...params].map(([name, v]) => [`param:${name}`, v] as const),
    ...[...momentum].map(([name, v]) => [`momentum:${name}`, v] as const),
  ]);
}

/** A model's values and momentum as one flat tensor map ({@link joinTrainingTensors}). */
export async function trainingTensors(model: EngineModel): Promise<Map<string, Float32Array>> {
  return joinTrainingTensors(await model.read(), await model.readMomentum());
}

/** Splits a tensor map written by {@link joinTrainingTensors} back into its two parts. */
export function splitTrainingTensors(tensors: ReadonlyMap<string, Float32Array>): {
  params: Map<string, Float32Array>;
  momentum: Map<string, Float32Array>;
} {
  const params = new Map<string, Float32Array>();
  const momentum = new Map<string, Float32Array>();
  for (const [key, values] of tensors) {
    if (key.startsWith('param:')) params.set(key.slice('param:'.length), values);
    else if (key.startsWith('momentum:')) momentum.set(key.slice('momentum:'.length), values);
  }
  return { params, momentum };
}

export async function saveCheckpoint(dir: string, trainer: Trainer): Promise<void> {
  const { model } = trainer;
  writeCheckpoint(
    dir,
    {
      model: model.spec.name,
      backend: { ...model.engine.info },
      position: {
        ...trainer.position,
        dataOrderAtEpochStart: [...trainer.position.dataOrderAtEpochStart],
        augmentation: [...trainer.position.augmentation],
      },
      mask: model.mask === null ? null : model.mask.toJSON(),
    },
    await trainingTensors(model),
  );
}

/** Reads a checkpoint taken inside training (a store's, too: its pipeline section is ignored). */
export function loadCheckpoint(dir: string): Checkpoint {
  const { meta, tensors } = readState(dir, trainerVersions);
  if (meta.position === null)
    throw new StoredFileError(
      { file: `${dir}/state.json` },
      'meta.position',
      'a trainer position (a checkpoint taken inside a train phase)',
      null,
    );
  return {
    meta,
    position: meta.position,
    mask: meta.mask === null ? null : Mask.fromJSON(meta.mask),
    ...splitTrainingTensors(tensors),
  };
}

/** Warns when a state written on one engine is resumed on another: no longer bit-identical. */
export function warnOnBackendChange(writtenOn: string, now: BackendInfo): void {
  if (writtenOn !== now.name) {
    process.emitWarning(
      `state was written on ${writtenOn}, resuming on ${now.name}: not bit-identical`,
    );
  }
}

/** Puts a checkpoint's state into `trainer` (built with the same model, data and schedule). */
export async function restoreCheckpoint(checkpoint: Checkpoint, trainer: Trainer): Promise<void> {
  const { model } = trainer;
  if (checkpoint.meta.model !== model.spec.name) {
    throw new InvalidArgumentError('checkpoint.model', model.spec.name, checkpoint.meta.model);
  }
  warnOnBackendChange(checkpoint.meta.backend.name, model.engine.info);
  await model.write(checkpoint.params);
  await model.writeMomentum(checkpoint.momentum);
  await model.setMask(checkpoint.mask);
  trainer.seek(checkpoint.position);
}
