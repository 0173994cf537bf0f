/**
 * Checkpoints: everything needed to continue a run bit-identically on the same backend — every
 * parameter, BatchNorm buffer and momentum buffer, the mask, the step and position in the epoch,
 * and the states of the random streams still in use.
 *
 * A checkpoint is a directory with `checkpoint.json` (metadata, validated with zod on load) and
 * `tensors.bin` (float32 values, little-endian, in the order the metadata lists). It is written
 * into a temporary directory and renamed into place, so a crash never leaves a half-written
 * checkpoint where a good one was.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, schemaError } from '../core/errors.js';
import { Mask } from '../core/mask.js';
import { activeBackend } from '../engine/backend.js';
import type { Trainer, TrainerPosition } from './trainer.js';

const FORMAT = 'cyclesparse.checkpoint';

const uint32 = z.number().int().min(0).max(0xffffffff);
const checkpointSchema = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(1),
    model: z.string(),
    backend: z.object({
      name: z.string(),
      tfjsVersion: z.string(),
      threads: z.number(),
      simd: z.boolean().nullable(),
      provider: z.string().nullable(),
    }),
    position: z.object({
      step: z.number().int().nonnegative(),
      epoch: z.number().int().nonnegative(),
      batch: z.number().int().nonnegative(),
      dataOrderAtEpochStart: z.array(uint32).length(4),
      augmentation: z.array(uint32).length(4),
    }),
    mask: z.unknown().nullable(),
    tensors: z.array(
      z.object({
        group: z.enum(['param', 'buffer', 'momentum']),
        name: z.string(),
        shape: z.array(z.number().int().nonnegative()),
        offset: z.number().int().nonnegative(),
      }),
    ),
  })
  .strict();

export type CheckpointMeta = z.infer<typeof checkpointSchema>;

export interface Checkpoint {
  readonly meta: CheckpointMeta;
  readonly position: TrainerPosition;
  readonly mask: Mask | null;
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly momentum: ReadonlyMap<string, Float32Array>;
}

export function saveCheckpoint(dir: string, trainer: Trainer): void {
  const { network, optimizer } = trainer;
  const weights = network.snapshot();
  const momentum = optimizer.snapshot();
  type Group = CheckpointMeta['tensors'][number]['group'];
  const entry =
    (group: Group, values: ReadonlyMap<string, Float32Array>) =>
    ([name, v]: [string, { shape: number[] }]) => ({
      group,
      name,
      shape: [...v.shape],
      values: values.get(name)!,
    });
  const entries = [
    ...[...network.params].map(entry('param', weights)),
    ...[...network.buffers].map(entry('buffer', weights)),
    ...[...optimizer.momentum].map(entry('momentum', momentum)),
  ];
  let offset = 0;
  const tensors = entries.map(({ group, name, shape, values }) => {
    const placed = { group, name, shape, offset };
    offset += values.length;
    return placed;
  });
  const blob = new Float32Array(offset);
  entries.forEach(({ values }, i) => blob.set(values, tensors[i]!.offset));
  const meta: CheckpointMeta = {
    format: FORMAT,
    version: 1,
    model: network.spec.name,
    backend: { ...activeBackend() },
    position: {
      ...trainer.position,
      dataOrderAtEpochStart: [...trainer.position.dataOrderAtEpochStart],
      augmentation: [...trainer.position.augmentation],
    },
    mask: optimizer.mask === null ? null : optimizer.mask.toJSON(),
    tensors,
  };
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(`${staging}/tensors.bin`, new Uint8Array(blob.buffer));
  writeFileSync(`${staging}/checkpoint.json`, `${JSON.stringify(meta, null, 1)}\n`);
  mkdirSync(dirname(dir), { recursive: true });
  const previous = `${dir}.previous-${process.pid}`;
  if (existsSync(dir)) renameSync(dir, previous);
  renameSync(staging, dir);
  rmSync(previous, { recursive: true, force: true });
}

export function loadCheckpoint(dir: string): Checkpoint {
  const file = `${dir}/checkpoint.json`;
  if (!existsSync(file))
    throw new InvalidArgumentError('checkpoint', 'a directory with checkpoint.json', dir);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError(file, 'valid JSON', (error as Error).message);
  }
  const parsed = checkpointSchema.safeParse(json);
  if (!parsed.success) throw schemaError('checkpoint', parsed.error.issues[0]!);
  const meta = parsed.data;
  const bytes = readFileSync(`${dir}/tensors.bin`);
  const total = meta.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  if (bytes.length !== total * 4) {
    throw new InvalidArgumentError(
      'checkpoint.tensors.bin',
      `${total * 4} bytes`,
      `${bytes.length} bytes (truncated?)`,
    );
  }
  const blob = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  );
  const params = new Map<string, Float32Array>();
  const momentum = new Map<string, Float32Array>();
  for (const t of meta.tensors) {
    const values = blob.slice(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1));
    (t.group === 'momentum' ? momentum : params).set(t.name, values);
  }
  return {
    meta,
    position: meta.position,
    mask: meta.mask === null ? null : Mask.fromJSON(meta.mask),
    params,
    momentum,
  };
}

/** Puts a checkpoint's state into `trainer` (built with the same model, data and schedule). */
export function restoreCheckpoint(checkpoint: Checkpoint, trainer: Trainer): void {
  const backend = activeBackend();
  if (checkpoint.meta.model !== trainer.network.spec.name) {
    throw new InvalidArgumentError(
      'checkpoint.model',
      trainer.network.spec.name,
      checkpoint.meta.model,
    );
  }
  if (checkpoint.meta.backend.name !== backend.name) {
    // Allowed, but the continuation is then not bit-identical; say so in the error-free path.
    process.emitWarning(
      `checkpoint was written on ${checkpoint.meta.backend.name}, resuming on ${backend.name}: not bit-identical`,
    );
  }
  trainer.network.restore(checkpoint.params);
  trainer.optimizer.restore(checkpoint.momentum);
  trainer.optimizer.setMask(checkpoint.mask);
  trainer.seek(checkpoint.position);
}
