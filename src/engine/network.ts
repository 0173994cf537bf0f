/**
 * A network is a model spec made concrete on the active TF.js backend: one variable per
 * parameter and per BatchNorm buffer, named as in `models/spec.ts`, and a forward pass that
 * interprets the spec's node list. Initial values come from `models/init.ts`.
 *
 * Training-mode BatchNorm uses batch statistics and a closed-form backward pass
 * (dx = γ·rstd/N · (N·dy − Σdy − x̂·Σ(dy·x̂))) through `tf.customGrad`: TF.js's own gradient
 * spends most of its time in `Tile` on wasm. Running statistics follow PyTorch: momentum 0.1,
 * unbiased batch variance, ε = 1e-5.
 */

import * as tf from '@tensorflow/tfjs-core';
import { ADD_RELU, BATCH_NORM_GRAD, BATCH_NORM_TRAIN, RELU_GRAD } from './native.js';
import { InvalidArgumentError } from '../core/errors.js';
import { initialValues } from '../models/init.js';
import { buffers, parameters, weightName, type ModelSpec, type Node } from '../models/spec.js';
import { requireValues } from './engine.js';
import { sparseConv2d, type SparseLayer } from './sparse.js';

export const BATCH_NORM_EPSILON = 1e-5;
export const BATCH_NORM_MOMENTUM = 0.1;

export type Mode = 'train' | 'eval';

/** Batch statistics of one BatchNorm layer from a training-mode forward pass. */
export interface BatchStatistics {
  readonly layer: string;
  readonly mean: tf.Tensor1D;
  /** Biased (divided by N), as used to normalise. */
  readonly variance: tf.Tensor1D;
  readonly count: number;
}

export interface ForwardResult {
  readonly logits: tf.Tensor2D;
  /** Training mode only; kept out of any tidy scope, so the caller must dispose them. */
  readonly statistics: BatchStatistics[];
}

export class Network {
  readonly spec: ModelSpec;
  /** The backend the variables live on; using them on another one is refused. */
  readonly backend: string;
  readonly params: ReadonlyMap<string, tf.Variable>;
  readonly buffers: ReadonlyMap<string, tf.Variable>;

  private constructor(
    spec: ModelSpec,
    params: Map<string, tf.Variable>,
    bufferVars: Map<string, tf.Variable>,
  ) {
    this.spec = spec;
    this.backend = tf.getBackend();
    this.params = params;
    this.buffers = bufferVars;
  }

  /** A network of `spec` holding `values` (every parameter and buffer, see models/init.ts). */
  static fromValues(spec: ModelSpec, values: ReadonlyMap<string, Float32Array>): Network {
    requireValues([...parameters(spec), ...buffers(spec)], values);
    const variables = (
      list: readonly { name: string; shape: readonly number[] }[],
      trainable: boolean,
    ) =>
      new Map(
        list.map(({ name, shape }) => [
          name,
          tf.tidy(() => tf.variable(tf.tensor(values.get(name)!, [...shape]), trainable)),
        ]),
      );
    return new Network(spec, variables(parameters(spec), true), variables(buffers(spec), false));
  }

  /**
   * A freshly initialised network for `spec`, from the `init` stream of `seed` (or another named
   * stream, for a second independent initialisation in the same experiment).
   */
  static initialize(spec: ModelSpec, seed: number, streamName = 'init'): Network {
    return Network.fromValues(spec, initialValues(spec, seed, streamName));
  }

  #requireBackend(): void {
    if (tf.getBackend() !== this.backend) {
      throw new Error(
        `network was built on backend ${this.backend}, but ${tf.getBackend()} is active`,
      );
    }
  }

  param(name: string): tf.Variable {
    const found = this.params.get(name);
    if (found === undefined)
      throw new InvalidArgumentError('parameter', `a parameter of ${this.spec.name}`, name);
    return found;
  }

  #overrides: ReadonlyMap<string, tf.Tensor> | undefined;

  /**
   * Masked layers that run on the sparse kernels (engine/sparse.ts), by weight name: set by
   * `TfjsModel.train` for its steps only, so scorers and evaluation keep the dense products (a
   * scorer may need the gradient at pruned weights, which the sparse product leaves at 0).
   */
  sparseLayers: ReadonlyMap<string, SparseLayer> | undefined;

  /** The sparse layer for `weight`, unless this pass replaces that weight. */
  #sparse(weight: string): SparseLayer | undefined {
    return this.#overrides?.has(weight) === true ? undefined : this.sparseLayers?.get(weight);
  }

  /** A parameter or buffer by name, or its stand-in for this forward pass. */
  #value(name: string): tf.Tensor {
    return this.#overrides?.get(name) ?? this.buffers.get(name) ?? this.param(name);
  }

  /**
   * Logits for a batch of images [batch, height, width, channels]. `overrides` replaces
   * parameters or buffers by name for this pass only (scorers that differentiate with respect to
   * transformed weights, such as SynFlow's |w|, use it).
   */
  forward(
    images: tf.Tensor4D,
    mode: Mode,
    overrides?: ReadonlyMap<string, tf.Tensor>,
    /** Divide the activation after every top-level node by its mean, as a constant (SynFlow). */
    normalize = false,
  ): ForwardResult {
    this.#requireBackend();
    const [, h, w, c] = images.shape;
    const [eh, ew, ec] = this.spec.input;
    if (h !== eh || w !== ew || c !== ec) {
      throw new InvalidArgumentError('images', `a batch of ${eh}×${ew}×${ec} images`, images.shape);
    }
    const statistics: BatchStatistics[] = [];
    this.#overrides = overrides;
    try {
      if (!normalize)
        return {
          logits: this.#run(this.spec.nodes, images, mode, statistics) as tf.Tensor2D,
          statistics,
        };
      let x: tf.Tensor = images;
      for (const node of this.spec.nodes) {
        x = this.#run([node], x, mode, statistics);
        x = tf.div(x, meanAsConstant(x));
      }
      return { logits: x as tf.Tensor2D, statistics };
    } finally {
      this.#overrides = undefined;
    }
  }

  #run(
    nodes: readonly Node[],
    input: tf.Tensor,
    mode: Mode,
    statistics: BatchStatistics[],
  ): tf.Tensor {
    let x = input;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      // A ReLU right after this node, which the fused native kernels can apply in the same pass.
      const fuseRelu = nodes[i + 1]?.op === 'relu' && mode === 'train';
      switch (node.op) {
        case 'conv': {
          const name = weightName(node.name);
          const weight = this.#value(name) as tf.Tensor4D;
          const sparse = this.#sparse(name);
          x =
            sparse === undefined
              ? tf.conv2d(x as tf.Tensor4D, weight, node.stride, node.padding)
              : sparseConv2d(x as tf.Tensor4D, weight, sparse, node.stride, node.padding);
          if (node.bias) x = tf.add(x, this.#value(`${node.name}.bias`));
          break;
        }
        case 'bn':
          if (mode === 'train' && fuseRelu && hasKernel(BATCH_NORM_TRAIN)) {
            x = this.#batchNormTrainFused(node.name, x, statistics, batchCount(x), true);
            i++; // the ReLU is applied
          } else
            x =
              mode === 'train'
                ? this.#batchNormTrain(node.name, x, statistics)
                : this.#batchNormEval(node.name, x);
          break;
        case 'relu':
          x = tf.relu(x);
          break;
        case 'maxpool':
          x = tf.maxPool(x as tf.Tensor4D, node.size, node.stride, node.padding);
          break;
        case 'avgpool':
          x = tf.avgPool(x as tf.Tensor4D, node.size, node.stride, node.padding);
          break;
        case 'global-avgpool':
          x = tf.mean(x, [1, 2]);
          break;
        case 'flatten':
          x = tf.reshape(x, [x.shape[0], -1]);
          break;
        case 'dense': {
          const name = weightName(node.name);
          const weight = this.#value(name) as tf.Tensor2D;
          const sparse = this.#sparse(name);
          if (sparse === undefined) x = tf.matMul(x, weight);
          else {
            // A dense layer is the 1×1 convolution of a 1×1 image (reshapes share the buffer).
            const [batch, inputs] = x.shape as [number, number];
            const [, outputs] = weight.shape;
            const image = tf.reshape<tf.Rank.R4>(x, [batch, 1, 1, inputs]);
            const filter = tf.reshape<tf.Rank.R4>(weight, [1, 1, inputs, outputs]);
            x = tf.reshape(sparseConv2d(image, filter, sparse, 1, 0), [batch, outputs]);
          }
          if (node.bias) x = tf.add(x, this.#value(`${node.name}.bias`));
          break;
        }
        case 'residual': {
          const body = this.#run(node.body, x, mode, statistics);
          const shortcut =
            node.shortcut.length === 0 ? x : this.#run(node.shortcut, x, mode, statistics);
          if (fuseRelu && hasKernel(ADD_RELU) && tf.util.arraysEqual(body.shape, shortcut.shape)) {
            x = addRelu(body, shortcut);
            i++; // the ReLU is applied
          } else x = tf.add(body, shortcut);
          break;
        }
      }
    }
    return x;
  }

  #batchNormEval(layer: string, x: tf.Tensor): tf.Tensor {
    return tf.batchNorm(
      x as tf.Tensor4D,
      this.#value(`${layer}.mean`) as tf.Tensor1D,
      this.#value(`${layer}.variance`) as tf.Tensor1D,
      this.#value(`${layer}.beta`) as tf.Tensor1D,
      this.#value(`${layer}.gamma`) as tf.Tensor1D,
      BATCH_NORM_EPSILON,
    );
  }

  #batchNormTrain(layer: string, input: tf.Tensor, statistics: BatchStatistics[]): tf.Tensor {
    const axes = input.rank === 4 ? [0, 1, 2] : [0];
    const count = batchCount(input);
    if (hasKernel(BATCH_NORM_TRAIN))
      return this.#batchNormTrainFused(layer, input, statistics, count, false);
    const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const { mean, variance } = tf.moments(x, axes);
      const rstd = tf.rsqrt(tf.add(variance, BATCH_NORM_EPSILON));
      const xhat = tf.mul(tf.sub(x, mean), rstd);
      save([xhat, rstd, gamma]);
      statistics.push({
        layer,
        mean: tf.keep(mean as tf.Tensor1D),
        variance: tf.keep(variance as tf.Tensor1D),
        count,
      });
      return {
        value: tf.add(tf.mul(xhat, gamma), beta),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [xh, r, g] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
          const grad = dy as tf.Tensor;
          const sumDy = tf.sum(grad, axes);
          const sumDyXhat = tf.sum(tf.mul(grad, xh), axes);
          const centred = tf.sub(tf.sub(tf.mul(grad, count), sumDy), tf.mul(xh, sumDyXhat));
          const dx = tf.mul(tf.div(tf.mul(g, r), count), centred);
          return [dx, sumDyXhat, sumDy];
        },
      };
    });
    return normalise(input, this.#value(`${layer}.gamma`), this.#value(`${layer}.beta`));
  }

  /**
   * The same computation as two fused kernels (engine/native.ts), one call each way; with
   * `relu`, also the ReLU after the layer (its output is what the gradient reads, and the tensor
   * the next layer keeps anyway).
   */
  #batchNormTrainFused(
    layer: string,
    input: tf.Tensor,
    statistics: BatchStatistics[],
    count: number,
    relu: boolean,
  ): tf.Tensor {
    const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const attrs: tf.NamedAttrMap = { epsilon: BATCH_NORM_EPSILON, relu };
      const [y, mean, variance, rstd] = tf
        .engine()
        .runKernel<tf.Tensor[]>(BATCH_NORM_TRAIN, { x, gamma, beta }, attrs);
      save(relu ? [x, mean!, rstd!, gamma, y!] : [x, mean!, rstd!, gamma]);
      statistics.push({
        layer,
        mean: tf.keep(mean!) as tf.Tensor1D,
        variance: tf.keep(variance!) as tf.Tensor1D,
        count,
      });
      return {
        value: y!,
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [xs, m, r, g, out] = saved as [
            tf.Tensor,
            tf.Tensor1D,
            tf.Tensor1D,
            tf.Tensor1D,
            tf.Tensor | undefined,
          ];
          const inputs = { dy: dy as tf.Tensor, x: xs, mean: m, rstd: r, gamma: g };
          return tf
            .engine()
            .runKernel<tf.Tensor[]>(BATCH_NORM_GRAD, out ? { ...inputs, y: out } : inputs, {});
        },
      };
    });
    return normalise(input, this.#value(`${layer}.gamma`), this.#value(`${layer}.beta`));
  }

  /** Folds batch statistics into the running ones and disposes them. */
  updateRunningStatistics(statistics: readonly BatchStatistics[]): void {
    tf.tidy(() => {
      for (const { layer, mean, variance, count } of statistics) {
        const runningMean = this.buffers.get(`${layer}.mean`)!;
        const runningVariance = this.buffers.get(`${layer}.variance`)!;
        const unbiased = tf.mul(variance, count / Math.max(1, count - 1));
        runningMean.assign(
          tf.add(tf.mul(runningMean, 1 - BATCH_NORM_MOMENTUM), tf.mul(mean, BATCH_NORM_MOMENTUM)),
        );
        runningVariance.assign(
          tf.add(
            tf.mul(runningVariance, 1 - BATCH_NORM_MOMENTUM),
            tf.mul(unbiased, BATCH_NORM_MOMENTUM),
          ),
        );
      }
    });
    disposeStatistics(statistics);
  }

  /** Every parameter and buffer as plain arrays, in spec order (read asynchronously: webgpu). */
  async read(): Promise<Map<string, Float32Array>> {
    this.#requireBackend();
    const out = new Map<string, Float32Array>();
    for (const [name, variable] of [...this.params, ...this.buffers])
      out.set(name, (await variable.data()) as Float32Array);
    return out;
  }

  /** Overwrites parameters and buffers from a snapshot; every entry must match in name and size. */
  restore(values: ReadonlyMap<string, Float32Array>): void {
    this.#requireBackend();
    for (const [name, variable] of [...this.params, ...this.buffers]) {
      const data = values.get(name);
      if (data === undefined || data.length !== variable.size) {
        throw new InvalidArgumentError(
          `values.${name}`,
          `${variable.size} values`,
          data === undefined ? undefined : data.length,
        );
      }
      tf.tidy(() => variable.assign(tf.tensor(data, variable.shape)));
    }
  }

  dispose(): void {
    for (const variable of [...this.params.values(), ...this.buffers.values()]) variable.dispose();
  }
}

const hasKernel = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;

/** The values a batch norm's statistics are taken over: every position of every image. */
const batchCount = (x: tf.Tensor) => x.size / x.shape[x.rank - 1]!;

/**
 * relu(a + b) as one native kernel (engine/native.ts): a residual block's sum and ReLU, with no
 * sum tensor. Its gradient, step(output)·dy, goes to both inputs.
 */
const addRelu: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const y = tf.engine().runKernel<tf.Tensor>(ADD_RELU, { a, b });
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dx = tf
          .engine()
          .runKernel<tf.Tensor>(RELU_GRAD, { dy: dy as tf.Tensor, x: saved[0]! });
        // Each input gets its own tensor (sharing the data): TF.js frees them one by one.
        return [dx, tf.clone(dx)];
      },
    };
  },
);

/**
 * The mean of `x` as a constant for differentiation (no gradient flows back through it), or 1
 * where the mean is not positive: an activation that is all zeros (every path pruned) is left as
 * it is, where dividing by a floor would send 1/floor per node back through the gradient, to Inf
 * and then NaN. Computed inside the custom gradient, whose forward ops are not on the tape.
 */
const meanAsConstant: (x: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const mean = tf.mean(x);
    return {
      value: tf.where(tf.greater(mean, 1e-30), mean, tf.onesLike(mean)),
      gradFunc: () => tf.zerosLike(x),
    };
  },
);

export function disposeStatistics(statistics: readonly BatchStatistics[]): void {
  for (const { mean, variance } of statistics) {
    mean.dispose();
    variance.dispose();
  }
}
