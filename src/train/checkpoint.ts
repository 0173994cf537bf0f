/**
 * Checkpoints of a trainer: everything needed to continue bit-identically on the same engine —
 * every parameter, BatchNorm buffer and momentum buffer, the mask, the step and position in the
 * epoch, and the states of the random streams still in use. Stored as a state directory
 * (`store/state-files.ts`: atomic, size-checked); the metadata is validated with zod on load.
 */

import { z } from 'zod';
import { InvalidArgumentError, schemaError } from '../core/errors.js';
import { Mask } from '../core/mask.js';
import { BACKENDS, PRECISIONS, type BackendInfo, type EngineModel } from '../engine/engine.js';
import { readState, writeState } from '../store/state-files.js';
import type { Trainer, TrainerPosition } from './trainer.js';

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
    .optional(),
});

export const positionSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  batch: z.number().int().nonnegative(),
  dataOrderAtEpochStart: z.array(uint32).length(4),
  augmentation: z.array(uint32).length(4),
});

const checkpointSchema = z
  .object({
    format: z.literal('cyclesparse.checkpoint'),
    version: z.literal(2),
    model: z.string(),
    backend: backendSchema,
    position: positionSchema,
    mask: z.unknown().nullable(),
  })
  .strict();

export type CheckpointMeta = z.infer<typeof checkpointSchema>;

export interface Checkpoint {
  readonly meta: CheckpointMeta;
  readonly position: TrainerPosition;
  readonly mask: Mask | null;
  /** Parameters and BatchNorm buffers by name. */
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly momentum: ReadonlyMap<string, Float32Array>;
}

/** A model's values and momentum as one flat tensor map (`param:`, `momentum:` prefixes). */
export async function trainingTensors(model: EngineModel): Promise<Map<string, Float32Array>> {
  return new Map([
    ...[...(await model.read())].map(([name, v]) => [`param:${name}`, v] as const),
    ...[...(await model.readMomentum())].map(([name, v]) => [`momentum:${name}`, v] as const),
  ]);
}

/** Splits a tensor map written by {@link trainingTensors} back into its two parts. */
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
  const meta: CheckpointMeta = {
    format: 'cyclesparse.checkpoint',
    version: 2,
    model: model.spec.name,
    backend: { ...model.engine.info },
    position: {
      ...trainer.position,
      dataOrderAtEpochStart: [...trainer.position.dataOrderAtEpochStart],
      augmentation: [...trainer.position.augmentation],
    },
    mask: model.mask === null ? null : model.mask.toJSON(),
  };
  writeState(dir, meta, await trainingTensors(model));
}

export function loadCheckpoint(dir: string): Checkpoint {
  const { meta, tensors } = readState(dir, (json) => {
    const parsed = checkpointSchema.safeParse(json);
    if (!parsed.success) throw schemaError('checkpoint', parsed.error.issues[0]!);
    return parsed.data;
  });
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
