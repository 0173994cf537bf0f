/**
 * Per layer kind, the dense native kernel against the sparse one, product by product, in a
 * process of its own (spawned by `npm run bench:peer`, or run alone):
 *
 *   tsx benchmarks/sparse-layers.ts [--reps 10] [--batch 128] [--sparsities 0.8,0.9,0.95,0.98]
 *     [--kinds <name,…>]
 *
 * The kinds are the masked layers of the models of the sparse-vs-dense table (LeNet-300-100's
 * linear layers, LeNet-5's 5×5 convolutions, ResNet-20's 3×3 convolutions of each stage and its
 * 1×1 stride-2 shortcuts), at the batch of a training step. For each, a random mask with exactly
 * the sparsity's share of the weights kept, and the two products a training step runs per layer,
 * as engine/sparse.ts chooses them: the forward, and the backward (input gradient dy × filterᵀ
 * and filter gradient xᵀ × dy, one fused sparse kernel; the filter gradient alone for a model's
 * first layer, whose input needs no gradient). Dense is what a step with CYCLESPARSE_SPARSE=off
 * runs: MatMul and its gradient's two products for a linear layer, Conv2D, Conv2DBackpropInput
 * and Conv2DBackpropFilter for a convolution, all the native backend's oneDNN kernels. Sparse is
 * engine/sparse.ts's kernels forced (`on`), so this times the kernels, not the choice; the sparse
 * forward keeps its input for the backward, as in a step. Each time is the minimum of `reps`
 * calls (dense and sparse alternating, after one untimed call each): the kernels' cost with the
 * least interference from other load. `auto` keeps, per product, the faster of the two; the sum's
 * `bestMs` is that choice's cost. Both sides are checked to compute the same values first.
 * Threads: CYCLESPARSE_THREADS, as a training step's.
 * Prints one JSON line.
 */

import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { randomStream } from '../src/core/random.js';
import { useBackend } from '../src/engine/backend.js';
import { loadNative } from '../src/engine/native.js';
import {
  setSparseMode,
  sparseAddon,
  SparseLayer,
  SPARSE_CONV,
  SPARSE_CONV_GRADS,
  type SparseProduct,
} from '../src/engine/sparse.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '10' },
    batch: { type: 'string', default: '128' },
    sparsities: { type: 'string', default: '0.8,0.9,0.95,0.98' },
    kinds: { type: 'string' },
  },
});

interface Kind {
  readonly name: string;
  /** The zoo layer it stands for. */
  readonly layer: string;
  /** Input [height, width, channels] (1×1 for a linear layer). */
  readonly input: readonly [number, number, number];
  /** HWIO filter (1×1×in×out for a linear layer). */
  readonly filter: readonly [number, number, number, number];
  readonly stride: number;
  readonly padding: number;
  readonly linear: boolean;
  /** A model's first layer: its backward is the filter gradient alone. */
  readonly first: boolean;
}

const linear = (
  name: string,
  layer: string,
  inputs: number,
  outputs: number,
  first = false,
): Kind => ({
  name,
  layer,
  input: [1, 1, inputs],
  filter: [1, 1, inputs, outputs],
  stride: 1,
  padding: 0,
  linear: true,
  first,
});

const conv = (
  name: string,
  layer: string,
  size: number,
  channels: number,
  k: number,
  outputs: number,
  stride: number,
  padding: number,
  first = false,
): Kind => ({
  name,
  layer,
  input: [size, size, channels],
  filter: [k, k, channels, outputs],
  stride,
  padding,
  linear: false,
  first,
});

/** Shapes as in src/models/zoo.ts (LeNet-5 conv1 pads 2; ResNet-20's 3×3 convs pad 1). */
const LAYER_KINDS: readonly Kind[] = [
  linear('linear 784→300', 'lenet-300-100 fc1', 784, 300, true),
  linear('linear 300→100', 'lenet-300-100 fc2', 300, 100),
  conv('conv 5×5 1→6 28×28', 'lenet-5 conv1', 28, 1, 5, 6, 1, 2, true),
  conv('conv 5×5 6→16 14×14', 'lenet-5 conv2', 14, 6, 5, 16, 1, 0),
  conv('conv 3×3 16→16 32×32', 'resnet-20 stage 1', 32, 16, 3, 16, 1, 1),
  conv('conv 3×3 32→32 16×16', 'resnet-20 stage 2', 16, 32, 3, 32, 1, 1),
  conv('conv 3×3 64→64 8×8', 'resnet-20 stage 3', 8, 64, 3, 64, 1, 1),
  conv('conv 1×1 16→32 32×32 s2', 'resnet-20 shortcut 1', 32, 16, 1, 32, 2, 0),
  conv('conv 1×1 32→64 16×16 s2', 'resnet-20 shortcut 2', 16, 32, 1, 64, 2, 0),
];

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const reps = Number(values.reps);
const batch = Number(values.batch);
if (!Number.isSafeInteger(reps) || reps < 1) fail(`--reps: expected a positive integer`);
if (!Number.isSafeInteger(batch) || batch < 1) fail(`--batch: expected a positive integer`);
const sparsities = values.sparsities.split(',').map(Number);
if (sparsities.some((s) => !(s >= 0 && s < 1))) fail('--sparsities: expected numbers in [0, 1)');
const kinds =
  values.kinds === undefined
    ? LAYER_KINDS
    : values.kinds.split(',').map((name) => {
        const found = LAYER_KINDS.find((k) => k.name === name || k.layer === name);
        if (found === undefined)
          fail(`--kinds: unknown ${JSON.stringify(name)}; expected some of the names or layers of:
${LAYER_KINDS.map((k) => `  ${k.name} (${k.layer})`).join('\n')}`);
        return found;
      });

const info = await useBackend('native');
const addon = sparseAddon(loadNative().addon);
if (addon === undefined) fail('the native addon has no sparse kernels: npm run build:native');
// Forced: the sparse kernel runs whatever it would have measured (the choice is not timed here).
setSparseMode('on');

/** A 0/1 mask keeping exactly round((1 − sparsity) · n) positions, seeded. */
function exactMask(size: number, sparsity: number, seed: number): Uint8Array {
  const keep = Math.round((1 - sparsity) * size);
  const order = randomStream(seed, 'maskSampling').permutation(size);
  const mask = new Uint8Array(size);
  for (let i = 0; i < keep; i++) mask[order[i]!] = 1;
  return mask;
}

/** Milliseconds of one synchronous kernel call (the native backend's kernels are), outputs freed. */
function once(run: () => tf.Tensor[]): number {
  const start = performance.now();
  const out = run();
  const ms = performance.now() - start;
  tf.dispose(out);
  return ms;
}

interface Row {
  readonly kind: string;
  readonly layer: string;
  /** The backward timed: both gradients, or the filter's alone (a first layer). */
  readonly backward: 'input and filter gradients' | 'filter gradient';
  readonly sparsity: number;
  readonly kept: number;
  readonly weights: number;
  readonly products: Record<SparseProduct, { denseMs: number; sparseMs: number; speedup: number }>;
  readonly sum: { denseMs: number; sparseMs: number; bestMs: number; speedup: number };
}

const engine = tf.engine();
const rows: Row[] = [];
for (const kind of kinds) {
  const [kh, kw, c, o] = kind.filter;
  const weights = kh * kw * c * o;
  for (const [index, sparsity] of sparsities.entries()) {
    process.stderr.write(`  layer ${kind.name} at ${sparsity}\n`);
    const bits = exactMask(weights, sparsity, index);
    const layer = new SparseLayer(addon, kind.name, bits, kind.filter);
    const stream = randomStream(index, 'data');
    // Uniform values: the kernels' time does not depend on them, only the filter's zeros matter.
    const uniform = (shape: readonly number[]): tf.Tensor4D => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      stream.fillUniform(data);
      return tf.tensor4d(data, shape as [number, number, number, number]);
    };
    const x = uniform([batch, ...kind.input]);
    const filter = tf.tidy(() =>
      tf.mul<tf.Tensor4D>(
        uniform(kind.filter),
        tf.tensor(Float32Array.from(bits), [...kind.filter]),
      ),
    );
    const geometry = tf.backend_util.computeConv2DInfo(
      x.shape,
      [...kind.filter] as [number, number, number, number],
      kind.stride,
      1,
      kind.padding,
    );
    const dyValues = uniform(geometry.outShape);
    const attrs = { pattern: layer.id, stride: kind.stride, padding: kind.padding };
    const inputGradient = !kind.first;
    // A linear layer's dense products are the matrix products a dense step runs (MatMul and
    // the two products of its gradient); the same operands as [batch, in] and [in, out].
    const [x2, w2, dy2] = kind.linear
      ? [tf.reshape(x, [batch, c]), tf.reshape(filter, [c, o]), tf.reshape(dyValues, [batch, o])]
      : [x, filter, dyValues];
    const convAttrs = {
      strides: kind.stride,
      pad: kind.padding,
      dataFormat: 'NHWC',
    } as const;
    /** Outputs in the sparse kernels' order: [y]; [dx, dw] or [dw]. */
    const products: Record<SparseProduct, { dense: () => tf.Tensor[]; sparse: () => tf.Tensor[] }> =
      {
        forward: {
          dense: () => [
            kind.linear ? tf.matMul(x2, w2) : tf.conv2d(x, filter, kind.stride, kind.padding),
          ],
          sparse: () => [engine.runKernel<tf.Tensor>(SPARSE_CONV, { x, filter }, attrs)],
        },
        backward: {
          dense: () => {
            const dw = kind.linear
              ? tf.matMul(x2, dy2, true, false)
              : engine.runKernel<tf.Tensor>(
                  'Conv2DBackpropFilter',
                  { x, dy: dyValues },
                  {
                    ...convAttrs,
                    filterShape: filter.shape,
                  },
                );
            if (!inputGradient) return [dw];
            const dx = kind.linear
              ? tf.matMul(dy2, w2, false, true)
              : engine.runKernel<tf.Tensor>(
                  'Conv2DBackpropInput',
                  { dy: dyValues, filter },
                  { ...convAttrs, inputShape: x.shape },
                );
            return [dx, dw];
          },
          sparse: () =>
            engine.runKernel<tf.Tensor[]>(
              SPARSE_CONV_GRADS,
              { x, dy: dyValues, filter },
              { ...attrs, inputGradient },
            ),
        },
      };
    // The products timed must be the same computation: a wrong shape or attribute here would
    // time something else. The filter gradient is compared at kept positions only. The sparse
    // forward runs first: the sparse backward reads the input it kept, as in a step.
    const maskTensor = tf.tensor(Float32Array.from(bits), [...kind.filter]);
    for (const product of ['forward', 'backward'] as const) {
      const { dense, sparse } = products[product];
      const expected = dense();
      const got = sparse();
      const gaps = expected.map((a, k) =>
        tf.tidy(() => {
          let left = tf.reshape(a, got[k]!.shape);
          let right = got[k]!;
          if (product === 'backward' && k === expected.length - 1) {
            left = tf.mul(tf.reshape(left, [...kind.filter]), maskTensor);
            right = tf.mul(tf.reshape(right, [...kind.filter]), maskTensor);
          }
          const scale = tf.max(tf.abs(left)).dataSync()[0]!;
          return tf.max(tf.abs(tf.sub(left, right))).dataSync()[0]! / (scale || 1);
        }),
      );
      tf.dispose([...expected, ...got]);
      const gap = Math.max(...gaps);
      if (!(gap <= 1e-3))
        fail(`${kind.name} at ${sparsity}: ${product}, dense and sparse differ (${gap})`);
    }
    maskTensor.dispose();
    const timed = {} as Row['products'];
    for (const product of ['forward', 'backward'] as const) {
      const { dense, sparse } = products[product];
      once(dense);
      once(sparse);
      let denseMs = Infinity;
      let sparseMs = Infinity;
      for (let r = 0; r < reps; r++) {
        denseMs = Math.min(denseMs, once(dense));
        sparseMs = Math.min(sparseMs, once(sparse));
      }
      timed[product] = { denseMs, sparseMs, speedup: denseMs / sparseMs };
    }
    const all = Object.values(timed);
    const denseMs = all.reduce((n, t) => n + t.denseMs, 0);
    const sparseMs = all.reduce((n, t) => n + t.sparseMs, 0);
    const bestMs = all.reduce((n, t) => n + Math.min(t.denseMs, t.sparseMs), 0);
    rows.push({
      kind: kind.name,
      layer: kind.layer,
      backward: inputGradient ? 'input and filter gradients' : 'filter gradient',
      sparsity,
      kept: bits.reduce((n, b) => n + b, 0),
      weights,
      products: timed,
      sum: { denseMs, sparseMs, bestMs, speedup: denseMs / sparseMs },
    });
    tf.dispose([x, filter, dyValues, x2, w2, dy2]);
    layer.dispose();
  }
}

console.log(
  JSON.stringify({
    backend: info.name,
    threads: info.threads,
    batch,
    reps,
    timing: `minimum of ${reps} calls per product, dense and sparse alternating`,
    rows,
  }),
);
