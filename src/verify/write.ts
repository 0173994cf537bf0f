/**
 * Writing tensors as NumPy files, so cyclesparse's own runs (and the tests and benchmarks) can
 * produce artifacts in the format `verify` reads from other frameworks.
 */

import { zipSync } from 'fflate';

type Writable = Float32Array | Float64Array | Uint8Array | Int32Array;

const DESCR = new Map<string, string>([
  ['Float32Array', '<f4'],
  ['Float64Array', '<f8'],
  ['Uint8Array', '|u1'],
  ['Int32Array', '<i4'],
]);

/** One `.npy` file (format 1.0, C order, little-endian). */
export function encodeNpy(values: Writable, shape: readonly number[]): Uint8Array {
  const descr = DESCR.get(values.constructor.name)!;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // The header is padded with spaces and ends in a newline so the data starts 64-byte aligned.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

/** An `.npz` archive of named tensors; `compress` deflates as `np.savez_compressed` does. */
export function encodeNpz(
  tensors: Readonly<Record<string, { values: Writable; shape: readonly number[] }>>,
  compress = false,
): Uint8Array {
  return zipSync(
    Object.fromEntries(
      Object.entries(tensors).map(([name, t]) => [`${name}.npy`, encodeNpy(t.values, t.shape)]),
    ),
    { level: compress ? 6 : 0 },
  );
}
