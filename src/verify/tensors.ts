/**
 * Reading tensors that other frameworks saved: NumPy `.npy`, `.npz` (a zip of `.npy`, stored or
 * deflated) and safetensors, or a directory of `.npy` files (one tensor per file, named by the
 * file's stem, e.g. `fc1.weight.npy`).
 *
 * The two formats are short, fixed binary specs (a length-prefixed header, then raw
 * little-endian data), so they are parsed here; zip archives are opened with fflate. Every
 * failure is an {@link ArtifactError} naming the file and, where known, the tensor.
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { CyclesparseError } from '../core/errors.js';

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

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Copies `count` little-endian elements of `dtype` starting at `bytes[offset]` into a typed array. */
function decode(
  bytes: Uint8Array,
  offset: number,
  count: number,
  dtype: string,
  file: string,
  tensor: string,
): TensorValues {
  const width: Record<string, number> = {
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
  const bytesPer = width[dtype];
  if (bytesPer === undefined) {
    throw new ArtifactError(
      file,
      tensor,
      `dtype ${dtype} is not supported (expected one of ${Object.keys(width).join(', ')})`,
    );
  }
  const length = count * bytesPer;
  if (offset + length > bytes.length) {
    throw new ArtifactError(
      file,
      tensor,
      `the file holds ${bytes.length - offset} data bytes, the shape needs ${length} (truncated?)`,
    );
  }
  // A copy into a fresh, aligned buffer: the data offset need not be a multiple of the width.
  const raw = bytes.slice(offset, offset + length).buffer;
  switch (dtype) {
    case 'float64':
      return new Float64Array(raw);
    case 'float32':
      return new Float32Array(raw);
    case 'float16': {
      const half = new Uint16Array(raw);
      return Float32Array.from(half, halfToFloat);
    }
    case 'bfloat16': {
      const half = new Uint16Array(raw);
      const out = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = half[i]! << 16;
      return new Float32Array(out.buffer);
    }
    case 'int64':
      return Float64Array.from(new BigInt64Array(raw), Number);
    case 'uint64':
      return Float64Array.from(new BigUint64Array(raw), Number);
    case 'int32':
      return new Int32Array(raw);
    case 'uint32':
      return new Uint32Array(raw);
    case 'int16':
      return new Int16Array(raw);
    case 'uint16':
      return new Uint16Array(raw);
    case 'int8':
      return new Int8Array(raw);
    default:
      return new Uint8Array(raw); // uint8, bool
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

/** Parses one `.npy` file's bytes. */
export function parseNpy(bytes: Uint8Array, file: string, name: string): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) {
    throw new ArtifactError(file, name, 'not a .npy file (the \\x93NUMPY magic is missing)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
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
  if (dtype === undefined) {
    throw new ArtifactError(
      file,
      name,
      `dtype ${descr[2]} is not supported (expected one of ${Object.keys(NPY_DTYPES).join(', ')})`,
    );
  }
  const shape = shapeText[1]!
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ArtifactError(file, name, `bad shape (${shapeText[1]})`);
  }
  let values = decode(bytes, headerStart + headerLength, size(shape), dtype, file, name);
  if (fortran[1] === 'True' && shape.length > 1) values = fortranToC(values, shape);
  return { name, shape, dtype, values, file };
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

/** Parses a safetensors file: an 8-byte header length, a JSON header, then the raw data. */
export function parseSafetensors(bytes: Uint8Array, file: string): Tensor[] {
  if (bytes.length < 8)
    throw new ArtifactError(file, undefined, 'too short for a safetensors file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) {
    throw new ArtifactError(
      file,
      undefined,
      'not a safetensors file (header length exceeds the file)',
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
      string,
      unknown
    >;
  } catch {
    throw new ArtifactError(file, undefined, 'not a safetensors file (the header is not JSON)');
  }
  const dataStart = 8 + headerLength;
  return Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, entry]) => {
      const {
        dtype,
        shape,
        data_offsets: offsets,
      } = entry as {
        dtype?: string;
        shape?: number[];
        data_offsets?: [number, number];
      };
      const mapped = SAFETENSORS_DTYPES[dtype ?? ''];
      if (mapped === undefined) {
        throw new ArtifactError(
          file,
          name,
          `dtype ${String(dtype)} is not supported (expected one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`,
        );
      }
      if (!Array.isArray(shape) || !Array.isArray(offsets)) {
        throw new ArtifactError(file, name, 'header entry lacks shape or data_offsets');
      }
      const values = decode(bytes, dataStart + offsets[0], size(shape), mapped, file, name);
      return { name, shape, dtype: mapped, values, file };
    });
}

/** Parses an `.npz` archive: every member `<name>.npy` becomes tensor `<name>`. */
export function parseNpz(bytes: Uint8Array, file: string): Tensor[] {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (error) {
    throw new ArtifactError(
      file,
      undefined,
      `not a readable .npz (zip) archive: ${(error as Error).message}`,
    );
  }
  return Object.entries(members)
    .filter(([member]) => member.endsWith('.npy'))
    .map(([member, data]) => parseNpy(data, file, member.slice(0, -'.npy'.length)));
}

/** The extensions {@link readTensors} accepts for a single file. */
export const TENSOR_FILE_EXTENSIONS = ['.npz', '.safetensors', '.npy'] as const;

/**
 * Reads a set of named tensors from a `.npz`, `.safetensors` or `.npy` file, or from a directory
 * of `.npy` files.
 */
export function readTensors(path: string): Map<string, Tensor> {
  if (!existsSync(path)) throw new ArtifactError(path, undefined, 'no such file or directory');
  let tensors: Tensor[];
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    if (files.length === 0)
      throw new ArtifactError(path, undefined, 'a directory with no .npy files');
    tensors = files.map((f) => parseNpy(readBytes(join(path, f)), join(path, f), f.slice(0, -4)));
  } else {
    const bytes = readBytes(path);
    switch (extname(path)) {
      case '.npz':
        tensors = parseNpz(bytes, path);
        break;
      case '.safetensors':
        tensors = parseSafetensors(bytes, path);
        break;
      case '.npy':
        tensors = [parseNpy(bytes, path, basename(path, '.npy'))];
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

function readBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new ArtifactError(path, undefined, `unreadable: ${(error as Error).message}`);
  }
}
