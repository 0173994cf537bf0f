/**
 * Native CPU kernels (native/kernels.cc, built by `npm ci` when oneDNN's headers are installed):
 * `MatMul`/`BatchMatMul` and the three 2-D convolution kernels on oneDNN's sgemm with OpenMP
 * threads, registered on the wasm backend. They read and write the wasm heap in place — the
 * addon receives the heap's ArrayBuffer and float offsets — so tensors never leave the backend.
 *
 * Optional by design: `loadNative()` returns undefined when the addon was not built or cannot
 * load (no oneDNN, another platform) or when CYCLESPARSE_NATIVE=0, and everything runs on wasm.
 * The `native` backend is wasm plus these kernels; `kernels.test.ts` and
 * `native.test.ts` check every kernel against the stock implementations.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { originalKernel } from './kernels.js';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeAddon {
  matmul(
    memory: ArrayBufferLike,
    batchA: number,
    batchB: number,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
    a: number,
    b: number,
    c: number,
  ): void;
  conv2d(memory: ArrayBufferLike, x: number, filter: number, y: number, ...dims: number[]): void;
  conv2dBackpropFilter(
    memory: ArrayBufferLike,
    x: number,
    dy: number,
    dw: number,
    ...dims: number[]
  ): void;
  conv2dBackpropInput(
    memory: ArrayBufferLike,
    dy: number,
    filter: number,
    dx: number,
    ...dims: number[]
  ): void;
  batchNormTrain(
    memory: ArrayBufferLike,
    x: number,
    gamma: number,
    beta: number,
    y: number,
    mean: number,
    variance: number,
    rstd: number,
    rows: number,
    channels: number,
    epsilon: number,
    relu: boolean,
  ): void;
  batchNormGrad(
    memory: ArrayBufferLike,
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    gamma: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    rows: number,
    channels: number,
    /** A fused ReLU's output, whose step multiplies dy first; −1 for none. */
    y: number,
  ): void;
  maxPool(memory: ArrayBufferLike, x: number, y: number, ...dims: number[]): void;
  maxPoolGrad(memory: ArrayBufferLike, dy: number, x: number, dx: number, ...dims: number[]): void;
  reluGrad(memory: ArrayBufferLike, dy: number, x: number, dx: number, n: number): void;
  /** out = relu(a + b), or relu(a) when b is −1. */
  addRelu(memory: ArrayBufferLike, a: number, b: number, out: number, n: number): void;
  addRows(
    memory: ArrayBufferLike,
    a: number,
    b: number,
    out: number,
    rows: number,
    cols: number,
    broadcast: boolean,
  ): void;
  sumRows(memory: ArrayBufferLike, x: number, out: number, rows: number, cols: number): void;
  setThreads(threads: number): number;
  setConvolution(mode: 'primitives' | 'im2col'): void;
  version(): string;
}

const ADDON = fileURLToPath(
  new URL('../../build/Release/cyclesparse_native.node', import.meta.url),
);

let cached: { addon: NativeAddon | undefined; reason: string } | undefined;

/** The addon, or undefined with the reason it is not available. */
export function loadNative(): { addon: NativeAddon | undefined; reason: string } {
  if (cached !== undefined) return cached;
  if (process.env.CYCLESPARSE_NATIVE === '0') {
    cached = { addon: undefined, reason: 'disabled by CYCLESPARSE_NATIVE=0' };
  } else if (!existsSync(ADDON)) {
    cached = {
      addon: undefined,
      reason: `not built (${ADDON} is missing: install oneDNN's headers, e.g. apt-get install libdnnl-dev, then npm run build:native)`,
    };
  } else {
    try {
      cached = { addon: createRequire(import.meta.url)(ADDON) as NativeAddon, reason: 'loaded' };
    } catch (error) {
      cached = { addon: undefined, reason: `cannot load ${ADDON}: ${(error as Error).message}` };
    }
  }
  return cached;
}

/** The wasm backend's internals the kernels need (public fields of BackendWasm, untyped here). */
export interface WasmBackend {
  readonly wasm: { readonly HEAPU8: Uint8Array };
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}

/** The wasm memory every native kernel reads and writes (fetched per call: it grows). */
export const heap = (backend: WasmBackend) => backend.wasm.HEAPU8.buffer;

export const floatOffset = (backend: WasmBackend, tensor: TensorInfo) => {
  const bytes = backend.dataIdMap.get(tensor.dataId).memoryOffset;
  return bytes / 4;
};

export function requireFloat32(name: string, ...tensors: TensorInfo[]): void {
  for (const t of tensors)
    if (t.dtype !== 'float32') throw new Error(`${name} (native): float32 only, got ${t.dtype}`);
}

export function convDims(info: tf.backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.outHeight,
    info.outWidth,
  ];
}

function poolDims(info: tf.backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.outHeight,
    info.outWidth,
  ];
}

function requireNhwc(dataFormat: string, name: string): void {
  if (dataFormat !== 'NHWC') throw new Error(`${name}: only NHWC is supported, got ${dataFormat}`);
}

/** The addon's convolution entry points, by the TF.js kernel each implements. */
const CONV_KERNEL_NAMES = {
  conv2d: 'Conv2D',
  conv2dBackpropFilter: 'Conv2DBackpropFilter',
  conv2dBackpropInput: 'Conv2DBackpropInput',
} as const;
type ConvEntry = keyof typeof CONV_KERNEL_NAMES;

/**
 * One convolution kernel's call into the addon: `a` and `b` are its two inputs in TF.js's order,
 * the output gets `outShape`, and the addon reads the geometry from `info`.
 */
function callConv(
  addon: NativeAddon,
  entry: ConvEntry,
  wasm: WasmBackend,
  [a, b]: [TensorInfo, TensorInfo],
  dataFormat: string,
  outShape: readonly number[],
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const name = CONV_KERNEL_NAMES[entry];
  requireNhwc(dataFormat, name);
  requireFloat32(name, a, b);
  const out = wasm.makeOutput([...outShape], 'float32');
  addon[entry](
    heap(wasm),
    floatOffset(wasm, a),
    floatOffset(wasm, b),
    floatOffset(wasm, out),
    ...convDims(info),
  );
  return out;
}

/**
 * Training-mode batch normalisation as two fused kernels (engine/network.ts uses them when they
 * are registered on the active backend): forward → [y, mean, biased variance, 1/sqrt(var + ε)],
 * gradient → [dx, dγ, dβ]. With attribute `relu` the forward applies the ReLU that follows the
 * layer, and the gradient, given that output as input `y`, applies the ReLU's gradient first:
 * the pre-activation tensor and its gradient are never made.
 */
export const BATCH_NORM_TRAIN = 'CyclesparseBatchNormTrain';
/** dy · step(x) in one kernel: the ReLU gradient (kernels.ts routes Relu's gradient to it). */
export const RELU_GRAD = 'CyclesparseReluGrad';
export const BATCH_NORM_GRAD = 'CyclesparseBatchNormGrad';
/**
 * relu(a + b) for equal float shapes in one pass: a residual block's sum and the ReLU after it
 * (engine/network.ts), whose gradient is RELU_GRAD of dy and this output, for both inputs.
 */
export const ADD_RELU = 'CyclesparseAddRelu';

/** Kernel functions for the wasm backend, calling `addon`. */
export function nativeKernels(addon: NativeAddon): Record<string, tf.KernelFunc> {
  return {
    [BATCH_NORM_TRAIN]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
      const { epsilon, relu } = attrs as { epsilon: number; relu?: boolean };
      requireFloat32(BATCH_NORM_TRAIN, x, gamma, beta);
      const channels = x.shape.at(-1)!;
      const rows = x.shape.reduce((p, d) => p * d, 1) / channels;
      const y = wasm.makeOutput([...x.shape], 'float32');
      const [mean, variance, rstd] = [0, 1, 2].map(() => wasm.makeOutput([channels], 'float32'));
      addon.batchNormTrain(
        heap(wasm),
        floatOffset(wasm, x),
        floatOffset(wasm, gamma),
        floatOffset(wasm, beta),
        floatOffset(wasm, y),
        floatOffset(wasm, mean!),
        floatOffset(wasm, variance!),
        floatOffset(wasm, rstd!),
        rows,
        channels,
        epsilon,
        relu === true,
      );
      return [y, mean!, variance!, rstd!];
    },
    [BATCH_NORM_GRAD]: ({ inputs, backend }) => {
      const wasm = backend as unknown as WasmBackend;
      const { dy, x, mean, rstd, gamma, y } = inputs as Record<string, TensorInfo | undefined>;
      requireFloat32(BATCH_NORM_GRAD, dy!, x!, mean!, rstd!, gamma!, ...(y ? [y] : []));
      if (y !== undefined && !tf.util.arraysEqual(y.shape, x!.shape))
        throw new Error(
          `${BATCH_NORM_GRAD}: y has shape [${y.shape.join(', ')}], x [${x!.shape.join(', ')}]`,
        );
      const channels = x!.shape.at(-1)!;
      const rows = x!.shape.reduce((p, d) => p * d, 1) / channels;
      const dx = wasm.makeOutput([...x!.shape], 'float32');
      const dgamma = wasm.makeOutput([channels], 'float32');
      const dbeta = wasm.makeOutput([channels], 'float32');
      addon.batchNormGrad(
        heap(wasm),
        floatOffset(wasm, dy!),
        floatOffset(wasm, x!),
        floatOffset(wasm, mean!),
        floatOffset(wasm, rstd!),
        floatOffset(wasm, gamma!),
        floatOffset(wasm, dx),
        floatOffset(wasm, dgamma),
        floatOffset(wasm, dbeta),
        rows,
        channels,
        y === undefined ? -1 : floatOffset(wasm, y),
      );
      return [dx, dgamma, dbeta];
    },
    [RELU_GRAD]: ({ inputs, backend }) => {
      const wasm = backend as unknown as WasmBackend;
      const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
      requireFloat32(RELU_GRAD, dy, x);
      const out = wasm.makeOutput([...x.shape], 'float32');
      addon.reluGrad(
        heap(wasm),
        floatOffset(wasm, dy),
        floatOffset(wasm, x),
        floatOffset(wasm, out),
        x.shape.reduce((a, b) => a * b, 1),
      );
      return out;
    },
    [ADD_RELU]: ({ inputs, backend }) => {
      const wasm = backend as unknown as WasmBackend;
      const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
      requireFloat32(ADD_RELU, a, b);
      if (!tf.util.arraysEqual(a.shape, b.shape))
        throw new Error(
          `${ADD_RELU}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`,
        );
      const out = wasm.makeOutput([...a.shape], 'float32');
      addon.addRelu(
        heap(wasm),
        floatOffset(wasm, a),
        floatOffset(wasm, b),
        floatOffset(wasm, out),
        tf.util.sizeFromShape(a.shape),
      );
      return out;
    },
    // wasm's Relu runs on one thread; this one on all of them.
    Relu: (args) => {
      const wasm = args.backend as unknown as WasmBackend;
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype !== 'float32') return originalKernel('Relu', 'wasm').kernelFunc(args);
      const out = wasm.makeOutput([...x.shape], 'float32');
      addon.addRelu(
        heap(wasm),
        floatOffset(wasm, x),
        -1,
        floatOffset(wasm, out),
        tf.util.sizeFromShape(x.shape),
      );
      return out;
    },
    MaxPool: (args) => {
      const wasm = args.backend as unknown as WasmBackend;
      const { x } = args.inputs as { x: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } =
        args.attrs as unknown as tf.MaxPoolAttrs;
      if (x.dtype !== 'float32' || x.shape.some((d) => d === 0))
        return originalKernel('MaxPool', 'wasm').kernelFunc(args);
      const info = tf.backend_util.computePool2DInfo(
        x.shape as [number, number, number, number],
        filterSize,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      // A 1×1 window at stride 1 is the identity in TF.js (NaN included), as its cpu kernel does.
      if (
        info.filterHeight === 1 &&
        info.filterWidth === 1 &&
        tf.util.arraysEqual(info.inShape, info.outShape)
      )
        return originalKernel('Identity', 'wasm').kernelFunc({ ...args, attrs: {} });
      const out = wasm.makeOutput([...info.outShape], 'float32');
      if (info.outHeight > 0 && info.outWidth > 0)
        addon.maxPool(heap(wasm), floatOffset(wasm, x), floatOffset(wasm, out), ...poolDims(info));
      return out;
    },
    // Float adds of equal shapes or of a last-axis vector (bias adds, gradient sums); every
    // other case goes to TF.js's own kernel.
    Add: (args) => {
      const wasm = args.backend as unknown as WasmBackend;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const size = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
      const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
      const [big, small] = size(a) >= size(b) ? [a, b] : [b, a];
      const cols = big.shape.at(-1) ?? 1;
      const lastAxisVector =
        small.shape.length === 1 && small.shape[0] === cols && big.shape.length >= 2;
      if (
        a.dtype !== 'float32' ||
        b.dtype !== 'float32' ||
        (!same && !lastAxisVector) ||
        size(big) === 0
      ) {
        return originalKernel('Add', 'wasm').kernelFunc(args);
      }
      const out = wasm.makeOutput([...big.shape], 'float32');
      addon.addRows(
        heap(wasm),
        floatOffset(wasm, big),
        floatOffset(wasm, small),
        floatOffset(wasm, out),
        size(big) / cols,
        cols,
        !same,
      );
      return out;
    },
    // Sums over every axis but the last (bias gradients); other reductions go to TF.js's kernel.
    Sum: (args) => {
      const wasm = args.backend as unknown as WasmBackend;
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const rank = x.shape.length;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
      if (x.dtype !== 'float32' || keepDims || !leading || x.shape.some((d) => d === 0)) {
        return originalKernel('Sum', 'wasm').kernelFunc(args);
      }
      const cols = x.shape[rank - 1]!;
      const out = wasm.makeOutput([cols], 'float32');
      addon.sumRows(
        heap(wasm),
        floatOffset(wasm, x),
        floatOffset(wasm, out),
        x.shape.reduce((p, d) => p * d, 1) / cols,
        cols,
      );
      return out;
    },
    BatchMatMul: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      requireFloat32('BatchMatMul', a, b);
      const rankA = a.shape.length;
      const rankB = b.shape.length;
      const m = transposeA ? a.shape[rankA - 1]! : a.shape[rankA - 2]!;
      const k = transposeA ? a.shape[rankA - 2]! : a.shape[rankA - 1]!;
      const n = transposeB ? b.shape[rankB - 2]! : b.shape[rankB - 1]!;
      const kB = transposeB ? b.shape[rankB - 1]! : b.shape[rankB - 2]!;
      if (k !== kB) throw new Error(`BatchMatMul (native): inner sizes ${k} and ${kB} differ`);
      const outerA = a.shape.slice(0, -2);
      const outerB = b.shape.slice(0, -2);
      const batchA = outerA.reduce((x, y) => x * y, 1);
      const batchB = outerB.reduce((x, y) => x * y, 1);
      if (batchA !== batchB && batchA !== 1 && batchB !== 1)
        throw new Error(
          `BatchMatMul (native): batch shapes [${outerA.join(', ')}] and [${outerB.join(', ')}] do not broadcast`,
        );
      const outer = batchA >= batchB ? outerA : outerB;
      const out = wasm.makeOutput([...outer, m, n], 'float32');
      addon.matmul(
        heap(wasm),
        batchA,
        batchB,
        m,
        n,
        k,
        transposeA,
        transposeB,
        floatOffset(wasm, a),
        floatOffset(wasm, b),
        floatOffset(wasm, out),
      );
      return out;
    },
    MaxPoolGrad: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
      requireFloat32('MaxPoolGrad', dy, input);
      const info = tf.backend_util.computePool2DInfo(
        input.shape as [number, number, number, number],
        filterSize,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const out = wasm.makeOutput([...input.shape], 'float32');
      addon.maxPoolGrad(
        heap(wasm),
        floatOffset(wasm, dy),
        floatOffset(wasm, input),
        floatOffset(wasm, out),
        ...poolDims(info),
      );
      return out;
    },
    Conv2D: ({ inputs, backend, attrs }) => {
      const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
      const { strides, pad, dataFormat, dilations, dimRoundingMode } =
        attrs as unknown as tf.Conv2DAttrs;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filter.shape as [number, number, number, number],
        strides,
        dilations,
        pad,
        dimRoundingMode,
      );
      return callConv(
        addon,
        'conv2d',
        backend as unknown as WasmBackend,
        [x, filter],
        dataFormat,
        info.outShape,
        info,
      );
    },
    Conv2DBackpropFilter: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      return callConv(
        addon,
        'conv2dBackpropFilter',
        backend as unknown as WasmBackend,
        [x, dy],
        dataFormat,
        filterShape,
        info,
      );
    },
    Conv2DBackpropInput: ({ inputs, backend, attrs }) => {
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
        attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const info = tf.backend_util.computeConv2DInfo(
        inputShape,
        filter.shape as [number, number, number, number],
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      return callConv(
        addon,
        'conv2dBackpropInput',
        backend as unknown as WasmBackend,
        [dy, filter],
        dataFormat,
        inputShape,
        info,
      );
    },
  };
}
