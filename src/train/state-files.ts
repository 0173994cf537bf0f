/**
 * The file formats below the store: how a stored JSON value is checked (its `version` picks a
 * schema; any problem is a {@link StoredFileError} naming the file), and the state directory — a
 * directory with `state.json` (metadata plus the index of the tensors) and `tensors.bin`
 * (float32, little-endian, in index order). A state directory is written into a staging
 * directory and renamed into place, so a crash at any moment leaves either the old state or the
 * new one, never a mixture; readers check sizes before trusting anything.
 *
 * It sits in `train` so that both the trainer's checkpoints and the store (above) use it: imports
 * point downward only.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, StoredFileError, type StoredFileLocation } from '../core/errors.js';

/**
 * A stored format's schemas by version. Files written before formats carried a version are
 * version 1: a value without `version` is read as 1.
 */
export type Versions<T> = Readonly<Record<number, z.ZodType<T>>>;

/** `value` (read from `where`, at `within` in it) checked against the schema of its version. */
export function parseStored<T>(
  where: StoredFileLocation,
  value: unknown,
  versions: Versions<T>,
  within: readonly PropertyKey[] = [],
): T {
  const version =
    typeof value === 'object' && value !== null && 'version' in value ? value.version : 1;
  const schema = typeof version === 'number' ? versions[version] : undefined;
  if (schema === undefined) {
    const known = Object.keys(versions).join(', ');
    throw StoredFileError.fromIssue(
      where,
      { path: ['version'], message: `a version this cyclesparse reads (${known})`, input: version },
      within,
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw StoredFileError.fromIssue(where, parsed.error.issues[0]!, within);
  return parsed.data;
}

/** JSON text read from `where`, parsed; a parse failure names the file. */
export function parseJson(where: StoredFileLocation, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new StoredFileError(where, undefined, 'valid JSON', (error as Error).message);
  }
}

export interface TensorEntry {
  readonly name: string;
  readonly length: number;
  readonly offset: number;
}

export interface StateFile<T> {
  readonly meta: T;
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

const count = z.number().int().nonnegative();
const stateSchema = z.object({
  meta: z.unknown(),
  tensors: z.array(z.object({ name: z.string(), length: count, offset: count })),
});

export function writeState(
  dir: string,
  meta: unknown,
  tensors: ReadonlyMap<string, Float32Array>,
): void {
  let offset = 0;
  const index: TensorEntry[] = [...tensors].map(([name, values]) => {
    const entry = { name, length: values.length, offset };
    offset += values.length;
    return entry;
  });
  const blob = new Float32Array(offset);
  [...tensors.values()].forEach((values, i) => blob.set(values, index[i]!.offset));
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(`${staging}/tensors.bin`, new Uint8Array(blob.buffer));
  writeFileSync(`${staging}/state.json`, `${JSON.stringify({ meta, tensors: index })}\n`);
  mkdirSync(dirname(dir), { recursive: true });
  const previous = `${dir}.previous-${process.pid}`;
  rmSync(previous, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, previous);
  renameSync(staging, dir);
  rmSync(previous, { recursive: true, force: true });
}

/**
 * Reads a state whose metadata is one of `versions` (see {@link parseStored}). A missing
 * directory is an argument error; a present one that cannot be read names the file at fault.
 */
export function readState<T>(dir: string, versions: Versions<T>): StateFile<T> {
  const file = `${dir}/state.json`;
  if (!existsSync(file))
    throw new InvalidArgumentError('state', `a directory with state.json`, dir);
  const parsed = stateSchema.safeParse(parseJson({ file }, readFileSync(file, 'utf8')));
  if (!parsed.success) throw StoredFileError.fromIssue({ file }, parsed.error.issues[0]!);
  const meta = parseStored({ file }, parsed.data.meta, versions, ['meta']);
  const entries = parsed.data.tensors;
  const bin = `${dir}/tensors.bin`;
  const bytes = existsSync(bin) ? readFileSync(bin) : undefined;
  const total = entries.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
  if (bytes?.length !== total * 4) {
    const got = bytes === undefined ? 'no file' : `${bytes.length} bytes (truncated?)`;
    throw new StoredFileError({ file: bin }, undefined, `${total * 4} bytes`, got);
  }
  const blob = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  );
  const tensors = new Map(entries.map((e) => [e.name, blob.slice(e.offset, e.offset + e.length)]));
  return { meta, tensors };
}
