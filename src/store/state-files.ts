/**
 * A saved state: a directory with `state.json` (metadata plus the index of the tensors) and
 * `tensors.bin` (float32, little-endian, in index order). Written into a staging directory and
 * renamed into place, so a crash at any moment leaves either the old state or the new one,
 * never a mixture; readers check sizes before trusting anything.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';

export interface TensorEntry {
  readonly name: string;
  readonly length: number;
  readonly offset: number;
}

export interface StateFile<T> {
  readonly meta: T;
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

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

/** Reads a state; `parse` validates the metadata (and throws naming what is wrong). */
export function readState<T>(dir: string, parse: (meta: unknown) => T): StateFile<T> {
  const file = `${dir}/state.json`;
  if (!existsSync(file))
    throw new InvalidArgumentError('state', `a directory with state.json`, dir);
  let json: { meta?: unknown; tensors?: unknown };
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as typeof json;
  } catch (error) {
    throw new InvalidArgumentError(file, 'valid JSON', (error as Error).message);
  }
  const index = json.tensors;
  if (
    !Array.isArray(index) ||
    !index.every(
      (e: unknown) =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as TensorEntry).name === 'string' &&
        Number.isSafeInteger((e as TensorEntry).length) &&
        Number.isSafeInteger((e as TensorEntry).offset),
    )
  ) {
    throw new InvalidArgumentError(`${file}.tensors`, 'a list of { name, length, offset }', index);
  }
  const entries = index as TensorEntry[];
  const bytes = readFileSync(`${dir}/tensors.bin`);
  const total = entries.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
  if (bytes.length !== total * 4) {
    throw new InvalidArgumentError(
      `${dir}/tensors.bin`,
      `${total * 4} bytes`,
      `${bytes.length} bytes (truncated?)`,
    );
  }
  const blob = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  );
  const tensors = new Map(entries.map((e) => [e.name, blob.slice(e.offset, e.offset + e.length)]));
  return { meta: parse(json.meta), tensors };
}
