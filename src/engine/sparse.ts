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
  sparseConv2d(
    memory: ArrayBufferLike,
    x: number,
    filter: number,
    y: number,
    id: number,
    ...dims: number[]
  ): void;
  sparseConv2dBackpropInput(
    memory: ArrayBufferLike,
    dy: number,
    filter: number,
    dx: number,
    id: number,
    ...dims: number[]
  ): void;
  sparseConv2dBackpropFilter(
    memory: ArrayBufferLike,
    x: number,
    dy: number,
    dw: number,
    id: number,
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

export type SparseProduct = 'forward' | 'input-gradient' | 'filter-gradient';

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
export const SPARSE_CONV_INPUT_GRAD = 'CyclesparseSparseConv2DBackpropInput';
export const SPARSE_CONV_FILTER_GRAD = 'CyclesparseSparseConv2DBackpropFilter';

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
    const grad = dy as tf.Tensor4D;
    return {
      x: () =>
        tf
          .engine()
          .runKernel(
            SPARSE_CONV_INPUT_GRAD,
            { dy: grad, filter },
            { ...attrs, inputShape: x.shape },
          ),
      filter: () =>
        tf.engine().runKernel(
          SPARSE_CONV_FILTER_GRAD,
          { x, dy: grad },
          {
            ...attrs,
            filterShape: filter.shape,
          },
        ),
    };
  },
});

function findLayer(id: number): SparseLayer {
  const layer = layersById.get(id);
  if (layer === undefined) throw new Error(`sparse pattern ${id} does not exist (freed?)`);
  return layer;
}

/**
 * Runs `product` of `layer` for `input`'s shape the chosen way; the first call per shape (mode
 * `auto`) times both kernels twice on the real operands and keeps the faster.
 */
function choose(
  layer: SparseLayer,
  product: SparseProduct,
  input: readonly number[],
  dense: () => void,
  sparse: () => void,
): void {
  if (sparseMode() === 'on') {
    sparse();
    return;
  }
  const key = `${product}:${input.join('x')}`;
  const decided = layer.decisions.get(key);
  if (decided !== undefined) {
    (decided.choice === 'sparse' ? sparse : dense)();
    return;
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
  // The output holds the last run's (sparse) result; the dense choice writes its own.
  if (choice === 'dense') dense();
  layer.decisions.set(key, {
    layer: layer.name,
    product,
    input: [...input],
    choice,
    denseMs,
    sparseMs,
  });
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
      choose(
        layer,
        'forward',
        x.shape,
        isMatrix(info)
          ? () =>
              addon.matmul(
                heap(wasm),
                1,
                1,
                info.batchSize,
                info.outChannels,
                info.inChannels,
                false,
                false,
                px,
                pf,
                py,
              )
          : () => addon.conv2d(heap(wasm), px, pf, py, ...dims),
        () => addon.sparseConv2d(heap(wasm), px, pf, py, layer.id, ...dims),
      );
      return y;
    },
    [SPARSE_CONV_INPUT_GRAD]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as SparseConvAttrs & { inputShape: number[] };
      requireFloat32(SPARSE_CONV_INPUT_GRAD, dy, filter);
      const layer = findLayer(a.pattern);
      const info = geometry(a.inputShape, filter.shape, a);
      const dx = wasm.makeOutput([...a.inputShape], 'float32');
      const [pdy, pf, pdx] = [
        floatOffset(wasm, dy),
        floatOffset(wasm, filter),
        floatOffset(wasm, dx),
      ];
      const dims = convDims(info);
      choose(
        layer,
        'input-gradient',
        a.inputShape,
        isMatrix(info)
          ? () =>
              addon.matmul(
                heap(wasm),
                1,
                1,
                info.batchSize,
                info.inChannels,
                info.outChannels,
                false,
                true,
                pdy,
                pf,
                pdx,
              )
          : () => addon.conv2dBackpropInput(heap(wasm), pdy, pf, pdx, ...dims),
        () => addon.sparseConv2dBackpropInput(heap(wasm), pdy, pf, pdx, layer.id, ...dims),
      );
      return dx;
    },
    [SPARSE_CONV_FILTER_GRAD]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const a = attrs as unknown as SparseConvAttrs & { filterShape: number[] };
      requireFloat32(SPARSE_CONV_FILTER_GRAD, x, dy);
      const layer = findLayer(a.pattern);
      const info = geometry(x.shape, a.filterShape, a);
      const dw = wasm.makeOutput([...a.filterShape], 'float32');
      const [px, pdy, pdw] = [floatOffset(wasm, x), floatOffset(wasm, dy), floatOffset(wasm, dw)];
      const dims = convDims(info);
      choose(
        layer,
        'filter-gradient',
        x.shape,
        isMatrix(info)
          ? () =>
              addon.matmul(
                heap(wasm),
                1,
                1,
                info.inChannels,
                info.outChannels,
                info.batchSize,
                true,
                false,
                px,
                pdy,
                pdw,
              )
          : () => addon.conv2dBackpropFilter(heap(wasm), px, pdy, pdw, ...dims),
        () => addon.sparseConv2dBackpropFilter(heap(wasm), px, pdy, pdw, layer.id, ...dims),
      );
      return dw;
    },
  };
}
