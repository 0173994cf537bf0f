/**
 * Reading other frameworks' tensor files: .npy / .npz / safetensors round trips, every dtype, the
 * layouts numpy may write, and bad files rejected with the file and tensor named. Where Debian's
 * numpy is installed, files numpy itself wrote are read back too. Hostile files (a zip member
 * declaring or inflating to more than its header needs, safetensors offsets out of the data
 * section, devices) are refused before their data is read.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import { describe, expect, test } from 'vitest';
import {
  ArtifactError,
  parseNpy,
  parseNpz,
  parseSafetensors,
  readTensors,
  type ReadOptions,
} from './tensors.js';
import { encodeNpy, encodeNpz } from './write.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tensors-'));

/** A .npy file with any header text and raw data bytes. */
function rawNpy(header: string, data: Uint8Array): Uint8Array {
  const padded = header + ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + padded.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), 10);
  out.set(data, 10 + padded.length);
  return out;
}

function safetensors(
  entries: Record<string, { dtype: string; shape: number[]; data: Uint8Array }>,
): Uint8Array {
  let offset = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (const [name, e] of Object.entries(entries)) {
    header[name] = {
      dtype: e.dtype,
      shape: e.shape,
      data_offsets: [offset, offset + e.data.length],
    };
    offset += e.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const e of Object.values(entries)) {
    out.set(e.data, at);
    at += e.data.length;
  }
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A safetensors file with the header as given, and `data` after it. */
function rawSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('tensor files', () => {
  test('.npy and .npz (stored and deflated) round-trip any shape and values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.integer(),
        (shape, compress, seed) => {
          const n = shape.reduce((a, b) => a * b, 1);
          const values = Float32Array.from({ length: n }, (_, i) =>
            Math.fround(Math.sin(seed + i)),
          );
          const mask = Uint8Array.from({ length: n }, (_, i) => (seed + i) % 2);
          expect(Array.from(parseNpy(encodeNpy(values, shape), 'x.npy', 'x').values)).toEqual(
            Array.from(values),
          );
          const folder = dir();
          const file = join(folder, 'a.npz');
          writeFileSync(
            file,
            encodeNpz(
              { 'layer.weight': { values, shape }, 'layer.mask': { values: mask, shape } },
              compress,
            ),
          );
          const read = readTensors(file);
          expect(read.get('layer.weight')!.shape).toEqual(shape);
          expect(Array.from(read.get('layer.weight')!.values)).toEqual(Array.from(values));
          expect(Array.from(read.get('layer.mask')!.values)).toEqual(Array.from(mask));
        },
      ),
      { numRuns: 30 },
    );
  });

  test('every numpy dtype it supports, and Fortran order, decode to the right values', () => {
    const cases: [string, ArrayBufferView, number[]][] = [
      ['<f8', new Float64Array([1.5, -2.25]), [1.5, -2.25]],
      ['<f2', new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]), [1, -2, 0.333251953125, 2 ** -24]],
      ['<i8', new BigInt64Array([-3n, 7n]), [-3, 7]],
      ['<u2', new Uint16Array([65535, 2]), [65535, 2]],
      ['|i1', new Int8Array([-128, 5]), [-128, 5]],
      ['|b1', new Uint8Array([1, 0]), [1, 0]],
    ];
    for (const [descr, data, expected] of cases) {
      const n = expected.length;
      const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${n},), }`;
      expect(Array.from(parseNpy(rawNpy(header, bytesOf(data)), 'f.npy', 'f').values)).toEqual(
        expected,
      );
    }
    // [[0, 1, 2], [3, 4, 5]] stored column-major: 0 3 1 4 2 5.
    const fortran = rawNpy(
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
      bytesOf(new Float32Array([0, 3, 1, 4, 2, 5])),
    );
    expect(Array.from(parseNpy(fortran, 'f.npy', 'f').values)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('safetensors: F32, F16, BF16, BOOL and I64 tensors by name', () => {
    const file = safetensors({
      w: { dtype: 'F32', shape: [2, 2], data: bytesOf(new Float32Array([1, 2, 3, 4])) },
      h: { dtype: 'F16', shape: [2], data: bytesOf(new Uint16Array([0x3c00, 0xbc00])) },
      b: { dtype: 'BF16', shape: [1], data: bytesOf(new Uint16Array([0x4040])) },
      m: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      i: { dtype: 'I64', shape: [1], data: bytesOf(new BigInt64Array([42n])) },
    });
    const read = new Map(parseSafetensors(file, 'model.safetensors').map((t) => [t.name, t]));
    expect(Array.from(read.get('w')!.values)).toEqual([1, 2, 3, 4]);
    expect(read.get('w')!.shape).toEqual([2, 2]);
    expect(Array.from(read.get('h')!.values)).toEqual([1, -1]);
    expect(Array.from(read.get('b')!.values)).toEqual([3]);
    expect(Array.from(read.get('m')!.values)).toEqual([1, 0, 1]);
    expect(Array.from(read.get('i')!.values)).toEqual([42]);
    expect(read.has('__metadata__')).toBe(false);
  });

  test('bad files are errors naming the file and the tensor', () => {
    const folder = dir();
    const write = (name: string, bytes: Uint8Array) => {
      writeFileSync(join(folder, name), bytes);
      return join(folder, name);
    };
    const expectError = (path: string, pattern: RegExp) => {
      expect(() => readTensors(path)).toThrow(ArtifactError);
      expect(() => readTensors(path)).toThrow(pattern);
    };
    const good = encodeNpy(new Float32Array([1, 2, 3, 4]), [4]);
    expectError(
      write('truncated.npy', good.subarray(0, good.length - 3)),
      /truncated\.npy \(tensor truncated\): .*needs 16/,
    );
    expectError(
      write('text.npy', new TextEncoder().encode('hello, not numpy')),
      /text\.npy.*magic/,
    );
    expectError(
      write(
        'big.npy',
        rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)),
      ),
      /big\.npy \(tensor big\): big-endian/,
    );
    expectError(
      write(
        'complex.npy',
        rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
      ),
      /complex\.npy \(tensor complex\): dtype c8 is not supported/,
    );
    expectError(
      write('broken.npz', new Uint8Array([1, 2, 3])),
      /broken\.npz: not a readable \.npz/,
    );
    expectError(write('weights.pt', good), /weights\.pt: unknown tensor file type/);
    expectError(join(folder, 'absent.npz'), /absent\.npz: no such file/);
    const badDtype = safetensors({ q: { dtype: 'F8_E4M3', shape: [1], data: new Uint8Array(1) } });
    expectError(
      write('q.safetensors', badDtype),
      /q\.safetensors \(tensor q\): dtype F8_E4M3 is not supported/,
    );
  });

  test('an .npz member is checked against its .npy header before it is inflated', () => {
    const folder = dir();
    const write = (name: string, bytes: Uint8Array) => {
      writeFileSync(join(folder, name), bytes);
      return join(folder, name);
    };
    const expectError = (path: string, pattern: RegExp, options: ReadOptions = {}) => {
      expect(() => readTensors(path, options)).toThrow(ArtifactError);
      expect(() => readTensors(path, options)).toThrow(pattern);
    };
    const w = encodeNpy(new Float32Array([1, 2, 3, 4]), [4]); // 128 header bytes + 16
    // A member whose header needs 16 data bytes, followed by 4 MiB of zeros (4 KiB deflated).
    const padded = new Uint8Array(w.length + 2 ** 22);
    padded.set(w);
    for (const level of [0, 9] as const) {
      const bomb = write(`bomb-${level}.npz`, zipSync({ 'w.npy': padded }, { level }));
      expectError(
        bomb,
        new RegExp(
          `bomb-${level}\\.npz \\(tensor w\\): member w\\.npy: declares ${padded.length} bytes uncompressed, ` +
            `its \\.npy header \\(shape \\[4\\] of float32\\) needs 144`,
        ),
      );
    }
    // A member whose central directory declares what its header needs, but whose deflate stream
    // goes on: inflating stops at the declared size (or, with far more compressed bytes than
    // that size can need, is not started).
    const lie = (member: Uint8Array, declared: number) => {
      const zip = zipSync({ 'w.npy': member }, { level: 9 });
      const view = new DataView(zip.buffer);
      const directory = zip.findLastIndex(
        (_, i) => i + 4 <= zip.length && view.getUint32(i, true) === 0x02014b50,
      );
      view.setUint32(directory + 24, declared, true);
      return zip;
    };
    const w4096 = encodeNpy(new Float32Array(4096), [4096]); // 128 + 16384 bytes
    const longer = new Uint8Array(w4096.length + 2 ** 22);
    longer.set(w4096);
    expectError(
      write('lying.npz', lie(longer, w4096.length)),
      /lying\.npz \(tensor w\): member w\.npy inflates past the 16512 bytes it declares/,
    );
    expectError(
      write('dense.npz', lie(padded, w.length)),
      /dense\.npz \(tensor w\): member w\.npy: \d+ compressed bytes, more than any deflate stream of its declared 144 bytes needs/,
    );
    // A limit on the tensor data of one file, checked from the headers.
    const big = encodeNpz({ a: { values: new Float32Array(1000), shape: [1000] } }, true);
    expectError(write('big.npz', big), /big\.npz \(tensor a\): .*over the limit of 1000 bytes/, {
      maxBytes: 1000,
    });
    expect(readTensors(join(folder, 'big.npz'), { maxBytes: 4000 }).get('a')!.shape).toEqual([
      1000,
    ]);
    expect(() => parseNpz(big, 'big.npz', { maxBytes: 3999 })).toThrow(/over the limit/);
    // A plain .npy longer than its header needs, or over the limit.
    const long = new Uint8Array(w.length + 8);
    long.set(w);
    expectError(
      write('long.npy', long),
      /long\.npy \(tensor long\): .*holds 24 data bytes, .* needs only 16/,
    );
    expectError(write('w.npy', w), /w\.npy \(tensor w\): .*over the limit of 15 bytes/, {
      maxBytes: 15,
    });
  });

  test('safetensors headers are checked: offsets inside the data section, sized by shape, no overlap', () => {
    const data = bytesOf(new Float32Array([1, 2, 3, 4]));
    const read =
      (header: Record<string, unknown>, bytes = data, options: ReadOptions = {}) =>
      () =>
        parseSafetensors(rawSafetensors(header, bytes), 'm.safetensors', options);
    const f32 = (shape: number[], offsets: unknown) => ({
      dtype: 'F32',
      shape,
      data_offsets: offsets,
    });
    expect(read({ w: f32([4], [0, 16]) })()[0]!.values).toEqual(new Float32Array([1, 2, 3, 4]));
    const refused: [Record<string, unknown>, RegExp][] = [
      [
        { w: f32([4], [0, 400]) },
        /\(tensor w\): data_offsets \[0, 400\] run past the end of the data section \(16 bytes\)/,
      ],
      [{ w: f32([1], [1e15, 1e15 + 4]) }, /\(tensor w\): data_offsets .* run past the end/],
      [{ w: f32([1], [8, 4]) }, /\(tensor w\): data_offsets \[8, 4\]: begin is after end/],
      [
        { w: f32([4], [0, 8]) },
        /\(tensor w\): data_offsets \[0, 8\] hold 8 bytes, shape \[4\] of F32 needs 16/,
      ],
      [
        { w: f32([2], [0, 8]), v: f32([2], [4, 12]) },
        /\(tensor v\): data_offsets \[4, 12\] overlap tensor w's/,
      ],
      [
        { w: f32([2], [0, 8]), v: f32([1], [12, 16]) },
        /\(tensor v\): .* leave bytes 8 to 12 .* unused/,
      ],
      [
        { w: f32([2], [0, 8]) },
        /m\.safetensors: the data section holds 16 bytes, the tensors use 8/,
      ],
      [{ w: f32([4], 'all') }, /\(tensor w\): data_offsets "all" is not a pair/],
      [{ w: f32([-4], [0, 16]) }, /\(tensor w\): shape \[-4\] is not a list of sizes/],
    ];
    for (const [header, pattern] of refused) {
      expect(read(header)).toThrow(ArtifactError);
      expect(read(header)).toThrow(pattern);
    }
    expect(read({ w: f32([4], [0, 16]) }, data, { maxBytes: 8 })).toThrow(
      /over the limit of 8 bytes/,
    );
    // A header length past the file.
    const huge = rawSafetensors({}, new Uint8Array(0));
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(() => parseSafetensors(huge, 'h.safetensors')).toThrow(
      /header length .* exceeds the file/,
    );
  });

  test('devices and other non-regular files are never read', () => {
    const folder = dir();
    for (const [device, name] of [
      ['/dev/null', 'null.npz'],
      ['/dev/zero', 'zero.npz'],
      ['/dev/zero', 'zero.safetensors'],
      ['/dev/zero', 'zero.npy'],
    ] as const) {
      symlinkSync(device, join(folder, name));
      expect(() => readTensors(join(folder, name))).toThrow(
        new RegExp(`${name}: not a regular file`),
      );
    }
    // A FIFO with no writer would block a plain open forever.
    const fifo = join(folder, 'fifo.npy');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      expect(() => readTensors(fifo)).toThrow(/fifo\.npy: not a regular file/);
    }
  });

  const numpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  test.runIf(numpy.status === 0)(
    'files numpy itself wrote: every dtype, Fortran order, savez and savez_compressed',
    () => {
      const folder = dir();
      const script = `
import numpy as np
arrays = {d: (np.arange(6).reshape(2, 3) % 2 if d == '?' else np.arange(6).reshape(2, 3) - 2).astype(d)
          for d in ['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', '?']}
arrays['fortran'] = np.asfortranarray(np.arange(6, dtype='f4').reshape(2, 3))
np.savez('${folder}/plain.npz', **arrays)
np.savez_compressed('${folder}/compressed.npz', **arrays)
np.save('${folder}/single.npy', np.arange(24, dtype='f4').reshape(2, 3, 4))
`;
      expect(spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' }).status).toBe(0);
      for (const file of ['plain.npz', 'compressed.npz']) {
        const read = readTensors(join(folder, file));
        for (const [name, t] of read) {
          const expected =
            name === '?'
              ? [0, 1, 0, 1, 0, 1]
              : name === 'fortran'
                ? [0, 1, 2, 3, 4, 5]
                : [-2, -1, 0, 1, 2, 3];
          // Unsigned dtypes wrap −2 and −1 around, as numpy does.
          const wrapped = name.startsWith('u')
            ? expected.map((v) => (v < 0 ? v + 2 ** (8 * Number(name.slice(1))) : v))
            : expected;
          expect({ name, shape: t.shape, values: Array.from(t.values) }).toEqual({
            name,
            shape: [2, 3],
            values: wrapped,
          });
        }
      }
      const single = readTensors(join(folder, 'single.npy')).get('single')!;
      expect(single.shape).toEqual([2, 3, 4]);
      expect(Array.from(single.values)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    },
  );
});
