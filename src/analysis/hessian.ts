/**
 * Sharpness: the largest eigenvalues of the Hessian of the training loss, by Lanczos or power
 * iteration (eigen.ts) on Hessian-vector products.
 *
 * TF.js cannot differentiate our BatchNorm's custom gradient nor the replacement convolution
 * backprops, so Hessian-vector products are central finite differences of gradients,
 *   Hv ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε,  with ‖v‖ = 1 and ε = 1e-2 by default,
 * which is exact for quadratics (tested) and within 1% of a float64 reference on real networks
 * (properties/analysis.test.ts). The loss is the mean cross-entropy over a fixed, seeded subset of
 * the training set, with BatchNorm in eval mode (running statistics), so L is a function of the
 * parameters alone. Pruned weights are not coordinates: v and Hv are zero there.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import { randomStream } from '../core/random.js';
import type { Normalization } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { EngineModel, Samples } from '../engine/engine.js';
import { layerOfWeight, parameters } from '../models/spec.js';
import { lanczos, powerIteration } from './eigen.js';

/** Central difference of a gradient along v: exact when the gradient is affine (a quadratic). */
export async function finiteDifferenceHvp(
  gradientAt: (point: Float64Array) => Float64Array | Promise<Float64Array>,
  point: Float64Array,
  v: Float64Array,
  epsilon: number,
): Promise<Float64Array> {
  if (!(epsilon > 0)) throw new InvalidArgumentError('epsilon', 'a positive step', epsilon);
  const plus = new Float64Array(point.length);
  const minus = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    plus[i] = point[i]! + epsilon * v[i]!;
    minus[i] = point[i]! - epsilon * v[i]!;
  }
  const gPlus = await gradientAt(plus);
  const gMinus = await gradientAt(minus);
  const out = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) out[i] = (gPlus[i]! - gMinus[i]!) / (2 * epsilon);
  return out;
}

/**
 * The training loss of a model as a function of its flattened parameters (spec order), over a
 * fixed subset of images. It never changes the model: points are passed to the engine as
 * stand-ins for one request.
 */
export class LossSurface {
  readonly model: EngineModel;
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly offsets: readonly number[];
  readonly dimension: number;
  /** 1 where a coordinate is free, 0 for pruned weights. */
  readonly free: Uint8Array;
  readonly samples: number;
  readonly batchSize: number;
  readonly #subset: Samples;

  constructor(
    model: EngineModel,
    mask: Mask,
    data: { train: Dataset; normalization: Normalization },
    options: { samples: number; batchSize: number; seed: number },
  ) {
    requireInteger('samples', options.samples, 1);
    this.batchSize = requireInteger('batchSize', options.batchSize, 1);
    this.model = model;
    const params = parameters(model.spec);
    this.names = params.map((p) => p.name);
    this.shapes = params.map((p) => p.shape);
    const offsets: number[] = [];
    let dimension = 0;
    for (const shape of this.shapes) {
      offsets.push(dimension);
      dimension += sizeOf(shape);
    }
    this.offsets = offsets;
    this.dimension = dimension;
    this.free = new Uint8Array(dimension).fill(1);
    this.names.forEach((name, p) => {
      const layer = layerOfWeight(name);
      if (layer === undefined || !mask.has(layer)) return;
      const bits = mask.toArray(layer);
      for (let i = 0; i < bits.length; i++) this.free[offsets[p]! + i] = bits[i]!;
    });
    const count = Math.min(options.samples, data.train.count);
    const order = randomStream(options.seed, 'analysis/hessian').permutation(data.train.count);
    this.samples = count;
    this.#subset = {
      dataset: data.train,
      normalization: data.normalization,
      indices: order.subarray(0, count),
      augmentation: null,
    };
  }

  /** The model's current parameters, flattened (pruned weights are 0 there). */
  async point(): Promise<Float64Array> {
    const values = await this.model.read();
    const out = new Float64Array(this.dimension);
    this.names.forEach((name, p) => out.set(values.get(name)!, this.offsets[p]));
    return out;
  }

  /** Mean loss and its gradient at `point` (free coordinates only; 0 elsewhere). */
  async lossAndGradient(point: Float64Array): Promise<{ loss: number; gradient: Float64Array }> {
    if (point.length !== this.dimension)
      throw new InvalidArgumentError('point', `${this.dimension} values`, point.length);
    const values = new Map(
      this.names.map((name, p) => [
        name,
        Float32Array.from(
          point.subarray(this.offsets[p], this.offsets[p]! + sizeOf(this.shapes[p]!)),
        ),
      ]),
    );
    const { value, gradients } = await this.model.gradients({
      input: { kind: 'samples', samples: this.#subset, batchSize: this.batchSize },
      mode: 'eval',
      objective: 'cross-entropy-sum',
      values,
      wrt: this.names,
    });
    const gradient = new Float64Array(this.dimension);
    this.names.forEach((name, p) => gradient.set(gradients.get(name)!, this.offsets[p]));
    for (let i = 0; i < this.dimension; i++)
      gradient[i] = this.free[i] ? gradient[i]! / this.samples : 0;
    return { loss: value / this.samples, gradient };
  }

  /** Finite-difference Hessian-vector product at the model's parameters, on free coordinates. */
  hessianTimes(point: Float64Array, v: Float64Array, epsilon: number): Promise<Float64Array> {
    const projected = v.map((x, i) => (this.free[i] ? x : 0));
    return finiteDifferenceHvp(
      async (p) => (await this.lossAndGradient(p)).gradient,
      point,
      projected,
      epsilon,
    );
  }
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export interface SharpnessOptions {
  /** Eigenvalues to report (largest magnitude first). */
  readonly k: number;
  readonly samples: number;
  readonly batchSize: number;
  readonly epsilon: number;
  readonly maxIterations: number;
  readonly tolerance: number;
  /** Lanczos: k algebraically largest; power: k largest in magnitude, constant memory. */
  readonly solver: 'lanczos' | 'power';
  readonly seed: number;
}

export const SHARPNESS_DEFAULTS = {
  k: 1,
  samples: 1024,
  batchSize: 256,
  epsilon: 1e-2,
  maxIterations: 50,
  tolerance: 1e-3,
  solver: 'lanczos',
  seed: 0,
} as const satisfies SharpnessOptions;

export interface Sharpness {
  readonly eigenvalues: readonly {
    readonly value: number;
    readonly iterations: number;
    readonly converged: boolean;
    /** The solver's convergence measure (eigen.ts). */
    readonly residual: number;
  }[];
  /** Mean training loss on the subset at the network's parameters. */
  readonly loss: number;
  /** Free coordinates (parameters minus pruned weights). */
  readonly dimension: number;
  readonly options: SharpnessOptions;
  readonly method: string;
}

export async function sharpness(
  model: EngineModel,
  mask: Mask,
  data: { train: Dataset; normalization: Normalization },
  options: Partial<SharpnessOptions> = {},
): Promise<Sharpness> {
  const resolved: SharpnessOptions = { ...SHARPNESS_DEFAULTS, ...options };
  const surface = new LossSurface(model, mask, data, resolved);
  const point = await surface.point();
  const solve = resolved.solver === 'lanczos' ? lanczos : powerIteration;
  const pairs = await solve(
    (v) => surface.hessianTimes(point, v, resolved.epsilon),
    surface.dimension,
    {
      k: resolved.k,
      maxIterations: resolved.maxIterations,
      tolerance: resolved.tolerance,
      stream: randomStream(resolved.seed, 'analysis/power-iteration'),
    },
  );
  const free = surface.free.reduce((n, f) => n + f, 0);
  return {
    eigenvalues: pairs.map(({ value, iterations, converged, residual }) => ({
      value,
      iterations,
      converged,
      residual,
    })),
    loss: (await surface.lossAndGradient(point)).loss,
    dimension: free,
    options: resolved,
    method: `${resolved.solver === 'lanczos' ? 'Lanczos (full reorthogonalisation)' : 'power iteration with deflation'} on central finite-difference Hessian-vector products (ε = ${resolved.epsilon}, ‖v‖ = 1), BatchNorm in eval mode, ${surface.samples} training images`,
  };
}
