import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from './backend.js';
import { replacedKernels, stockKernel } from './kernels.js';

type Input = { readonly values: Float32Array; readonly shape: number[] };

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
});

/** Runs `kernel` on `backendName` with fresh tensors made there; returns the output values. */
async function run(
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

function expectClose(
  actual: { values: Float32Array; shape: number[] },
  expected: { values: Float32Array; shape: number[] },
): void {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, ...Array.from(expected.values, Math.abs));
  let worst = 0;
  actual.values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.values[i]!))));
  expect(worst / scale).toBeLessThan(2e-6);
}

const values = (size: number, seed: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: size }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * 4;
  });
};

const padding = (kernel: number) =>
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

const convCase = fc
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

describe('replacement kernels agree with the stock cpu kernels', () => {
  test('the replacements installed are the documented ones', () => {
    expect(replacedKernels('wasm')).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'BatchMatMul',
    ]);
    expect(replacedKernels('cpu')).toEqual(['Conv2DBackpropFilter']);
    expect(stockKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined(); // TF.js ships none
  });

  test('Conv2DBackpropFilter on wasm and cpu, over shapes, strides and paddings', async () => {
    const reference = stockKernel('Conv2DBackpropFilter', 'cpu')!.kernelFunc;
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const inputs = {
          x: {
            values: values(
              c.xShape.reduce((a, b) => a * b),
              c.seed,
            ),
            shape: c.xShape,
          },
          dy: {
            values: values(
              c.outShape.reduce((a, b) => a * b),
              c.seed + 1,
            ),
            shape: c.outShape,
          },
        };
        const attrs = {
          strides: [c.strideH, c.strideW],
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: c.filterShape,
        } as unknown as tf.NamedAttrMap;
        const expected = await run('cpu', reference, inputs, attrs);
        for (const backendName of ['wasm', 'cpu']) {
          expectClose(
            await run(
              backendName,
              tf.getKernel('Conv2DBackpropFilter', backendName).kernelFunc,
              inputs,
              attrs,
            ),
            expected,
          );
        }
      }),
      { numRuns: 60 },
    );
  });

  test('Conv2DBackpropInput on wasm, over shapes, strides and paddings', async () => {
    const reference = stockKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc;
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const inputs = {
          dy: {
            values: values(
              c.outShape.reduce((a, b) => a * b),
              c.seed,
            ),
            shape: c.outShape,
          },
          filter: {
            values: values(
              c.filterShape.reduce((a, b) => a * b),
              c.seed + 2,
            ),
            shape: c.filterShape,
          },
        };
        const attrs = {
          strides: [c.strideH, c.strideW],
          pad: c.pad,
          dataFormat: 'NHWC',
          inputShape: c.xShape,
        } as unknown as tf.NamedAttrMap;
        const expected = await run('cpu', reference, inputs, attrs);
        expectClose(
          await run('wasm', tf.getKernel('Conv2DBackpropInput', 'wasm').kernelFunc, inputs, attrs),
          expected,
        );
      }),
      { numRuns: 60 },
    );
  });

  test('BatchMatMul with every transpose combination on wasm', async () => {
    const reference = stockKernel('BatchMatMul', 'cpu')!.kernelFunc;
    const matmulCase = fc.record({
      batch: fc.integer({ min: 1, max: 3 }),
      m: fc.integer({ min: 1, max: 7 }),
      k: fc.integer({ min: 1, max: 7 }),
      n: fc.integer({ min: 1, max: 7 }),
      transposeA: fc.boolean(),
      transposeB: fc.boolean(),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(matmulCase, async ({ batch, m, k, n, transposeA, transposeB, seed }) => {
        const aShape = transposeA ? [batch, k, m] : [batch, m, k];
        const bShape = transposeB ? [batch, n, k] : [batch, k, n];
        const inputs = {
          a: { values: values(batch * m * k, seed), shape: aShape },
          b: { values: values(batch * k * n, seed + 3), shape: bShape },
        };
        const attrs = { transposeA, transposeB } as unknown as tf.NamedAttrMap;
        const expected = await run('cpu', reference, inputs, attrs);
        expectClose(
          await run('wasm', tf.getKernel('BatchMatMul', 'wasm').kernelFunc, inputs, attrs),
          expected,
        );
      }),
      { numRuns: 40 },
    );
  });
});
