/**
 * The file formats below the store: how a stored JSON value is checked (its `version` picks a
 * schema; any problem is a {@link StoredFileError} naming the file), and the state directory — a
 * directory with `state.json` (metadata, the name of its tensor file and the index of the
 * tensors) and that tensor file (float32, little-endian, in index order).
 *
 * Replacing a state is one rename: the new tensor file (a fresh name, `tensors-<hex>.bin`) and
 * the new `state.json` are written under other names and fsynced, the current `state.json` is
 * kept as `state.previous.json` (a hard link: the current one never stops existing), the new one
 * is renamed over `state.json`, and the directory is fsynced. A kill at any moment leaves the old
 * state or the new one, never a mixture nor none; the files the old code or an interrupted write
 * left (staging files, tensor files no state names, the `<dir>.partial-*` and `<dir>.previous-*`
 * directories of the code before) are removed by the next write. The previous state is what a
 * reader can fall back to when the current one is corrupt ({@link readState} `which`).
 * Fault points (`train/faults.ts`) sit between the steps.
 *
 * It sits in `train` so that both the trainer's checkpoints and the store (above) use it: imports
 * point downward only.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  mkdirSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, StoredFileError, type StoredFileLocation } from '../core/errors.js';
import { faultPoint } from './faults.js';

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
/** A tensor file's name: inside the directory, never a path. */
const BIN_NAME = /^tensors(-[0-9a-f]+)?\.bin$/;
const stateSchema = z.object({
  meta: z.unknown(),
  /** The tensor file; absent in states written before it was named (`tensors.bin`). */
  bin: z.string().regex(BIN_NAME).exactOptional(),
  tensors: z.array(z.object({ name: z.string(), length: count, offset: count })),
});

const CURRENT = 'state.json';
const PREVIOUS = 'state.previous.json';
const LEGACY_BIN = 'tensors.bin';
/** Staging files of this module and of the run lock: `<name>.partial-<pid or token>`. */
const STAGING = /\.partial-[\w-]+$/;

/** Writes `data` to `file` and fsyncs it before returning. */
export function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = openSync(file, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncs a file that exists (its appended data reaches the disk); absent files are skipped. */
export function syncFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncs a directory, so the renames in it are durable (a no-op where directories cannot be). */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The tensor file the state in `file` names: undefined when there is no file, null when it is not JSON. */
function binOf(file: string): string | undefined | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // none
  }
  try {
    const value = JSON.parse(text) as { bin?: unknown };
    return typeof value.bin === 'string' && BIN_NAME.test(value.bin) ? value.bin : LEGACY_BIN;
  } catch {
    return null; // unreadable: which tensor file it names is unknown
  }
}

/** Whether `file` holds a state whose JSON parses and whose tensor file has the size it says. */
function sound(dir: string, file: string): boolean {
  try {
    const parsed = stateSchema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    if (!parsed.success) return false;
    const total = parsed.data.tensors.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
    return statSync(join(dir, parsed.data.bin ?? LEGACY_BIN)).size === total * 4;
  } catch {
    return false;
  }
}

/**
 * Removes what an interrupted write (or the code before versioned tensor files) left: staging
 * files, tensor files neither state names, the sibling `<dir>.partial-*` / `<dir>.previous-*`
 * directories. Only the directory's writer may call it (a store's run lock is held).
 */
function tidy(dir: string): void {
  const parent = dirname(dir);
  const name = basename(dir);
  if (existsSync(parent))
    for (const entry of readdirSync(parent))
      if (entry.startsWith(`${name}.partial-`) || entry.startsWith(`${name}.previous-`))
        rmSync(join(parent, entry), { recursive: true, force: true });
  if (!existsSync(dir)) return;
  const named = [binOf(join(dir, CURRENT)), binOf(join(dir, PREVIOUS))];
  if (named[1] === null) rmSync(join(dir, PREVIOUS), { force: true }); // a corrupt previous
  for (const entry of readdirSync(dir)) {
    const unnamed = BIN_NAME.test(entry) && named[0] !== null && !named.includes(entry);
    if (STAGING.test(entry) || unnamed) rmSync(join(dir, entry), { force: true });
  }
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
  mkdirSync(dir, { recursive: true });
  tidy(dir);
  const bin = `tensors-${randomBytes(6).toString('hex')}.bin`;
  writeDurable(join(dir, bin), new Uint8Array(blob.buffer));
  faultPoint('state:tensors-written');
  const staging = join(dir, `${CURRENT}.partial-${process.pid}`);
  writeDurable(staging, `${JSON.stringify({ meta, bin, tensors: index })}\n`);
  faultPoint('state:state-written');
  const current = join(dir, CURRENT);
  if (sound(dir, CURRENT)) {
    // The current state stays where it is until the rename below replaces it; its second name
    // is what a reader falls back to if the new one is ever found corrupt.
    const kept = join(dir, `${PREVIOUS}.partial-${process.pid}`);
    rmSync(kept, { force: true });
    try {
      linkSync(current, kept);
    } catch {
      copyFileSync(current, kept); // a file system without hard links
    }
    renameSync(kept, join(dir, PREVIOUS));
    faultPoint('state:previous-kept');
  }
  renameSync(staging, current);
  faultPoint('state:renamed');
  syncDirectory(dir);
  syncDirectory(dirname(dir));
  faultPoint('state:published');
  tidy(dir);
}

/** Drops the previous state (and its tensor file), e.g. once a run is finished. */
export function discardPreviousState(dir: string): void {
  if (!existsSync(join(dir, PREVIOUS))) return;
  rmSync(join(dir, PREVIOUS), { force: true });
  tidy(dir);
}

/**
 * Where a state of `dir` is: `dir` itself, or for a state the code before versioned tensor files
 * left half-replaced (killed between its two renames), the `<dir>.previous-<pid>` directory that
 * still holds it. Undefined when there is none.
 */
export function stateLocation(dir: string): string | undefined {
  if (existsSync(join(dir, CURRENT))) return dir;
  const parent = dirname(dir);
  if (!existsSync(parent)) return undefined;
  const legacy = readdirSync(parent)
    .filter((e) => e.startsWith(`${basename(dir)}.previous-`))
    .map((e) => join(parent, e))
    .find((d) => existsSync(join(d, CURRENT)));
  return legacy;
}

/** Whether `dir` keeps a previous state to fall back to. */
export const hasPreviousState = (dir: string): boolean => existsSync(join(dir, PREVIOUS));

/**
 * Reads a state whose metadata is one of `versions` (see {@link parseStored}): the current one,
 * or the one it replaced (`which: 'previous'`, kept by {@link writeState}). A missing state is an
 * argument error; a present one that cannot be read names the file at fault.
 */
export function readState<T>(
  dir: string,
  versions: Versions<T>,
  which: 'current' | 'previous' = 'current',
): StateFile<T> {
  const at = which === 'current' ? (stateLocation(dir) ?? dir) : dir;
  const file = join(at, which === 'current' ? CURRENT : PREVIOUS);
  if (!existsSync(file))
    throw new InvalidArgumentError('state', `a directory with ${basename(file)}`, dir);
  const parsed = stateSchema.safeParse(parseJson({ file }, readFileSync(file, 'utf8')));
  if (!parsed.success) throw StoredFileError.fromIssue({ file }, parsed.error.issues[0]!);
  const meta = parseStored({ file }, parsed.data.meta, versions, ['meta']);
  const entries = parsed.data.tensors;
  const bin = join(at, parsed.data.bin ?? LEGACY_BIN);
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
