/**
 * Sparse training kernels for masked layers (native/sparse.cc), on the `native` backend.
 *
 * A masked conv or dense layer trains through one op, {@link sparseConv2d} (a dense layer is the
 * 1×1 convolution of a 1×1 image), whose forward and both backward products touch only the kept
 * weights; its filter gradient is computed at kept positions and is 0 elsewhere (the optimizer
 * masks the gradient anyway). The kept positions are indexed once per mask ({@link SparseLayers},
 * rebuilt by `TfjsModel.setMask`), the weights' values are read at every call.
 *
 * Each product of each layer is chosen by measured cost, as SparseProp does: the first time a
 * product runs for a shape, the dense native kernel and the sparse one each run twice on the real
 * operands and the faster (minimum time) is kept for that pattern. Layers denser than
 * {@link AUTO_MAX_DENSITY} are not considered. `CYCLESPARSE_SPARSE` sets the mode: `auto` (that
 * choice, the default), `on` (sparse wherever a mask is set: for tests) or `off` (dense kernels
 * only). Both products agree to float rounding, so a choice by timing can change the last bits of
 * a run; `off` gives the dense kernels' bits exactly.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { weightName } from '../models/spec.js';
import {
  convDims,
  floatOffset,
  heap,
  requireFloat32,
  type NativeAddon,
  type WasmBackend,
} from './native.js';

/** The addon's sparse entry points (native/sparse.cc). */
export interface SparseAddon {
  /** Indexes the kept positions of an HWIO filter's 0/1 mask; returns the pattern's id. */
  sparsePattern(mask: Uint8Array, kh: number, kw: number, c: number, o: number): number;
  sparseFree(id: number): void;
  /** keepInput: the pattern keeps x, batch innermost, for the backward pass of this step. */
  sparseConv2d(
    memory: ArrayBufferLike,
    x: number,
    filter: number,
    y: number,
    id: number,
    keepInput: boolean,
    ...dims: number[]
  ): void;
  /** dx = −1: the filter gradient only. inputKept: the pattern holds this x from the forward. */
  sparseConv2dGrads(
    memory: ArrayBufferLike,
    x: number,
    dy: number,
    filter: number,
    dx: number,
    dw: number,
    id: number,
    inputKept: boolean,
    ...dims: number[]
  ): void;
}

export type SparseAddonLike = NativeAddon & SparseAddon;

/** The addon with its sparse kernels, or undefined for a build that predates them. */
export function sparseAddon(addon: NativeAddon | undefined): SparseAddonLike | undefined {
  const candidate = addon as Partial<SparseAddonLike> | undefined;
  return typeof candidate?.sparsePattern === 'function' ? (addon as SparseAddonLike) : undefined;
}

export const SPARSE_MODES = ['auto', 'on', 'off'] as const;
export type SparseMode = (typeof SPARSE_MODES)[number];

/** Layers kept at more than this fraction of their weights stay on the dense kernels in `auto`. */
export const AUTO_MAX_DENSITY = 0.5;

let modeOverride: SparseMode | undefined;

/** The mode in force: {@link setSparseMode}'s, else `CYCLESPARSE_SPARSE`'s, else `auto`. */
export function sparseMode(): SparseMode {
  if (modeOverride !== undefined) return modeOverride;
  const text = process.env.CYCLESPARSE_SPARSE;
  if (text === undefined || text === '') return 'auto';
  if (!(SPARSE_MODES as readonly string[]).includes(text))
    throw new InvalidArgumentError('CYCLESPARSE_SPARSE', SPARSE_MODES.join(', '), text);
  return text as SparseMode;
}

/** Overrides `CYCLESPARSE_SPARSE` for this process (undefined: back to the variable). */
export function setSparseMode(mode: SparseMode | undefined): void {
  if (mode !== undefined && !(SPARSE_MODES as readonly string[]).includes(mode))
    throw new InvalidArgumentError('mode', SPARSE_MODES.join(', '), mode);
  modeOverride = mode;
}

/** The forward product, and the backward pass: the input gradient (where needed) and the filter's. */
export type SparseProduct = 'forward' | 'backward';

/** One product's choice for one shape, with the times that decided it (none in mode `on`). */
export interface SparseDecision {
  readonly layer: string;
  readonly product: SparseProduct;
  /** [batch, height, width, channels] of the layer's input. */
  readonly input: readonly number[];
  readonly choice: 'dense' | 'sparse';
  readonly denseMs?: number;
  readonly sparseMs?: number;
}

/** A masked layer's kept positions, indexed in the addon, and the choices made for it. */
export class SparseLayer {
  readonly name: string;
  readonly id: number;
  readonly density: number;
  readonly decisions = new Map<string, SparseDecision>();
  /** The input the last sparse forward kept in the pattern: its data (identity) and shape. */
  keptInput: { readonly dataId: object; readonly shape: readonly number[] } | undefined;
  readonly #addon: SparseAddonLike;
  #freed = false;

  constructor(addon: SparseAddonLike, name: string, mask: Uint8Array, hwio: readonly number[]) {
    const [kh, kw, c, o] = hwio as [number, number, number, number];
    this.#addon = addon;
    this.name = name;
    this.id = addon.sparsePattern(mask, kh, kw, c, o);
    let kept = 0;
    for (const bit of mask) kept += bit;
    this.density = kept / mask.length;
    layersById.set(this.id, this);
  }

  get freed(): boolean {
    return this.#freed;
  }

  dispose(): void {
    if (this.#freed) return;
    this.#freed = true;
    layersById.delete(this.id);
    this.#addon.sparseFree(this.id);
  }
}

/** Layers by pattern id, for the kernels (TF.js attributes carry numbers, not objects). */
const layersById = new Map<number, SparseLayer>();

/**
 * The masked layers of `mask` that train through sparse kernels in the current mode, by weight
 * name: every masked layer in `on`, those at most {@link AUTO_MAX_DENSITY} dense in `auto`, none
 * in `off`. Dense layers' weights [in, out] are indexed as 1×1×in×out filters.
 */
export class SparseLayers {
  readonly byWeight: ReadonlyMap<string, SparseLayer>;

  constructor(addon: SparseAddonLike, mask: Mask, mode: SparseMode = sparseMode()) {
    const byWeight = new Map<string, SparseLayer>();
    if (mode !== 'off') {
      for (const spec of mask.layers) {
        const bits = mask.toArray(spec.name);
        const density = mask.kept(spec.name) / bits.length;
        if (mode === 'auto' && density > AUTO_MAX_DENSITY) continue;
        const hwio = spec.shape.length === 2 ? [1, 1, ...spec.shape] : spec.shape;
        const layer = new SparseLayer(addon, spec.name, bits, hwio);
        byWeight.set(weightName(spec.name), layer);
      }
    }
    this.byWeight = byWeight;
  }

  /** Every choice made so far, layer by layer. */
  decisions(): SparseDecision[] {
    return [...this.byWeight.values()].flatMap((layer) => [...layer.decisions.values()]);
  }

  dispose(): void {
    for (const layer of this.byWeight.values()) layer.dispose();
  }
}

export const SPARSE_CONV = 'CyclesparseSparseConv2D';
/** Outputs [dx, dw], or [dw] when the attribute inputGradient is false. */
export const SPARSE_CONV_GRADS = 'CyclesparseSparseConv2DGrads';

interface SparseConvAttrs {
  readonly pattern: number;
  readonly stride: number;
  readonly padding: number;
}

/**
 * conv2d(x, filter, stride, padding) for a filter that is zero outside `layer`'s mask, on the
 * sparse kernels (or the dense ones where they measured faster). Differentiable with respect to
 * both inputs; the filter's gradient is 0 outside the mask.
 */
export function sparseConv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  layer: SparseLayer,
  stride: number,
  padding: number,
): tf.Tensor4D {
  if (layer.freed) throw new Error(`sparse layer ${layer.name}: its pattern was freed`);
  const attrs: SparseConvAttrs = { pattern: layer.id, stride, padding };
  return tf
    .engine()
    .runKernel<tf.Tensor4D>(SPARSE_CONV, { x, filter }, attrs as unknown as tf.NamedAttrMap);
}

tf.registerGradient({
  kernelName: SPARSE_CONV,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const grads = (inputGradient: boolean) =>
      tf
        .engine()
        .runKernel<tf.Tensor[]>(
          SPARSE_CONV_GRADS,
          { x, dy: dy as tf.Tensor4D, filter },
          { ...attrs, inputGradient },
        );
    // TF.js asks for the inputs' gradients in input order, x first, each in a tidy scope, and
    // not for x at all where nothing upstream needs it (a network's first layer): x's request
    // computes both in one pass and keeps the filter's for the request that follows, the
    // filter's alone computes only the filter's. (Only weights, which are always differentiated,
    // go through this op, so the kept gradient is always taken.)
    let filterGradient: tf.Tensor | undefined;
    return {
      x: () => {
        const [dx, dw] = grads(true);
        filterGradient = tf.keep(dw!);
        return dx!;
      },
      filter: () => {
        if (filterGradient === undefined) return grads(false)[0]!;
        // Handed back to this scope (a clone shares the buffer): the tape may use it as an
        // intermediate (a dense layer's reshaped weight) and must be able to dispose it.
        const owned = tf.clone(filterGradient);
        filterGradient.dispose();
        filterGradient = undefined;
        return owned;
      },
    };
  },
});

function findLayer(id: number): SparseLayer {
  const layer = layersById.get(id);
  if (layer === undefined) throw new Error(`sparse pattern ${id} does not exist (freed?)`);
  return layer;
}

/**
 * Runs `product` of `layer` for `input`'s shape the chosen way and says which ran last; the
 * first call per shape (mode `auto`) times both kernels twice on the real operands and keeps the
 * faster.
 */
function choose(
  layer: SparseLayer,
  product: SparseProduct,
  input: readonly number[],
  dense: () => void,
  sparse: () => void,
): 'dense' | 'sparse' {
  if (sparseMode() === 'on') {
    sparse();
    return 'sparse';
  }
  const key = `${product}:${input.join('x')}`;
  const decided = layer.decisions.get(key);
  if (decided !== undefined) {
    (decided.choice === 'sparse' ? sparse : dense)();
    return decided.choice;
  }
  const timed = (run: () => void) => {
    const start = performance.now();
    run();
    return performance.now() - start;
  };
  let denseMs = Infinity;
  let sparseMs = Infinity;
  for (let round = 0; round < 2; round++) {
    denseMs = Math.min(denseMs, timed(dense));
    sparseMs = Math.min(sparseMs, timed(sparse));
  }
  const choice = sparseMs < denseMs ? 'sparse' : 'dense';
  layer.decisions.set(key, {
    layer: layer.name,
    product,
    input: [...input],
    choice,
    denseMs,
    sparseMs,
  });
  // The outputs hold the sparse run's result; a dense choice writes its own from now on.
  return 'sparse';
}

/** Kernel functions for the wasm backend, calling the addon's sparse and dense products. */
export function sparseKernels(addon: SparseAddonLike): Record<string, tf.KernelFunc> {
  const geometry = (
    xShape: readonly number[],
    filterShape: readonly number[],
    a: SparseConvAttrs,
  ) =>
    tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      a.stride,
      1,
      a.padding,
    );
  // A dense layer in disguise: its dense products are the plain matrix products TF.js's MatMul
  // and its gradient would run, so a dense choice gives the dense path's bits.
  const isMatrix = (info: tf.backend_util.Conv2DInfo) =>
    info.inHeight === 1 &&
    info.inWidth === 1 &&
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.outHeight === 1 &&
    info.outWidth === 1;
  return {
    [SPARSE_CONV]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as SparseConvAttrs;
      requireFloat32(SPARSE_CONV, x, filter);
      const layer = findLayer(a.pattern);
      const info = geometry(x.shape, filter.shape, a);
      const y = wasm.makeOutput([...info.outShape], 'float32');
      const [px, pf, py] = [floatOffset(wasm, x), floatOffset(wasm, filter), floatOffset(wasm, y)];
      const dims = convDims(info);
      const { batchSize: n, inChannels: c, outChannels: o } = info;
      layer.keptInput = undefined;
      const ran = choose(
        layer,
        'forward',
        x.shape,
        isMatrix(info)
          ? () => addon.matmul(heap(wasm), 1, 1, n, o, c, false, false, px, pf, py)
          : () => addon.conv2d(heap(wasm), px, pf, py, ...dims),
        () => addon.sparseConv2d(heap(wasm), px, pf, py, layer.id, true, ...dims),
      );
      // The backward pass reads x from the pattern (x is saved for it, so its data lives on).
      if (ran === 'sparse') layer.keptInput = { dataId: x.dataId, shape: [...x.shape] };
      return y;
    },
    [SPARSE_CONV_GRADS]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { x, dy, filter } = inputs as { x: TensorInfo; dy: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as SparseConvAttrs & { inputGradient: boolean };
      requireFloat32(SPARSE_CONV_GRADS, x, dy, filter);
      const layer = findLayer(a.pattern);
      const info = geometry(x.shape, filter.shape, a);
      const dx = a.inputGradient ? wasm.makeOutput([...x.shape], 'float32') : undefined;
      const dw = wasm.makeOutput([...filter.shape], 'float32');
      const px = floatOffset(wasm, x);
      const pdy = floatOffset(wasm, dy);
      const pf = floatOffset(wasm, filter);
      const pdw = floatOffset(wasm, dw);
      const pdx = dx === undefined ? -1 : floatOffset(wasm, dx);
      const dims = convDims(info);
      const { batchSize: n, inChannels: c, outChannels: o } = info;
      const matrix = isMatrix(info);
      choose(
        layer,
        'backward',
        x.shape,
        () => {
          if (matrix) {
            if (pdx !== -1) addon.matmul(heap(wasm), 1, 1, n, c, o, false, true, pdy, pf, pdx);
            addon.matmul(heap(wasm), 1, 1, c, o, n, true, false, px, pdy, pdw);
          } else {
            if (pdx !== -1) addon.conv2dBackpropInput(heap(wasm), pdy, pf, pdx, ...dims);
            addon.conv2dBackpropFilter(heap(wasm), px, pdy, pdw, ...dims);
          }
        },
        () =>
          addon.sparseConv2dGrads(
            heap(wasm),
            px,
            pdy,
            pf,
            pdx,
            pdw,
            layer.id,
            // The same data seen through a reshape is another layout: shape must match too.
            layer.keptInput?.dataId === x.dataId &&
              layer.keptInput.shape.every((d, i) => d === x.shape[i]),
            ...dims,
          ),
      );
      return dx === undefined ? [dw] : [dx, dw];
    },
  };
}
