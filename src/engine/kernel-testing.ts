/**
 * Shared by the kernel tests: random conv and matmul cases, running a kernel on fresh tensors of
 * a backend, and the closeness check. Test-only (imported by *.test.ts files).
 */

import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { expect } from 'vitest';

export type Input = { readonly values: Float32Array; readonly shape: number[] };

/** Runs `kernel` on `backendName` with fresh tensors made there; returns the output values. */
export async function run(
  backendName: string,
  kernel: tf.KernelFunc,
  inputs: Record<string, Input>,
  attrs: tf.NamedAttrMap,
): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backendName);
  const backend = tf.backend();
  const tensors = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]),
  );
  const before = tf.memory().numBytes;
  const out = kernel({ inputs: tensors, backend, attrs }) as tf.TensorInfo;
  const values = Float32Array.from(backend.readSync(out.dataId) as Float32Array);
  backend.disposeData(out.dataId);
  tf.dispose(Object.values(tensors));
  // The kernel freed every intermediate it made.
  expect(tf.memory().numBytes).toBeLessThanOrEqual(before);
  return { values, shape: out.shape };
}

export function expectClose(
  actual: { values: Float32Array; shape: number[] },
  expected: { values: Float32Array; shape: number[] },
): void {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, ...Array.from(expected.values, Math.abs));
  let worst = 0;
  actual.values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.values[i]!))));
  expect(worst / scale).toBeLessThan(2e-6);
}

export const values = (size: number, seed: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: size }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * 4;
  });
};

export const padding = (kernel: number) =>
  fc.oneof(
    fc.constantFrom('valid' as const, 'same' as const),
    fc.integer({ min: 0, max: kernel - 1 }),
    fc
      .tuple(fc.nat(kernel - 1), fc.nat(kernel - 1), fc.nat(kernel - 1), fc.nat(kernel - 1))
      .map(([t, b, l, r]): tf.backend_util.ExplicitPadding => [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ]),
  );

export const convCase = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    height: fc.integer({ min: 1, max: 9 }),
    width: fc.integer({ min: 1, max: 9 }),
    inChannels: fc.integer({ min: 1, max: 4 }),
    outChannels: fc.integer({ min: 1, max: 4 }),
    kernel: fc.integer({ min: 1, max: 5 }),
    strideH: fc.integer({ min: 1, max: 3 }),
    strideW: fc.integer({ min: 1, max: 3 }),
    seed: fc.nat(),
  })
  .chain((c) => fc.record({ c: fc.constant(c), pad: padding(c.kernel) }))
  .map(({ c, pad }) => {
    const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
    const filterShape: [number, number, number, number] = [
      c.kernel,
      c.kernel,
      c.inChannels,
      c.outChannels,
    ];
    const info = tf.backend_util.computeConv2DInfo(
      xShape,
      filterShape,
      [c.strideH, c.strideW],
      1,
      pad,
    );
    return {
      ...c,
      pad,
      xShape,
      filterShape,
      outShape: [c.batch, info.outHeight, info.outWidth, c.outChannels],
    };
  })
  .filter((c) => c.outShape.every((d) => d >= 1));

export type ConvCase = typeof convCase extends fc.Arbitrary<infer T> ? T : never;

/** Seeded values for a case's input, output gradient and filter (seeds +0, +1, +2). */
export function convTensors(c: ConvCase): { x: Input; dy: Input; filter: Input } {
  const tensor = (shape: number[], seed: number): Input => ({
    values: values(
      shape.reduce((a, b) => a * b),
      seed,
    ),
    shape,
  });
  return {
    x: tensor(c.xShape, c.seed),
    dy: tensor(c.outShape, c.seed + 1),
    filter: tensor(c.filterShape, c.seed + 2),
  };
}

/** The attributes every convolution kernel of a case shares. */
export const convAttrs = (c: ConvCase) => ({
  strides: [c.strideH, c.strideW],
  pad: c.pad,
  dataFormat: 'NHWC',
});
