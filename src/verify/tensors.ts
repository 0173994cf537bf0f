/**
 * Reading tensors that other frameworks saved: NumPy `.npy`, `.npz` (a zip of `.npy`, stored or
 * deflated) and safetensors, or a directory of `.npy` files (one tensor per file, named by the
 * file's stem, e.g. `fc1.weight.npy`).
 *
 * The two formats are short, fixed binary specs (a length-prefixed header, then raw
 * little-endian data), so they are parsed here; a zip's central directory is read here too, and
 * each member is inflated with fflate's streaming inflater. Every failure is an
 * {@link ArtifactError} naming the file and, where known, the tensor.
 *
 * Nothing is read or inflated on trust (docs/VERIFY.md, "Limits"): a header's shape × dtype must
 * match the bytes the file (or the zip member's declared uncompressed size) holds, exactly, before
 * the data is read; a member is inflated only up to what it declared; and all tensors of one file
 * together may hold at most {@link ReadOptions.maxBytes}. Only regular files are opened.
 */

import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { basename, extname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { Inflate } from 'fflate';
import { CyclesparseError } from '../core/errors.js';
import { outsideOf } from './paths.js';

export class ArtifactError extends CyclesparseError {
  readonly file: string;
  readonly tensor: string | undefined;
  constructor(file: string, tensor: string | undefined, problem: string) {
    super(
      'invalid-argument',
      `${file}${tensor === undefined ? '' : ` (tensor ${tensor})`}: ${problem}`,
    );
    this.file = file;
    this.tensor = tensor;
  }
}

export type TensorValues =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** The stored dtype as numpy writes it: float32, float16, bool, int64, ... */
  readonly dtype: string;
  /** Row-major values (float16/bfloat16 widened to float32, 64-bit integers to float64). */
  readonly values: TensorValues;
  /** The file it came from, for messages. */
  readonly file: string;
}

/** Default of {@link ReadOptions.maxBytes}: 4 GiB of tensor data per file. */
export const DEFAULT_MAX_BYTES = 4 * 2 ** 30;
/** The longest `.npy` header read (numpy itself refuses headers over 10 000 bytes by default). */
export const MAX_NPY_HEADER = 2 ** 20;
/** The longest safetensors JSON header read (the safetensors spec's own limit, 100 MB). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;
/** The largest zip central directory read. */
const MAX_ZIP_DIRECTORY = 64 * 2 ** 20;

export interface ReadOptions {
  /**
   * Most bytes of tensor data one file may hold, all its tensors together (for an `.npz`, what
   * its members inflate to); default {@link DEFAULT_MAX_BYTES}. A file declaring more is refused
   * before anything is read or inflated.
   */
  readonly maxBytes?: number;
  /**
   * A directory (its real path) every file read must really be in, symlinks resolved: the
   * artifact's directory, unless reading outside it was allowed.
   */
  readonly within?: string;
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Bytes per element of each supported dtype. */
const WIDTH: Readonly<Record<string, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  uint64: 8,
  int32: 4,
  uint32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Bytes a shape of `dtype` holds; not a safe integer when the shape is absurdly large. */
const bytesOf = (shape: readonly number[], dtype: string) => size(shape) * WIDTH[dtype]!;

/**
 * Random access to the bytes of a file, an in-memory buffer or a zip member. `read` is only asked
 * for ranges inside `size`. `owned`: what `read` returns is a fresh buffer nobody else holds, so
 * typed arrays may view it rather than copy it.
 */
interface Source {
  readonly size: number;
  readonly owned: boolean;
  read(offset: number, length: number): Uint8Array;
}

const bufferSource = (bytes: Uint8Array): Source => ({
  size: bytes.length,
  owned: false,
  read: (offset, length) => bytes.subarray(offset, offset + length),
});

function fileSource(fd: number, fileSize: number, file: string): Source {
  return {
    size: fileSize,
    owned: true,
    read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) {
          throw new ArtifactError(
            file,
            undefined,
            `the file ended at ${offset + done} bytes while being read`,
          );
        }
        done += n;
      }
      return out;
    },
  };
}

/** The per-file allowance of tensor data ({@link ReadOptions.maxBytes}). */
class Budget {
  #left: number;
  constructor(
    readonly limit: number,
    readonly file: string,
  ) {
    this.#left = limit;
  }
  get left(): number {
    return this.#left;
  }
  take(bytes: number, tensor: string | undefined, what: string): void {
    if (!Number.isSafeInteger(bytes) || bytes > this.#left) {
      throw new ArtifactError(
        this.file,
        tensor,
        `${what} needs ${bytes} bytes; with the rest of the file that is over the limit of ` +
          `${this.limit} bytes of tensor data per file (maxBytes, verify --max-bytes)`,
      );
    }
    this.#left -= bytes;
  }
}

const budgetOf = (options: ReadOptions, file: string) =>
  new Budget(options.maxBytes ?? DEFAULT_MAX_BYTES, file);

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function unsupported(file: string, tensor: string, dtype: string, known: readonly string[]): never {
  throw new ArtifactError(
    file,
    tensor,
    `dtype ${dtype} is not supported (expected one of ${known.join(', ')})`,
  );
}

/**
 * The values of exactly one tensor's little-endian `data` of `dtype`. The bytes are viewed in
 * place when `owned` and aligned, else copied into a fresh, aligned buffer.
 */
function decode(data: Uint8Array, dtype: string, owned: boolean): TensorValues {
  const width = WIDTH[dtype]!;
  const inPlace = owned && data.byteOffset % width === 0;
  const buffer = inPlace ? data.buffer : data.slice().buffer;
  const offset = inPlace ? data.byteOffset : 0;
  const count = data.length / width;
  switch (dtype) {
    case 'float64':
      return new Float64Array(buffer, offset, count);
    case 'float32':
      return new Float32Array(buffer, offset, count);
    case 'float16':
      return Float32Array.from(new Uint16Array(buffer, offset, count), halfToFloat);
    case 'bfloat16': {
      const half = new Uint16Array(buffer, offset, count);
      const out = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = half[i]! << 16;
      return new Float32Array(out.buffer);
    }
    case 'int64':
      return Float64Array.from(new BigInt64Array(buffer, offset, count), Number);
    case 'uint64':
      return Float64Array.from(new BigUint64Array(buffer, offset, count), Number);
    case 'int32':
      return new Int32Array(buffer, offset, count);
    case 'uint32':
      return new Uint32Array(buffer, offset, count);
    case 'int16':
      return new Int16Array(buffer, offset, count);
    case 'uint16':
      return new Uint16Array(buffer, offset, count);
    case 'int8':
      return new Int8Array(buffer, offset, count);
    default:
      return new Uint8Array(buffer, offset, count); // uint8, bool
  }
}

const NPY_DTYPES: Record<string, string> = {
  f8: 'float64',
  f4: 'float32',
  f2: 'float16',
  i8: 'int64',
  u8: 'uint64',
  i4: 'int32',
  u4: 'uint32',
  i2: 'int16',
  u2: 'uint16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'bool',
};

/** Reverses the axis order of Fortran-ordered data into row-major order. */
function fortranToC(values: TensorValues, shape: readonly number[]): TensorValues {
  const out = values.slice() as TensorValues;
  const strides = shape.map((_, axis) => size(shape.slice(0, axis))); // column-major strides
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    let source = 0;
    for (let axis = 0; axis < shape.length; axis++) source += index[axis]! * strides[axis]!;
    out[flat] = values[source]!;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis]! < shape[axis]!) break;
      index[axis] = 0;
    }
  }
  return out;
}

interface NpyHeader {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly fortran: boolean;
  /** Where the data starts. */
  readonly dataStart: number;
  /** Bytes of data the shape and dtype need. */
  readonly dataBytes: number;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Reads and checks a `.npy` header: magic, version, length, dtype, shape. Reads no data. */
function npyHeader(source: Source, file: string, name: string): NpyHeader {
  const prefix = source.read(0, Math.min(12, source.size));
  if (prefix.length < 10 || NPY_MAGIC.some((b, i) => prefix[i] !== b)) {
    throw new ArtifactError(file, name, 'not a .npy file (the \\x93NUMPY magic is missing)');
  }
  const major = prefix[6]!;
  if (major < 1 || major > 3) {
    throw new ArtifactError(file, name, `.npy format version ${major} is not supported (1 to 3)`);
  }
  const headerStart = major === 1 ? 10 : 12;
  if (prefix.length < headerStart) {
    throw new ArtifactError(file, name, 'the .npy header is truncated');
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > MAX_NPY_HEADER) {
    throw new ArtifactError(
      file,
      name,
      `the .npy header declares ${headerLength} bytes (at most ${MAX_NPY_HEADER} are read)`,
    );
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > source.size) {
    throw new ArtifactError(
      file,
      name,
      `the .npy header declares ${headerLength} bytes, the file holds ${source.size - headerStart} after the preamble (truncated?)`,
    );
  }
  const header = new TextDecoder().decode(source.read(headerStart, headerLength));
  const descr = /'descr':\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (descr === null || fortran === null || shapeText === null) {
    throw new ArtifactError(file, name, `unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  if (descr[1] === '>') {
    throw new ArtifactError(
      file,
      name,
      `big-endian data (${descr[1]}${descr[2]}) is not supported`,
    );
  }
  const dtype = NPY_DTYPES[descr[2]!];
  if (dtype === undefined) unsupported(file, name, descr[2]!, Object.keys(NPY_DTYPES));
  const shape = shapeText[1]!
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ArtifactError(file, name, `bad shape (${shapeText[1]})`);
  }
  return {
    dtype,
    shape,
    fortran: fortran[1] === 'True',
    dataStart,
    dataBytes: bytesOf(shape, dtype),
  };
}

/**
 * One `.npy` from `source`: the header is read and checked against the bytes `source` holds
 * (exactly shape × dtype after the header) and against the budget before the data is read.
 */
function readNpy(source: Source, file: string, name: string, budget: Budget): Tensor {
  const header = npyHeader(source, file, name);
  const { dtype, shape, dataStart, dataBytes } = header;
  const held = source.size - dataStart;
  if (!Number.isSafeInteger(dataBytes) || held < dataBytes) {
    throw new ArtifactError(
      file,
      name,
      `the file holds ${held} data bytes, the shape needs ${dataBytes} (truncated?)`,
    );
  }
  if (held > dataBytes) {
    throw new ArtifactError(
      file,
      name,
      `the file holds ${held} data bytes, the shape [${shape.join(', ')}] of ${dtype} needs only ${dataBytes}`,
    );
  }
  budget.take(dataBytes, name, `shape [${shape.join(', ')}] of ${dtype}`);
  let values = decode(source.read(dataStart, dataBytes), dtype, source.owned);
  if (header.fortran && shape.length > 1) values = fortranToC(values, shape);
  return { name, shape, dtype, values, file };
}

/** Parses one `.npy` file's bytes. */
export function parseNpy(
  bytes: Uint8Array,
  file: string,
  name: string,
  options: ReadOptions = {},
): Tensor {
  return readNpy(bufferSource(bytes), file, name, budgetOf(options, file));
}

const SAFETENSORS_DTYPES: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  U64: 'uint64',
  I32: 'int32',
  U32: 'uint32',
  I16: 'int16',
  U16: 'uint16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * A safetensors file: an 8-byte header length, a JSON header, then the raw data. The header is
 * checked as the format's reference reader checks it before any data is read: every tensor's
 * `data_offsets` lie in the data section, begin ≤ end, end − begin is its shape × dtype, and the
 * tensors tile the data section without overlap, gap or trailing bytes.
 */
function readSafetensors(source: Source, file: string, budget: Budget): Tensor[] {
  if (source.size < 8) throw new ArtifactError(file, undefined, 'too short for a safetensors file');
  const prefix = source.read(0, 8);
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(source.size - 8)) {
    throw new ArtifactError(
      file,
      undefined,
      `not a safetensors file (header length ${declared} exceeds the file's ${source.size} bytes)`,
    );
  }
  const headerLength = Number(declared);
  if (headerLength > MAX_SAFETENSORS_HEADER) {
    throw new ArtifactError(
      file,
      undefined,
      `the safetensors header declares ${headerLength} bytes (at most ${MAX_SAFETENSORS_HEADER} are read)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(source.read(8, headerLength)));
  } catch {
    throw new ArtifactError(file, undefined, 'not a safetensors file (the header is not JSON)');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new ArtifactError(
      file,
      undefined,
      'not a safetensors file (the header is not a JSON object)',
    );
  }
  const dataStart = 8 + headerLength;
  const dataLength = source.size - dataStart;
  const entries = Object.entries(header as Record<string, unknown>)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, entry]) => {
      const {
        dtype,
        shape,
        data_offsets: offsets,
      } = (typeof entry === 'object' && entry !== null ? entry : {}) as {
        dtype?: unknown;
        shape?: unknown;
        data_offsets?: unknown;
      };
      const mapped = SAFETENSORS_DTYPES[String(dtype)];
      if (mapped === undefined)
        unsupported(file, name, String(dtype), Object.keys(SAFETENSORS_DTYPES));
      if (!Array.isArray(shape) || !shape.every(isCount)) {
        throw new ArtifactError(
          file,
          name,
          `shape ${JSON.stringify(shape)} is not a list of sizes`,
        );
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
        throw new ArtifactError(
          file,
          name,
          `data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of byte offsets`,
        );
      }
      const [begin, end] = offsets as [number, number];
      const at = `data_offsets [${begin}, ${end}]`;
      if (begin > end) throw new ArtifactError(file, name, `${at}: begin is after end`);
      if (end > dataLength) {
        throw new ArtifactError(
          file,
          name,
          `${at} run past the end of the data section (${dataLength} bytes)`,
        );
      }
      const needed = bytesOf(shape, mapped);
      if (end - begin !== needed) {
        throw new ArtifactError(
          file,
          name,
          `${at} hold ${end - begin} bytes, shape [${shape.join(', ')}] of ${String(dtype)} needs ${needed}`,
        );
      }
      return { name, shape, dtype: mapped, begin, end };
    });
  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: string | undefined;
  for (const t of sorted) {
    if (t.begin < covered) {
      throw new ArtifactError(
        file,
        t.name,
        `data_offsets [${t.begin}, ${t.end}] overlap tensor ${last!}'s, which ends at ${covered}`,
      );
    }
    if (t.begin > covered) {
      throw new ArtifactError(
        file,
        t.name,
        `data_offsets [${t.begin}, ${t.end}] leave bytes ${covered} to ${t.begin} of the data section unused`,
      );
    }
    covered = t.end;
    last = t.name;
  }
  if (covered !== dataLength) {
    throw new ArtifactError(
      file,
      undefined,
      `the data section holds ${dataLength} bytes, the tensors use ${covered}`,
    );
  }
  budget.take(dataLength, undefined, 'the data section');
  return entries.map(({ name, shape, dtype, begin, end }) => ({
    name,
    shape,
    dtype,
    values: decode(source.read(dataStart + begin, end - begin), dtype, source.owned),
    file,
  }));
}

/** Parses a safetensors file's bytes. */
export function parseSafetensors(
  bytes: Uint8Array,
  file: string,
  options: ReadOptions = {},
): Tensor[] {
  return readSafetensors(bufferSource(bytes), file, budgetOf(options, file));
}

/** A zip member as the central directory declares it. */
interface ZipMember {
  readonly name: string;
  readonly flags: number;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

function notZip(file: string, why: string): never {
  throw new ArtifactError(file, undefined, `not a readable .npz (zip) archive: ${why}`);
}

function u64(view: DataView, at: number, file: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    notZip(file, `a 64-bit size or offset ${value} is too large`);
  return Number(value);
}

/** The members a zip's central directory (zip64 included) lists; reads nothing else. */
function zipMembers(source: Source, file: string): ZipMember[] {
  const tailLength = Math.min(source.size, 22 + 0xffff);
  const tail = source.read(source.size - tailLength, tailLength);
  const tailView = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let end = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tailView.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) notZip(file, 'no end of central directory record');
  let count = tailView.getUint16(end + 10, true);
  let directorySize = tailView.getUint32(end + 12, true);
  let directoryOffset = tailView.getUint32(end + 16, true);
  let directoryLimit = source.size - tailLength + end;
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    // Zip64: a locator just before the record points at the zip64 end of central directory.
    const locatorAt = source.size - tailLength + end - 20;
    if (locatorAt < 0) notZip(file, 'no zip64 end of central directory locator');
    const locator = source.read(locatorAt, 20);
    const locatorView = new DataView(locator.buffer, locator.byteOffset, 20);
    if (locatorView.getUint32(0, true) !== 0x07064b50)
      notZip(file, 'no zip64 end of central directory locator');
    const recordAt = u64(locatorView, 8, file);
    if (recordAt + 56 > locatorAt)
      notZip(file, 'the zip64 end of central directory lies outside the file');
    const record = source.read(recordAt, 56);
    const recordView = new DataView(record.buffer, record.byteOffset, 56);
    if (recordView.getUint32(0, true) !== 0x06064b50)
      notZip(file, 'no zip64 end of central directory');
    count = u64(recordView, 32, file);
    directorySize = u64(recordView, 40, file);
    directoryOffset = u64(recordView, 48, file);
    directoryLimit = recordAt;
  }
  if (directoryOffset + directorySize > directoryLimit)
    notZip(file, 'the central directory lies outside the file');
  if (directorySize > MAX_ZIP_DIRECTORY)
    notZip(file, `a central directory of ${directorySize} bytes`);
  const directory = source.read(directoryOffset, directorySize);
  const view = new DataView(directory.buffer, directory.byteOffset, directory.byteLength);
  const members: ZipMember[] = [];
  let at = 0;
  while (members.length < count) {
    if (at + 46 > directory.length || view.getUint32(at, true) !== 0x02014b50) {
      notZip(file, `the central directory lists ${members.length} of ${count} members`);
    }
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    if (at + 46 + nameLength + extraLength > directory.length)
      notZip(file, 'a central directory entry is truncated');
    const name = new TextDecoder().decode(directory.subarray(at + 46, at + 46 + nameLength));
    let size = view.getUint32(at + 24, true);
    let compressedSize = view.getUint32(at + 20, true);
    let localOffset = view.getUint32(at + 42, true);
    // Zip64 extra field: the 64-bit values of the fields saturated above, in this order.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength;) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let field = e + 4;
        const next = () => {
          if (field + 8 > e + 4 + length)
            notZip(file, `member ${name}: a truncated zip64 extra field`);
          const value = u64(view, field, file);
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e += 4 + length;
    }
    members.push({
      name,
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      compressedSize,
      size,
      localOffset,
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return members;
}

/**
 * A deflated member as a {@link Source} of its declared size, inflated lazily and only as far as
 * asked: its `.npy` header is inflated first, a few small compressed chunks at a time (fflate's
 * streaming inflater), and checked; only a read of the data inflates the whole member, with
 * zlib, stopping at its declared size.
 */
function inflatingSource(
  source: Source,
  member: ZipMember,
  dataAt: number,
  file: string,
  tensor: string,
): Source {
  const CHUNK = 16 * 1024; // ≤ about 16 MiB of output per chunk, the most deflate expands
  const past = () =>
    new ArtifactError(
      file,
      tensor,
      `member ${member.name} inflates past the ${member.size} bytes it declares`,
    );
  const invalid = (error: unknown) =>
    new ArtifactError(
      file,
      tensor,
      `member ${member.name} is not valid deflate data: ${(error as Error).message}`,
    );
  const truncated = (produced: number) =>
    new ArtifactError(
      file,
      tensor,
      `member ${member.name} inflates to ${produced} bytes, it declares ${member.size} (truncated?)`,
    );
  let out: Uint8Array = new Uint8Array(0);
  let produced = 0;
  let consumed = 0;
  const inflater = new Inflate((chunk) => {
    if (produced + chunk.length > member.size) throw past();
    if (produced + chunk.length > out.length) {
      const grown = new Uint8Array(
        Math.min(member.size, Math.max(2 * out.length, produced + chunk.length)),
      );
      grown.set(out.subarray(0, produced));
      out = grown;
    }
    out.set(chunk, produced);
    produced += chunk.length;
  });
  /** The whole member, inflated at once (after its header was checked). */
  const whole = () => {
    let all: Buffer;
    try {
      all = inflateRawSync(source.read(dataAt, member.compressedSize), {
        maxOutputLength: Math.max(1, member.size),
        chunkSize: 2 ** 20,
      });
    } catch (error) {
      throw (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? past()
        : invalid(error);
    }
    if (all.length < member.size) throw truncated(all.length);
    out = new Uint8Array(all.buffer, all.byteOffset, all.length);
    produced = all.length;
  };
  return {
    size: member.size,
    owned: true,
    read(offset, length) {
      const end = offset + length;
      if (end === member.size && produced < end) whole();
      while (produced < end && consumed < member.compressedSize) {
        const take = Math.min(CHUNK, member.compressedSize - consumed);
        const chunk = source.read(dataAt + consumed, take);
        consumed += take;
        try {
          inflater.push(chunk, consumed === member.compressedSize);
        } catch (error) {
          throw error instanceof ArtifactError ? error : invalid(error);
        }
      }
      if (produced < end) throw truncated(produced);
      return out.subarray(offset, end);
    },
  };
}

/**
 * An `.npz` archive: every member `<name>.npy` becomes tensor `<name>`. Each member's declared
 * uncompressed size is checked against the budget, and then against its own `.npy` header's
 * shape × dtype, before its data is inflated; members are inflated one at a time.
 */
function readNpz(source: Source, file: string, budget: Budget): Tensor[] {
  const tensors: Tensor[] = [];
  for (const member of zipMembers(source, file)) {
    if (!member.name.endsWith('.npy')) continue;
    const name = member.name.slice(0, -'.npy'.length);
    const fail = (problem: string): never => {
      throw new ArtifactError(file, name, `member ${member.name}: ${problem}`);
    };
    if (member.flags & 1) fail('encrypted members are not supported');
    if (member.method !== 0 && member.method !== 8) {
      fail(`compression method ${member.method} is not supported (stored or deflate)`);
    }
    if (member.size > budget.left + MAX_NPY_HEADER + 12) {
      fail(
        `declares ${member.size} bytes uncompressed, over the limit of ${budget.limit} bytes ` +
          `of tensor data per file (maxBytes, verify --max-bytes)`,
      );
    }
    if (member.localOffset + 30 > source.size) fail('its local header lies outside the file');
    const local = source.read(member.localOffset, 30);
    const localView = new DataView(local.buffer, local.byteOffset, 30);
    if (localView.getUint32(0, true) !== 0x04034b50)
      fail('no local file header where the directory says');
    const dataAt =
      member.localOffset + 30 + localView.getUint16(26, true) + localView.getUint16(28, true);
    if (dataAt + member.compressedSize > source.size) {
      fail(`its ${member.compressedSize} compressed bytes run past the end of the file`);
    }
    if (member.method === 8 && member.compressedSize > member.size + (member.size >> 10) + 1024) {
      fail(
        `${member.compressedSize} compressed bytes, more than any deflate stream of its declared ${member.size} bytes needs`,
      );
    }
    if (member.method === 0 && member.compressedSize !== member.size) {
      fail(`stored with ${member.compressedSize} bytes, it declares ${member.size}`);
    }
    const data: Source =
      member.method === 0
        ? {
            size: member.size,
            owned: source.owned,
            read: (offset, length) => source.read(dataAt + offset, length),
          }
        : inflatingSource(source, member, dataAt, file, name);
    const header = npyHeader(data, file, name);
    if (
      !Number.isSafeInteger(header.dataBytes) ||
      header.dataStart + header.dataBytes !== member.size
    ) {
      fail(
        `declares ${member.size} bytes uncompressed, its .npy header (shape [${header.shape.join(', ')}] ` +
          `of ${header.dtype}) needs ${header.dataStart + header.dataBytes}`,
      );
    }
    tensors.push(readNpy(data, file, name, budget));
  }
  return tensors;
}

/** Parses an `.npz` archive's bytes: every member `<name>.npy` becomes tensor `<name>`. */
export function parseNpz(bytes: Uint8Array, file: string, options: ReadOptions = {}): Tensor[] {
  return readNpz(bufferSource(bytes), file, budgetOf(options, file));
}

const NOT_REGULAR = 'not a regular file (devices, pipes and sockets are never read)';

/** The extensions {@link readTensors} accepts for a single file. */
export const TENSOR_FILE_EXTENSIONS = ['.npz', '.safetensors', '.npy'] as const;

/**
 * Reads a set of named tensors from a `.npz`, `.safetensors` or `.npy` file, or from a directory
 * of `.npy` files, within `options`' limits.
 */
export function readTensors(path: string, options: ReadOptions = {}): Map<string, Tensor> {
  let isDirectory: boolean;
  try {
    const stat = statSync(path);
    isDirectory = stat.isDirectory();
    if (!isDirectory && !stat.isFile()) throw new ArtifactError(path, undefined, NOT_REGULAR);
  } catch (error) {
    if (error instanceof ArtifactError) throw error;
    throw new ArtifactError(path, undefined, 'no such file or directory');
  }
  let tensors: Tensor[];
  if (isDirectory) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    if (files.length === 0)
      throw new ArtifactError(path, undefined, 'a directory with no .npy files');
    tensors = files.map((f) => {
      const file = join(path, f);
      return withFile(file, options, (source) =>
        readNpy(source, file, f.slice(0, -4), budgetOf(options, file)),
      );
    });
  } else {
    const budget = budgetOf(options, path);
    switch (extname(path)) {
      case '.npz':
        tensors = withFile(path, options, (source) => readNpz(source, path, budget));
        break;
      case '.safetensors':
        tensors = withFile(path, options, (source) => readSafetensors(source, path, budget));
        break;
      case '.npy':
        tensors = [
          withFile(path, options, (source) =>
            readNpy(source, path, basename(path, '.npy'), budget),
          ),
        ];
        break;
      default:
        throw new ArtifactError(
          path,
          undefined,
          `unknown tensor file type (expected ${TENSOR_FILE_EXTENSIONS.join(', ')}, or a directory of .npy files)`,
        );
    }
  }
  const byName = new Map<string, Tensor>();
  for (const t of tensors) {
    if (byName.has(t.name)) throw new ArtifactError(path, t.name, 'the tensor name appears twice');
    byName.set(t.name, t);
  }
  return byName;
}

/**
 * Opens `path` (without blocking, so a FIFO cannot hang the read), refuses anything but a
 * regular file, or a file really outside `options.within`, and reads it through `read`.
 */
function withFile<T>(path: string, options: ReadOptions, read: (source: Source) => T): T {
  if (options.within !== undefined) {
    const outside = outsideOf(options.within, path);
    if (outside !== undefined) {
      throw new ArtifactError(
        path,
        undefined,
        `${outside}; verify reads only files inside the artifact's directory ${options.within} ` +
          '(verify --allow-outside reads the others)',
      );
    }
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new ArtifactError(path, undefined, `unreadable: ${(error as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ArtifactError(path, undefined, NOT_REGULAR);
    }
    return read(fileSource(fd, stat.size, path));
  } finally {
    closeSync(fd);
  }
}
