/**
 * SGD with momentum, optional Nesterov and weight decay, with PyTorch's semantics
 * (torch.optim.SGD, dampening 0):
 *   g ← ∇ + λ·w;  b ← μ·b + g  (b starts at 0, so the first step sets b = g);
 *   d ← g + μ·b (Nesterov) or b;  w ← w − lr·d.
 * Weight decay applies to every parameter, biases and BatchNorm included, as in the authors'
 * code.
 *
 * Masks are enforced here, and only here: the gradient of a masked weight is multiplied by its
 * 0/1 mask before anything else, so a pruned weight that is 0 and has momentum 0 stays exactly
 * 0 with momentum exactly 0 — weight decay (λ·0) and momentum (μ·0) cannot revive it, which is
 * the bug users report most in other frameworks. Setting a mask zeroes the pruned weights and
 * their momentum once; an all-ones mask multiplies by 1 and changes nothing, bit for bit.
 */

import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, requireNumber } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { weightName } from '../models/spec.js';
import { DEFAULT_SGD, type SgdOptions } from './engine.js';
import type { Network } from './network.js';
import { SGD_STEP, type SgdStepAttrs } from './sgd-kernel.js';

export class MaskedSgd {
  readonly network: Network;
  readonly options: SgdOptions;
  /** One momentum buffer per parameter, same names as the network's parameters. */
  readonly momentum: ReadonlyMap<string, tf.Variable>;
  #masks = new Map<string, tf.Tensor>();
  #mask: Mask | null = null;

  constructor(network: Network, options: SgdOptions = DEFAULT_SGD) {
    requireNumber('momentum', options.momentum, { min: 0, max: 1, openMax: true });
    requireNumber('weightDecay', options.weightDecay, { min: 0, max: 1 });
    if (options.nesterov && options.momentum === 0) {
      throw new InvalidArgumentError(
        'nesterov',
        'false when momentum is 0 (Nesterov needs momentum)',
        true,
      );
    }
    this.network = network;
    this.options = options;
    this.momentum = new Map(
      [...network.params].map(([name, param]) => [
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
      ]),
    );
  }

  /** The mask in force (null: dense). */
  get mask(): Mask | null {
    return this.#mask;
  }

  /**
   * Enforces `mask` from now on (null removes masking): its layers are the network's prunable
   * layers by name, each masking the parameter `<layer>.weight`. Pruned weights and their
   * momentum are set to 0 now.
   */
  setMask(mask: Mask | null): void {
    const masks = new Map<string, tf.Tensor>();
    if (mask !== null) {
      for (const layer of mask.layers) {
        const name = weightName(layer.name);
        const param = this.network.params.get(name);
        if (param === undefined || param.shape.join() !== layer.shape.join()) {
          throw new InvalidArgumentError(
            `mask.${layer.name}`,
            `a prunable layer of ${this.network.spec.name} with its weight's shape`,
            layer.shape,
          );
        }
        masks.set(
          name,
          tf.tidy(() => tf.tensor(Float32Array.from(mask.toArray(layer.name)), param.shape)),
        );
      }
    }
    for (const tensor of this.#masks.values()) tensor.dispose();
    this.#masks = masks;
    this.#mask = mask;
    tf.tidy(() => {
      for (const [name, m] of masks) {
        const param = this.network.params.get(name)!;
        param.assign(tf.mul(param, m));
        const buffer = this.momentum.get(name)!;
        buffer.assign(tf.mul(buffer, m));
      }
    });
  }

  /** Zeroes every momentum buffer: a fresh optimizer, as at the start of each cycle. */
  resetMomentum(): void {
    tf.tidy(() => {
      for (const buffer of this.momentum.values()) buffer.assign(tf.zerosLike(buffer));
    });
  }

  /** One update with the gradients of every parameter (by name) at learning rate `lr`. */
  step(grads: tf.NamedTensorMap, learningRate: number): void {
    requireNumber('learningRate', learningRate, { min: 0, max: Number.MAX_VALUE });
    const { momentum, nesterov, weightDecay } = this.options;
    if (tf.getKernel(SGD_STEP, tf.getBackend()) !== undefined) {
      this.#fusedStep(grads, learningRate);
      return;
    }
    tf.tidy(() => {
      const lr = tf.scalar(learningRate);
      const mu = tf.scalar(momentum);
      const decay = tf.scalar(weightDecay);
      for (const [name, param] of this.network.params) {
        const gradient = gradientOf(grads, name);
        const mask = this.#masks.get(name);
        let g = mask === undefined ? gradient : tf.mul(gradient, mask);
        if (weightDecay !== 0) g = tf.add(g, tf.mul(param, decay));
        let direction = g;
        if (momentum !== 0) {
          const buffer = this.momentum.get(name)!;
          const next = tf.add(tf.mul(buffer, mu), g);
          buffer.assign(next);
          direction = nesterov ? tf.add(g, tf.mul(next, mu)) : next;
        }
        param.assign(tf.sub(param, tf.mul(direction, lr)));
      }
    });
  }

  /** The same update, one native kernel per parameter (engine/sgd-kernel.ts): the same bits. */
  #fusedStep(grads: tf.NamedTensorMap, learningRate: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    const attrs: SgdStepAttrs = { learningRate, momentum, weightDecay, nesterov };
    tf.tidy(() => {
      for (const [name, param] of this.network.params) {
        const gradient = gradientOf(grads, name);
        const mask = this.#masks.get(name);
        const buffer = momentum === 0 ? undefined : this.momentum.get(name)!;
        const inputs: tf.NamedTensorMap = { param, gradient };
        if (mask !== undefined) inputs.mask = mask;
        if (buffer !== undefined) inputs.buffer = buffer;
        const [next, nextBuffer] = tf
          .engine()
          .runKernel<tf.Tensor[]>(SGD_STEP, inputs, attrs as unknown as tf.NamedAttrMap);
        param.assign(next!);
        if (buffer !== undefined) buffer.assign(nextBuffer!);
      }
    });
  }

  /** Momentum buffers as plain arrays (for checkpoints; read asynchronously: webgpu). */
  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, buffer] of this.momentum)
      out.set(name, (await buffer.data()) as Float32Array);
    return out;
  }

  restore(values: ReadonlyMap<string, Float32Array>): void {
    for (const [name, buffer] of this.momentum) {
      const data = values.get(name);
      if (data === undefined || data.length !== buffer.size) {
        throw new InvalidArgumentError(`momentum.${name}`, `${buffer.size} values`, data?.length);
      }
      tf.tidy(() => buffer.assign(tf.tensor(data, buffer.shape)));
    }
  }

  dispose(): void {
    for (const tensor of [...this.#masks.values(), ...this.momentum.values()]) tensor.dispose();
  }
}

function gradientOf(grads: tf.NamedTensorMap, name: string): tf.Tensor {
  const gradient = grads[name];
  if (gradient === undefined)
    throw new InvalidArgumentError(`grads.${name}`, 'a gradient for every parameter', undefined);
  return gradient;
}
