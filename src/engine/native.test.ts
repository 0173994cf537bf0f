/**
 * The native kernels against TF.js's stock cpu kernels, over random shapes, strides, paddings
 * and dilations, in both convolution modes (oneDNN primitives and im2col + GEMM); the fused
 * batch norm against the tf-ops formula; and a whole training step on `native` against `wasm`.
 * Skipped, with the reason in the test name, where the addon is not built.
 */

import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from './backend.js';
import { stockKernel } from './kernels.js';
import { convAttrs, convCase, convTensors, expectClose, run, values } from './kernel-testing.js';
import {
  ADD_RELU,
  BATCH_NORM_GRAD,
  BATCH_NORM_TRAIN,
  RELU_GRAD,
  loadNative,
  nativeKernels,
} from './native.js';
import { Network } from './network.js';
import { modelSpec } from '../models/zoo.js';

const { addon, reason } = loadNative();

test.skipIf(addon !== undefined || process.env.CYCLESPARSE_NATIVE_REQUIRED === '1')(
  `native kernels are not available here (${reason})`,
  () => {},
);

// CI builds the addon strictly; a missing addon there is a failure, not a skip.
test.runIf(process.env.CYCLESPARSE_NATIVE_REQUIRED === '1')(
  'the native addon loads (required here)',
  () => {
    expect(addon, reason).toBeDefined();
  },
);

/**
 * A float32 sum in any order is within n·u·Σ|x| of the exact sum (u = 2⁻²⁴; the classical bound
 * for recursive summation), so the check holds every summation order to that bound against a
 * float64 reference rather than to another backend's order.
 */
function expectSumWithinBound(
  got: Float32Array,
  x: { values: Float32Array; shape: number[] },
  axis: number[],
): void {
  const kept = x.shape.map((_, i) => i).filter((i) => !axis.includes(i));
  const outSize = kept.reduce((p, i) => p * x.shape[i]!, 1);
  const exact = new Float64Array(outSize);
  const magnitude = new Float64Array(outSize);
  const index = new Array<number>(x.shape.length).fill(0);
  for (let flat = 0; flat < x.values.length; flat++) {
    let out = 0;
    for (const i of kept) out = out * x.shape[i]! + index[i]!;
    exact[out]! += x.values[flat]!;
    magnitude[out]! += Math.abs(x.values[flat]!);
    for (let d = x.shape.length - 1; d >= 0; d--) {
      if (++index[d]! < x.shape[d]!) break;
      index[d] = 0;
    }
  }
  const n = axis.reduce((p, i) => p * x.shape[i]!, 1);
  got.forEach((v, i) => {
    expect(Math.abs(v - exact[i]!)).toBeLessThanOrEqual(n * 2 ** -24 * magnitude[i]! + 1e-30);
  });
}

describe.runIf(addon !== undefined)('native kernels', () => {
  const kernels = nativeKernels(addon!);
  beforeAll(async () => {
    await useBackend('cpu');
    await useBackend('wasm');
  });

  const convolution = ['primitives', 'im2col'] as const;

  test.each(convolution)('Conv2D (%s), with dilations, against stock cpu', async (mode) => {
    addon!.setConvolution(mode);
    const reference = stockKernel('Conv2D', 'cpu')!.kernelFunc;
    await fc.assert(
      fc.asyncProperty(convCase, fc.integer({ min: 1, max: 2 }), async (c, dilation) => {
        // TF.js allows dilations only with stride 1.
        const dilations = c.strideH === 1 && c.strideW === 1 ? dilation : 1;
        const info = tf.backend_util.computeConv2DInfo(
          c.xShape,
          c.filterShape,
          [c.strideH, c.strideW],
          dilations,
          c.pad,
        );
        fc.pre(info.outHeight >= 1 && info.outWidth >= 1);
        const { x, filter } = convTensors(c);
        const inputs = { x, filter };
        const attrs = { ...convAttrs(c), dilations } as unknown as tf.NamedAttrMap;
        expectClose(
          await run('wasm', kernels.Conv2D!, inputs, attrs),
          await run('cpu', reference, inputs, attrs),
        );
      }),
      { numRuns: 60 },
    );
    addon!.setConvolution('primitives');
  });

  test.each(convolution)(
    'Conv2DBackpropFilter and Conv2DBackpropInput (%s) against stock cpu',
    async (mode) => {
      addon!.setConvolution(mode);
      await fc.assert(
        fc.asyncProperty(convCase, async (c) => {
          const { x, dy, filter } = convTensors(c);
          const common = convAttrs(c);
          const filterAttrs = {
            ...common,
            filterShape: c.filterShape,
          } as unknown as tf.NamedAttrMap;
          expectClose(
            await run('wasm', kernels.Conv2DBackpropFilter!, { x, dy }, filterAttrs),
            await run(
              'cpu',
              stockKernel('Conv2DBackpropFilter', 'cpu')!.kernelFunc,
              { x, dy },
              filterAttrs,
            ),
          );
          const inputAttrs = { ...common, inputShape: c.xShape } as unknown as tf.NamedAttrMap;
          expectClose(
            await run('wasm', kernels.Conv2DBackpropInput!, { dy, filter }, inputAttrs),
            await run(
              'cpu',
              stockKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc,
              { dy, filter },
              inputAttrs,
            ),
          );
        }),
        { numRuns: 60 },
      );
      addon!.setConvolution('primitives');
    },
  );

  test.each(convolution)(
    'the three convolution kernels (%s) against stock cpu at ResNet-like channel counts',
    async (mode) => {
      addon!.setConvolution(mode);
      // Channel counts where blocked layouts (8 or 16 channels a block) differ from NHWC.
      const cases: [number[], number[], number, number | 'valid'][] = [
        [[2, 8, 8, 16], [3, 3, 16, 16], 1, 1],
        [[2, 9, 7, 16], [3, 3, 16, 32], 2, 1],
        [[3, 8, 8, 16], [1, 1, 16, 24], 2, 0],
        [[2, 6, 6, 32], [3, 3, 32, 8], 1, 'valid'],
        [[2, 10, 10, 1], [5, 5, 1, 6], 1, 2],
        [[2, 7, 7, 6], [5, 5, 6, 16], 1, 'valid'],
      ];
      for (const [[n, h, w, c], filterShape, stride, pad] of cases) {
        const xShape = [n!, h!, w!, c!] as [number, number, number, number];
        const info = tf.backend_util.computeConv2DInfo(
          xShape,
          filterShape as [number, number, number, number],
          stride,
          1,
          pad,
        );
        const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
        const x = { values: values(size(xShape), n! + c!), shape: xShape };
        const filter = { values: values(size(filterShape), c! + 7), shape: filterShape };
        const dy = { values: values(size(info.outShape), c! + 9), shape: [...info.outShape] };
        const common = { strides: stride, pad, dataFormat: 'NHWC', dilations: 1 };
        const cpu = (name: string) => stockKernel(name, 'cpu')!.kernelFunc;
        const attrs = common as unknown as tf.NamedAttrMap;
        expectClose(
          await run('wasm', kernels.Conv2D!, { x, filter }, attrs),
          await run('cpu', cpu('Conv2D'), { x, filter }, attrs),
        );
        const filterAttrs = { ...common, filterShape } as unknown as tf.NamedAttrMap;
        expectClose(
          await run('wasm', kernels.Conv2DBackpropFilter!, { x, dy }, filterAttrs),
          await run('cpu', cpu('Conv2DBackpropFilter'), { x, dy }, filterAttrs),
        );
        const inputAttrs = { ...common, inputShape: xShape } as unknown as tf.NamedAttrMap;
        expectClose(
          await run('wasm', kernels.Conv2DBackpropInput!, { dy, filter }, inputAttrs),
          await run('cpu', cpu('Conv2DBackpropInput'), { dy, filter }, inputAttrs),
        );
      }
      addon!.setConvolution('primitives');
    },
  );

  test('MaxPool and Relu against stock cpu, every padding, ties and NaN', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 3 }),
          height: fc.integer({ min: 1, max: 9 }),
          width: fc.integer({ min: 1, max: 9 }),
          channels: fc.integer({ min: 1, max: 70 }),
          filter: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 3 }),
          pad: fc.constantFrom('valid' as const, 'same' as const),
          special: fc.constantFrom('none', 'ties', 'nan'),
          seed: fc.nat(),
        }),
        async (c) => {
          const xShape = [c.batch, c.height, c.width, c.channels] as [
            number,
            number,
            number,
            number,
          ];
          const info = tf.backend_util.computePool2DInfo(xShape, c.filter, c.stride, 1, c.pad);
          fc.pre(info.outHeight >= 1 && info.outWidth >= 1);
          const raw = values(
            xShape.reduce((a, b) => a * b, 1),
            c.seed,
          );
          const x =
            c.special === 'ties'
              ? raw.map(Math.round)
              : c.special === 'nan'
                ? raw.map((v, i) => (i % 5 === 0 ? Number.NaN : v))
                : raw;
          const inputs = { x: { values: x, shape: xShape } };
          const attrs = {
            filterSize: c.filter,
            strides: c.stride,
            pad: c.pad,
          } as unknown as tf.NamedAttrMap;
          const pooled = await run('wasm', kernels.MaxPool!, inputs, attrs);
          const reference = await run(
            'cpu',
            stockKernel('MaxPool', 'cpu')!.kernelFunc,
            inputs,
            attrs,
          );
          expect(pooled.shape).toEqual(reference.shape);
          expect(Array.from(pooled.values)).toEqual(Array.from(reference.values));
          const relu = await run('wasm', kernels.Relu!, inputs, {});
          const reluReference = await run(
            'cpu',
            stockKernel('Relu', 'cpu')!.kernelFunc,
            inputs,
            {},
          );
          expect(Array.from(relu.values)).toEqual(Array.from(reluReference.values));
        },
      ),
      { numRuns: 80 },
    );
  });

  test('the fused add + ReLU equals relu(add) of stock cpu, and its gradient through tf.grads', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        async (shape, seed) => {
          const size = shape.reduce((a, b) => a * b, 1);
          const a = { values: values(size, seed), shape };
          const b = {
            values: values(size, seed + 1).map((v, i) => (i % 3 ? v : -a.values[i]!)),
            shape,
          };
          const fused = await run('wasm', kernels[ADD_RELU]!, { a, b }, {});
          const sum = await run('cpu', stockKernel('Add', 'cpu')!.kernelFunc, { a, b }, {});
          const reference = await run(
            'cpu',
            stockKernel('Relu', 'cpu')!.kernelFunc,
            { x: sum },
            {},
          );
          expect(Array.from(fused.values)).toEqual(Array.from(reference.values));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('the fused batch norm + ReLU equals relu of the tf-ops formula, forward and backward', async () => {
    await useBackend('native');
    const x = tf.randomNormal([4, 5, 3, 9], 0.5, 2, 'float32', 11);
    const gamma = tf.randomNormal([9], 1, 0.3, 'float32', 12);
    const beta = tf.randomNormal([9], 0, 1, 'float32', 13);
    const dy = tf.randomNormal([4, 5, 3, 9], 0, 1, 'float32', 14);
    const formula = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      const normalised = tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5)));
      return tf.relu(tf.add(tf.mul(normalised, g), b));
    };
    const [y, mean, , rstd] = tf
      .engine()
      .runKernel<tf.Tensor[]>(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon: 1e-5, relu: true });
    const close = (a: tf.Tensor, b: tf.Tensor, tolerance: number) =>
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(tolerance);
    close(y!, formula(x, gamma, beta), 1e-5);
    expect(tf.min(y!).dataSync()[0]).toBe(0); // some values were clipped
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel<tf.Tensor[]>(
        BATCH_NORM_GRAD,
        { dy, x, mean: mean!, rstd: rstd!, gamma, y: y! },
        {},
      );
    const [gx, gg, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(formula(a, b, c), dy)),
    )([x, gamma, beta]);
    close(dx!, gx!, 1e-5);
    close(dgamma!, gg!, 1e-4);
    close(dbeta!, gb!, 1e-4);
    tf.dispose([x, gamma, beta, dy, y!, mean!, rstd!, dx!, dgamma!, dbeta!, gx!, gg!, gb!]);
    await useBackend('wasm');
  });

  test('MaxPoolGrad against stock cpu, with ties (first maximum wins) and every padding', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 3 }),
          height: fc.integer({ min: 1, max: 9 }),
          width: fc.integer({ min: 1, max: 9 }),
          channels: fc.integer({ min: 1, max: 5 }),
          filter: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 3 }),
          pad: fc.constantFrom('valid' as const, 'same' as const),
          ties: fc.boolean(),
          seed: fc.nat(),
        }),
        async (c) => {
          const xShape = [c.batch, c.height, c.width, c.channels] as [
            number,
            number,
            number,
            number,
          ];
          const info = tf.backend_util.computePool2DInfo(xShape, c.filter, c.stride, 1, c.pad);
          fc.pre(info.outHeight >= 1 && info.outWidth >= 1);
          const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
          const raw = values(size(xShape), c.seed);
          // Rounded values make many windows hold several equal maxima.
          const x = c.ties ? raw.map(Math.round) : raw;
          const outShape = [...info.outShape];
          const inputs = {
            dy: { values: values(size(outShape), c.seed + 1), shape: outShape },
            input: { values: x, shape: xShape },
            // The stock kernel requires the forward output but reads only the input.
            output: { values: new Float32Array(size(outShape)), shape: outShape },
          };
          const attrs = {
            filterSize: c.filter,
            strides: c.stride,
            pad: c.pad,
          } as unknown as tf.NamedAttrMap;
          expectClose(
            await run('wasm', kernels.MaxPoolGrad!, inputs, attrs),
            await run('cpu', stockKernel('MaxPoolGrad', 'cpu')!.kernelFunc, inputs, attrs),
          );
        },
      ),
      { numRuns: 80 },
    );
  });

  test('the fused ReLU gradient equals TF.js formula mul(dy, step(x)) bit for bit, NaN and ±0 included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.float({ noDefaultInfinity: true }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        async (xs, seed) => {
          const x = { values: Float32Array.from(xs), shape: [xs.length] };
          const dy = { values: values(xs.length, seed), shape: [xs.length] };
          const fused = await run('wasm', kernels[RELU_GRAD]!, { dy, x }, {});
          await tf.setBackend('wasm');
          const formula = tf.tidy(() => {
            const [xt, dyt] = [tf.tensor(x.values), tf.tensor(dy.values)];
            return tf.mul(dyt, tf.cast(tf.step(xt), 'float32')).dataSync() as Float32Array;
          });
          expect(Array.from(fused.values)).toEqual(Array.from(formula));
        },
      ),
      { numRuns: 60 },
    );
    // And Relu's gradient is routed to it: the same numbers through tf.grad.
    await useBackend('native');
    const xs = tf.tensor([-1, 0, 2, Number.NaN, 3]);
    const g = tf.grad((a: tf.Tensor) =>
      tf
        .relu(a)
        .mul(tf.tensor([1, 2, 3, 4, 5]))
        .sum(),
    )(xs);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 3, Number.NaN, 5]);
    await useBackend('wasm');
  });

  test('Add (equal shapes, last-axis vectors, and every other broadcast via the fallback) and Sum against stock cpu', async () => {
    const shapeCase = fc
      .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
      .chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          other: fc.constantFrom<'same' | 'vector' | 'scalar' | 'leading'>(
            'same',
            'vector',
            'scalar',
            'leading',
          ),
          swap: fc.boolean(),
          seed: fc.nat(),
        }),
      );
    await fc.assert(
      fc.asyncProperty(shapeCase, async ({ shape, other, swap, seed }) => {
        const otherShape =
          other === 'same'
            ? shape
            : other === 'vector'
              ? [shape.at(-1)!]
              : other === 'scalar'
                ? []
                : [shape[0]!, ...shape.slice(1).map(() => 1)];
        const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
        const x = { values: values(size(shape), seed), shape };
        const y = { values: values(size(otherShape), seed + 1), shape: otherShape };
        const inputs = swap ? { a: y, b: x } : { a: x, b: y };
        expectClose(
          await run('wasm', kernels.Add!, inputs, {}),
          await run('cpu', stockKernel('Add', 'cpu')!.kernelFunc, inputs, {}),
        );
        for (const axis of [[...shape.keys()].slice(0, -1), [0], [...shape.keys()]]) {
          if (axis.length === 0) continue;
          for (const keepDims of [false, true]) {
            const attrs = { axis, keepDims } as unknown as tf.NamedAttrMap;
            const got = await run('wasm', kernels.Sum!, { x }, attrs);
            expect(got.shape).toEqual(
              (await run('cpu', stockKernel('Sum', 'cpu')!.kernelFunc, { x }, attrs)).shape,
            );
            expectSumWithinBound(got.values, x, axis);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  test('BatchMatMul with transposes and broadcast batches against stock cpu', async () => {
    const reference = stockKernel('BatchMatMul', 'cpu')!.kernelFunc;
    const matmulCase = fc.record({
      batch: fc.integer({ min: 1, max: 3 }),
      broadcast: fc.constantFrom('none', 'a', 'b'),
      m: fc.integer({ min: 1, max: 9 }),
      k: fc.integer({ min: 1, max: 9 }),
      n: fc.integer({ min: 1, max: 9 }),
      transposeA: fc.boolean(),
      transposeB: fc.boolean(),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(
        matmulCase,
        async ({ batch, broadcast, m, k, n, transposeA, transposeB, seed }) => {
          const batchA = broadcast === 'a' ? 1 : batch;
          const batchB = broadcast === 'b' ? 1 : batch;
          const inputs = {
            a: {
              values: values(batchA * m * k, seed),
              shape: transposeA ? [batchA, k, m] : [batchA, m, k],
            },
            b: {
              values: values(batchB * k * n, seed + 3),
              shape: transposeB ? [batchB, n, k] : [batchB, k, n],
            },
          };
          const attrs = { transposeA, transposeB } as unknown as tf.NamedAttrMap;
          expectClose(
            await run('wasm', kernels.BatchMatMul!, inputs, attrs),
            await run('cpu', reference, inputs, attrs),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  test('the fused batch norm equals the tf-ops formula, forward and backward', async () => {
    await useBackend('native');
    const x = tf.randomNormal([6, 5, 3, 7], 1, 2, 'float32', 1);
    const gamma = tf.randomNormal([7], 1, 0.3, 'float32', 2);
    const beta = tf.randomNormal([7], 0, 1, 'float32', 3);
    const dy = tf.randomNormal([6, 5, 3, 7], 0, 1, 'float32', 4);
    const formula = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const attrs: tf.NamedAttrMap = { epsilon: 1e-5 };
    const [y, mean, variance, rstd] = tf
      .engine()
      .runKernel<tf.Tensor[]>(BATCH_NORM_TRAIN, { x, gamma, beta }, attrs);
    const moments = tf.moments(x, [0, 1, 2]);
    const close = (a: tf.Tensor, b: tf.Tensor, tolerance: number) =>
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(tolerance);
    close(y!, formula(x, gamma, beta), 1e-5);
    close(mean!, moments.mean, 1e-6);
    close(variance!, moments.variance, 1e-5);
    close(rstd!, tf.rsqrt(tf.add(moments.variance, 1e-5)), 1e-5);
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel<tf.Tensor[]>(BATCH_NORM_GRAD, { dy, x, mean: mean!, rstd: rstd!, gamma }, {});
    const [gx, gg, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(formula(a, b, c), dy)),
    )([x, gamma, beta]);
    close(dx!, gx!, 1e-5);
    close(dgamma!, gg!, 1e-4);
    close(dbeta!, gb!, 1e-4);
    await useBackend('wasm');
  });

  // Against TF.js's pure-JavaScript cpu backend, the reference of every kernel test here: wasm's
  // own ResNet-20 gradients differ from both cpu and native by up to 0.6% of the largest entry
  // (first convolution), which this comparison used to hide by running wasm with the native batch
  // norm still registered (engine/kernels.ts).
  test.each(['resnet-20', 'lenet-5', 'lenet-300-100'] as const)(
    'a training step of %s on native equals the cpu backend (loss and every gradient)',
    async (model) => {
      const spec = modelSpec(model);
      const step = async (backend: 'cpu' | 'native') => {
        await useBackend(backend);
        const network = Network.initialize(spec, 0);
        const [h, w, c] = spec.input;
        const x = tf.randomNormal<tf.Rank.R4>([8, h, w, c], 0, 1, 'float32', 1);
        const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), spec.classes);
        const variables = [...network.params.values()];
        const tensors = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => {
          const { logits, statistics } = network.forward(x, 'train');
          for (const s of statistics) tf.dispose([s.mean, s.variance]);
          return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels, logits);
        }, variables);
        const out = {
          loss: value.dataSync()[0]!,
          grads: variables.map((v) => Float32Array.from(grads[v.name]!.dataSync())),
        };
        tf.dispose([value, ...Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(tensors);
        tf.dispose([x, labels]);
        network.dispose();
        return out;
      };
      const wasm = await step('cpu');
      const native = await step('native');
      expect(native.loss).toBeCloseTo(wasm.loss, 5);
      // Gradients to within 1e-4 of the largest gradient entry: some entries (biases in front of a
      // batch norm) are mathematically zero and differ only by rounding.
      const scale = Math.max(
        ...wasm.grads.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
      );
      wasm.grads.forEach((g, n) =>
        g.forEach((v, i) => expect(Math.abs(v - native.grads[n]![i]!)).toBeLessThan(1e-4 * scale)),
      );
      await useBackend('wasm');
    },
    60_000,
  );
});
