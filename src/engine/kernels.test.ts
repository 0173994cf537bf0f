import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from './backend.js';
import { replacedKernels, stockKernel } from './kernels.js';
import { convAttrs, convCase, convTensors, expectClose, run, values } from './kernel-testing.js';

beforeAll(async () => {
  await useBackend('cpu');
  await useBackend('wasm');
});

describe('replacement kernels agree with the stock cpu kernels', () => {
  test('the replacements installed are the documented ones', () => {
    expect(replacedKernels('wasm')).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'BatchMatMul',
      'Identity',
    ]);
    expect(replacedKernels('cpu')).toEqual(['Conv2DBackpropFilter']);
    expect(stockKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined(); // TF.js ships none
  });

  test('Identity on wasm shares its input buffer: same values, no copy, and no leak or early free', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor([1.5, -2, 3, 4], [2, 2]);
    const tensors = tf.memory().numTensors;
    const buffers = tf.memory().numDataBuffers;
    const y = tf.engine().runKernel<tf.Tensor>('Identity', { x });
    expect(tf.memory().numDataBuffers).toBe(buffers); // shared, not copied
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2, 3, 4]); // still alive after x is gone
    y.dispose();
    expect(tf.memory().numTensors).toBe(tensors - 1);
    // Through a gradient that passes dy on by Identity (add's): values as before.
    const g = tf.grad((a: tf.Tensor) => tf.add(a, tf.scalar(1)).sum())(tf.tensor([1, 2, 3]));
    expect(Array.from(g.dataSync())).toEqual([1, 1, 1]);
  });

  test('Conv2DBackpropFilter on wasm and cpu, over shapes, strides and paddings', async () => {
    const reference = stockKernel('Conv2DBackpropFilter', 'cpu')!.kernelFunc;
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const { x, dy } = convTensors(c);
        const inputs = { x, dy };
        const attrs = { ...convAttrs(c), filterShape: c.filterShape } as unknown as tf.NamedAttrMap;
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
        const { dy, filter } = convTensors(c);
        const inputs = { dy, filter };
        const attrs = { ...convAttrs(c), inputShape: c.xShape } as unknown as tf.NamedAttrMap;
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
