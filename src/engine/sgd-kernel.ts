/**
 * One SGD update of one parameter as a single native kernel (native/optimizer.cc), registered on
 * the `native` backend; `MaskedSgd` uses it where it is registered. Its float32 arithmetic is
 * MaskedSgd's operation for operation (no fused multiply-add), so the update is bit for bit the
 * one its TF.js kernels compute — in one pass instead of ten kernels per parameter.
 */

import type * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { floatOffset, heap, requireFloat32, type NativeAddon, type WasmBackend } from './native.js';

export interface SgdAddon {
  /** mask and buffer −1 for none; bufferOut −1 exactly when buffer is. */
  sgdStep(
    memory: ArrayBufferLike,
    param: number,
    grad: number,
    mask: number,
    buffer: number,
    paramOut: number,
    bufferOut: number,
    n: number,
    learningRate: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
}

/** The addon with its optimizer kernel, or undefined for a build that predates it. */
export function sgdAddon(addon: NativeAddon | undefined): (NativeAddon & SgdAddon) | undefined {
  const candidate = addon as Partial<SgdAddon> | undefined;
  return typeof candidate?.sgdStep === 'function' ? (addon as NativeAddon & SgdAddon) : undefined;
}

/** Inputs {param, gradient, mask?, buffer?}; outputs [param′, buffer′], or [param′] without momentum. */
export const SGD_STEP = 'CyclesparseSgdStep';

export interface SgdStepAttrs {
  readonly learningRate: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
}

export function sgdKernels(addon: SgdAddon): Record<string, tf.KernelFunc> {
  return {
    [SGD_STEP]: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const { param, gradient, mask, buffer } = inputs as Record<string, TensorInfo | undefined>;
      const { learningRate, momentum, weightDecay, nesterov } = attrs as unknown as SgdStepAttrs;
      const present = [param!, gradient!, ...(mask ? [mask] : []), ...(buffer ? [buffer] : [])];
      requireFloat32(SGD_STEP, ...present);
      const n = param!.shape.reduce((a, b) => a * b, 1);
      for (const t of present)
        if (t.shape.reduce((a, b) => a * b, 1) !== n)
          throw new Error(`${SGD_STEP}: every input has the parameter's ${n} values`);
      const paramOut = wasm.makeOutput([...param!.shape], 'float32');
      const bufferOut =
        buffer === undefined ? undefined : wasm.makeOutput([...buffer.shape], 'float32');
      addon.sgdStep(
        heap(wasm),
        floatOffset(wasm, param!),
        floatOffset(wasm, gradient!),
        mask === undefined ? -1 : floatOffset(wasm, mask),
        buffer === undefined ? -1 : floatOffset(wasm, buffer),
        floatOffset(wasm, paramOut),
        bufferOut === undefined ? -1 : floatOffset(wasm, bufferOut),
        n,
        learningRate,
        momentum,
        weightDecay,
        nesterov,
      );
      return bufferOut === undefined ? [paramOut] : [paramOut, bufferOut];
    },
  };
}
