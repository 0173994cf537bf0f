/**
 * Training kernels that TF.js 4.22 lacks or runs slowly, registered through its public kernel
 * API (research/feasibility.md §1.4–1.5, measured on this machine):
 * - `Conv2DBackpropFilter` is missing on wasm (no convnet trains there) and takes 92% of a
 *   LeNet-5 step on cpu. Here it is one forward `Conv2D`: the input with batch and channels
 *   swapped, convolved with the output gradient as the filter, dilated by the stride.
 * - `Conv2DBackpropInput` is a naive loop on wasm (half a ResNet-20 step). Here it is a forward
 *   `Conv2D` of the stride-dilated output gradient with the 180°-rotated, transposed filter.
 * - `BatchMatMul` with `transposeA/B` is ~10× slower on wasm than transposing first; the wrapper
 *   transposes explicitly and calls the stock kernel.
 * - `Identity` copies its input on wasm (gradients of adds pass through it: 6% of a ResNet-20
 *   step). Here it shares the input's buffer, counted by reference, as wasm's own `Reshape` does
 *   (no kernel writes into its inputs, so sharing is safe).
 * Every kernel is built from other kernels of the same backend (so tensors never cross backends)
 * and frees its intermediates. `kernels.test.ts` checks values against the stock cpu kernels on
 * many shapes, strides and paddings.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';

type Backend = tf.KernelBackend;
type Paddings = [[number, number], [number, number], [number, number], [number, number]];

/** The stock kernels, saved before any replacement, for delegation and for tests. */
const stock = new Map<string, tf.KernelConfig>();

function kernel(name: string, backendName: string): tf.KernelFunc {
  const found = stock.get(`${name}/${backendName}`) ?? tf.getKernel(name, backendName);
  if (found === undefined)
    throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
  return found.kernelFunc;
}

/** The kernel `name` of `backendName` as TF.js shipped it, if it shipped one. */
export function stockKernel(name: string, backendName: string): tf.KernelConfig | undefined {
  const key = `${name}/${backendName}`;
  // Replaced here or by a native kernel: what was registered before (undefined if nothing was).
  const replaced = installed.has(key) || (backendName === 'wasm' && nativeInstalled.has(name));
  return replaced ? stock.get(key) : tf.getKernel(name, backendName);
}

/**
 * The kernel TF.js registered before cyclesparse replaced it (by a replacement here or a native
 * kernel): what a native kernel delegates the cases it does not handle to.
 */
export function originalKernel(name: string, backendName: string): tf.KernelConfig {
  const found = stockKernel(name, backendName);
  if (found === undefined)
    throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
  return found;
}

/** Runs kernels of one backend and frees every intermediate it made when `release` is called. */
class KernelCalls {
  readonly #made: TensorInfo[] = [];
  constructor(
    readonly backend: Backend,
    readonly backendName: string,
  ) {}

  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const out = kernel(
      name,
      this.backendName,
    )({ inputs, backend: this.backend, attrs }) as TensorInfo;
    this.#made.push(out);
    return out;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /**
   * A stride-1 NHWC convolution with padding (rows, cols) that may be negative on a side: the
   * negative part crops `x`, the rest pads it.
   */
  convolve(
    x: TensorInfo,
    filter: TensorInfo,
    rows: SplitPadding,
    cols: SplitPadding,
    dilations: [number, number],
  ): TensorInfo {
    const [n, , , c] = x.shape as [number, number, number, number];
    const whole =
      rows.begin === 0 && cols.begin === 0 && rows.size === x.shape[1] && cols.size === x.shape[2];
    const input = whole
      ? x
      : this.run(
          'Slice',
          { x },
          { begin: [0, rows.begin, cols.begin, 0], size: [n, rows.size, cols.size, c] },
        );
    const pad: Paddings = [
      [0, 0],
      [rows.top, rows.bottom],
      [cols.top, cols.bottom],
      [0, 0],
    ];
    return this.run(
      'Conv2D',
      { x: input, filter },
      { strides: [1, 1], pad, dataFormat: 'NHWC', dilations },
    );
  }

  /** Frees every intermediate except `keep`. */
  release(keep: TensorInfo): TensorInfo {
    for (const info of this.#made) if (info !== keep) this.backend.disposeData(info.dataId);
    return keep;
  }
}

function strides2(strides: [number, number] | number): [number, number] {
  return typeof strides === 'number' ? [strides, strides] : strides;
}

function requireNhwc(dataFormat: string, name: string): void {
  if (dataFormat !== 'NHWC') throw new Error(`${name}: only NHWC is supported, got ${dataFormat}`);
}

/** Padding (top, bottom) that may be negative, as a crop [begin, begin + size) and a pad ≥ 0. */
interface SplitPadding {
  readonly begin: number;
  readonly size: number;
  readonly top: number;
  readonly bottom: number;
}

function splitPadding(length: number, top: number, bottom: number): SplitPadding {
  const begin = Math.max(0, -top);
  const size = length - begin - Math.max(0, -bottom);
  return { begin, size, top: Math.max(0, top), bottom: Math.max(0, bottom) };
}

function conv2dBackpropFilter(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    requireNhwc(dataFormat, 'Conv2DBackpropFilter');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const [sh, sw] = strides2(strides);
    const [kh, kw] = filterShape;
    const [, h, w] = x.shape as [number, number, number, number];
    const { top, left } = info.padInfo;
    // dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·s + kh − top, ow·s + kw − left, ci] · dy[b, oh, ow, co]:
    // a convolution over (oh, ow) with batch as the contracted channel axis.
    const rows = splitPadding(h, top, kh + (info.outHeight - 1) * sh - h - top);
    const cols = splitPadding(w, left, kw + (info.outWidth - 1) * sw - w - left);
    const calls = new KernelCalls(backend as Backend, backendName);
    const xT = calls.transpose(x, [3, 1, 2, 0]); // [ci, h, w, b]
    const dyT = calls.transpose(dy, [1, 2, 0, 3]); // [oh, ow, b, co]
    const out = calls.convolve(xT, dyT, rows, cols, [sh, sw]); // [ci, kh, kw, co]
    return calls.release(calls.transpose(out, [1, 2, 0, 3]));
  };
}

function conv2dBackpropInput(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
      attrs as unknown as tf.Conv2DBackpropInputAttrs;
    requireNhwc(dataFormat, 'Conv2DBackpropInput');
    const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      [kh, kw, ci, co],
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const [sh, sw] = strides2(strides);
    const [b, h, w] = inputShape;
    const { top, left } = info.padInfo;
    const calls = new KernelCalls(backend as Backend, backendName);
    // Spread dy out by the stride (zeros between rows and columns), so the gradient becomes a
    // stride-1 convolution: [b, oh·sh, ow·sw, co].
    let spread = dy;
    if (sh > 1 || sw > 1) {
      const [, oh, ow] = dy.shape as [number, number, number, number];
      const grid = calls.run('Reshape', { x: dy }, { shape: [b, oh, 1, ow, 1, co] });
      const padded = calls.run(
        'PadV2',
        { x: grid },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      spread = calls.run('Reshape', { x: padded }, { shape: [b, oh * sh, ow * sw, co] });
    }
    // dx[h] = Σ_kh spread[h + top − kh] · W[kh]: correlate with the rotated filter, padded so
    // the output has exactly the input's size.
    const rows = splitPadding(spread.shape[1]!, kh - 1 - top, h + top - spread.shape[1]!);
    const cols = splitPadding(spread.shape[2]!, kw - 1 - left, w + left - spread.shape[2]!);
    const rotated = calls.run('Reverse', { x: filter }, { dims: [0, 1] });
    const swapped = calls.transpose(rotated, [0, 1, 3, 2]); // [kh, kw, co, ci]
    return calls.release(calls.convolve(spread, swapped, rows, cols, [1, 1]));
  };
}

function batchMatMulExplicitTranspose(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    if (!transposeA && !transposeB) {
      return kernel('BatchMatMul', backendName)({ inputs, backend, attrs: attrs ?? {} });
    }
    const calls = new KernelCalls(backend as Backend, backendName);
    const lastTwo = (x: TensorInfo) =>
      [...x.shape.keys()].map((i, _, all) =>
        i < all.length - 2 ? i : i === all.length - 2 ? i + 1 : i - 1,
      );
    const left = transposeA ? calls.transpose(a, lastTwo(a)) : a;
    const right = transposeB ? calls.transpose(b, lastTwo(b)) : b;
    return calls.release(
      calls.run('BatchMatMul', { a: left, b: right }, { transposeA: false, transposeB: false }),
    );
  };
}

function identitySharingBuffer(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    if (x.dtype === 'string')
      return kernel('Identity', backendName)({ inputs, backend, attrs: attrs ?? {} });
    (backend as Backend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** Which replacement each backend gets. */
const REPLACEMENTS: Record<
  string,
  readonly { name: string; make: (backendName: string) => tf.KernelFunc }[]
> = {
  wasm: [
    { name: 'Conv2DBackpropFilter', make: conv2dBackpropFilter },
    { name: 'Conv2DBackpropInput', make: conv2dBackpropInput },
    { name: 'BatchMatMul', make: batchMatMulExplicitTranspose },
    { name: 'Identity', make: identitySharingBuffer },
  ],
  // cpu's stock filter gradient reads one element at a time through TensorBuffer.get.
  cpu: [{ name: 'Conv2DBackpropFilter', make: conv2dBackpropFilter }],
  // webgpu's stock filter gradient was 95% of a ResNet-20 step on an H200 (research/gpu.md).
  // The replacement stays within 4-D ops (Transpose, Slice, a dilated Conv2D with explicit
  // padding), which webgpu compiles; the input gradient's 6-D stride spreading does not
  // ("cannot index type 'vec6'"), so webgpu keeps its own Conv2DBackpropInput.
  webgpu: [{ name: 'Conv2DBackpropFilter', make: conv2dBackpropFilter }],
};

/** The kernel names replaced on `backendName` (empty for backends that need none). */
export function replacedKernels(backendName: string): string[] {
  return (REPLACEMENTS[backendName] ?? []).map((r) => r.name);
}

const installed = new Set<string>();

/** Registers the replacements for `backendName`; idempotent. */
export function installKernels(backendName: string): void {
  for (const { name, make } of REPLACEMENTS[backendName] ?? []) {
    const key = `${name}/${backendName}`;
    if (installed.has(key)) continue;
    const existing = tf.getKernel(name, backendName);
    if (existing !== undefined) {
      stock.set(key, existing);
      tf.unregisterKernel(name, backendName);
    }
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: make(backendName) });
    installed.add(key);
  }
}

const nativeInstalled = new Set<string>();

/** The fused ReLU gradient kernel's name (engine/native.ts registers it on wasm). */
const RELU_GRAD = 'CyclesparseReluGrad';
let reluGradientRouted = false;

/**
 * Relu's gradient as TF.js defines it (mul(dy, cast(step(x)))), computed by the fused kernel
 * where the active backend has one: three activation-sized kernels become one.
 */
function routeReluGradient(): void {
  if (reluGradientRouted) return;
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [tf.Tensor];
      return {
        x: () =>
          tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined
            ? tf.engine().runKernel<tf.Tensor>(RELU_GRAD, { dy: dy as tf.Tensor, x })
            : tf.mul(dy as tf.Tensor, tf.cast(tf.step(x), 'float32')),
      };
    },
  });
  reluGradientRouted = true;
}

/**
 * Puts native kernels (engine/native.ts) in place on the wasm backend, or, given undefined,
 * takes them out again: each kernel returns to cyclesparse's replacement or to the stock one.
 */
export function setNativeKernels(kernels: Record<string, tf.KernelFunc> | undefined): void {
  const backendName = 'wasm';
  installKernels(backendName);
  if (kernels?.[RELU_GRAD] !== undefined) routeReluGradient();
  const names = new Set([...nativeInstalled, ...Object.keys(kernels ?? {})]);
  for (const name of names) {
    const key = `${name}/${backendName}`;
    // What TF.js had is saved when natives go in, never when they come out: then the
    // registered kernel is the native one, and a native-only kernel (no TF.js original) saved
    // as "stock" would stay registered on plain wasm.
    if (
      kernels !== undefined &&
      !nativeInstalled.has(name) &&
      !stock.has(key) &&
      !installed.has(key)
    ) {
      const existing = tf.getKernel(name, backendName);
      if (existing !== undefined) stock.set(key, existing);
    }
    if (tf.getKernel(name, backendName) !== undefined) tf.unregisterKernel(name, backendName);
    const native = kernels?.[name];
    if (native !== undefined) {
      tf.registerKernel({ kernelName: name, backendName, kernelFunc: native });
      nativeInstalled.add(name);
      continue;
    }
    nativeInstalled.delete(name);
    const replacement = (REPLACEMENTS[backendName] ?? []).find((r) => r.name === name);
    const kernelFunc = replacement?.make(backendName) ?? stock.get(key)?.kernelFunc;
    if (kernelFunc !== undefined) tf.registerKernel({ kernelName: name, backendName, kernelFunc });
  }
}
