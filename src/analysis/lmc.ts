/**
 * Linear mode connectivity: evaluate θ(α) = α·θA + (1 − α)·θB along a grid of α (both ends
 * always included) on the training and test sets, and the barrier in two definitions, for the
 * loss and for the error:
 * - mean of ends (Frankle et al. 2020): max over α of value(θ(α)) − (value(θA) + value(θB)) / 2;
 * - linear: max over α of value(θ(α)) − (α·value(θA) + (1 − α)·value(θB)), the height above the
 *   straight line between the ends (Entezari et al. 2022), which reads 0 for a monotone curve
 *   where the mean-of-ends barrier reads half the difference of the ends. Pruned weights are 0 in each network, so two masks interpolate
 * on the union of their supports.
 *
 * BatchNorm running statistics are not weights: by default they are re-estimated at every α on a
 * fixed set of training batches (the cumulative average of batch statistics, as PyTorch's
 * `momentum=None`); `interpolate` mixes the stored ones like weights instead.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import { randomStream } from '../core/random.js';
import { batchesPerEpoch, type Normalization } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { Engine, EngineModel, Samples } from '../engine/engine.js';
import { buffers, parameters, type ModelSpec } from '../models/spec.js';

export const BATCH_NORM_MODES = ['re-estimate', 'interpolate'] as const;
export type BatchNormMode = (typeof BATCH_NORM_MODES)[number];

export interface LmcOptions {
  /** α values in [0, 1]; 0 and 1 are added when missing; sorted, duplicates removed. */
  readonly alphas: readonly number[];
  readonly batchNorm: BatchNormMode;
  /** Training batches the BatchNorm statistics are re-estimated on. */
  readonly batchNormBatches: number;
  readonly batchSize: number;
  /** Draws the re-estimation batches. */
  readonly seed: number;
}

export const LMC_DEFAULTS = {
  alphas: Array.from({ length: 11 }, (_, i) => i / 10),
  batchNorm: 're-estimate',
  batchNormBatches: 10,
  batchSize: 256,
  seed: 0,
} as const satisfies LmcOptions;

export interface LmcPoint {
  readonly alpha: number;
  readonly train: { readonly loss: number; readonly error: number };
  readonly test: { readonly loss: number; readonly error: number };
}

export interface Barrier {
  readonly loss: number;
  readonly error: number;
  /** The α where the error is highest. */
  readonly at: number;
}

export interface Lmc {
  readonly curve: readonly LmcPoint[];
  readonly barrier: { readonly train: Barrier; readonly test: Barrier };
  readonly options: LmcOptions;
  /** Whether the model has BatchNorm (otherwise `batchNorm` changes nothing). */
  readonly hasBatchNorm: boolean;
}

export function alphaGrid(alphas: readonly number[]): number[] {
  alphas.forEach((a, i) => {
    if (!(a >= 0 && a <= 1))
      throw new InvalidArgumentError(`alphas[${i}]`, 'a number in [0, 1]', a);
  });
  return [...new Set([0, ...alphas, 1])].sort((a, b) => a - b);
}

/** The barrier of a curve: max over α minus the mean of the two ends, for loss and error. */
export function barrierOf(curve: readonly LmcPoint[], split: 'train' | 'test'): Barrier {
  const ends = [curve[0]!, curve.at(-1)!];
  const meanLoss = (ends[0]![split].loss + ends[1]![split].loss) / 2;
  const meanError = (ends[0]![split].error + ends[1]![split].error) / 2;
  let worst = curve[0]!;
  for (const point of curve) if (point[split].error > worst[split].error) worst = point;
  return {
    loss: Math.max(...curve.map((p) => p[split].loss)) - meanLoss,
    error: worst[split].error - meanError,
    at: worst.alpha,
  };
}

/**
 * The barrier against the linear interpolation of the ends: max over α of the value less the
 * straight line between value(θB) at α = 0 and value(θA) at α = 1, for loss and error.
 */
export function linearBarrierOf(curve: readonly LmcPoint[], split: 'train' | 'test'): Barrier {
  const [first, last] = [curve[0]!, curve.at(-1)!];
  const above = (point: LmcPoint, key: 'loss' | 'error') =>
    point[split][key] - ((1 - point.alpha) * first[split][key] + point.alpha * last[split][key]);
  let worst = curve[0]!;
  for (const point of curve) if (above(point, 'error') > above(worst, 'error')) worst = point;
  return {
    loss: Math.max(...curve.map((p) => above(p, 'loss'))),
    error: above(worst, 'error'),
    at: worst.alpha,
  };
}

export interface Endpoint {
  /** Parameters and buffers by name (EngineModel.read() or a stored state). */
  readonly values: ReadonlyMap<string, Float32Array>;
}

export async function linearModeConnectivity(
  engine: Engine,
  spec: ModelSpec,
  a: Endpoint,
  b: Endpoint,
  data: { train: Dataset; test: Dataset; normalization: Normalization },
  options: Partial<LmcOptions> = {},
): Promise<Lmc> {
  const resolved: LmcOptions = { ...LMC_DEFAULTS, ...options };
  requireInteger('batchNormBatches', resolved.batchNormBatches, 1);
  requireInteger('batchSize', resolved.batchSize, 1);
  const alphas = alphaGrid(resolved.alphas);
  const names = [...parameters(spec), ...buffers(spec)];
  const hasBatchNorm = buffers(spec).length > 0;
  for (const { name, shape } of names) {
    const size = shape.reduce((x, y) => x * y, 1);
    requireValues(a, 'a', name, size);
    requireValues(b, 'b', name, size);
  }
  // The re-estimation batches: a fixed draw of training images, the same at every α.
  const count = Math.min(data.train.count, resolved.batchNormBatches * resolved.batchSize);
  const drawn = randomStream(resolved.seed, 'analysis/lmc-batchnorm')
    .permutation(data.train.count)
    .subarray(0, count);
  const statisticsSamples = {
    dataset: data.train,
    normalization: data.normalization,
    indices: drawn,
    augmentation: null,
  };
  const model = await engine.model(spec, a.values);
  try {
    const curve: LmcPoint[] = [];
    for (const alpha of alphas) {
      const values = new Map<string, Float32Array>();
      for (const { name } of names) {
        const va = a.values.get(name)!;
        const vb = b.values.get(name)!;
        const mixed = new Float32Array(va.length);
        for (let i = 0; i < va.length; i++) mixed[i] = alpha * va[i]! + (1 - alpha) * vb[i]!;
        values.set(name, mixed);
      }
      await model.write(values);
      if (hasBatchNorm && resolved.batchNorm === 're-estimate')
        await reestimate(model, statisticsSamples, resolved.batchSize);
      const train = await model.evaluate(data.train, data.normalization, resolved.batchSize);
      const test = await model.evaluate(data.test, data.normalization, resolved.batchSize);
      curve.push({
        alpha,
        train: { loss: train.loss, error: 1 - train.accuracy },
        test: { loss: test.loss, error: 1 - test.accuracy },
      });
    }
    return {
      curve,
      barrier: { train: barrierOf(curve, 'train'), test: barrierOf(curve, 'test') },
      options: { ...resolved, alphas },
      hasBatchNorm,
    };
  } finally {
    await model.dispose();
  }
}

function requireValues(endpoint: Endpoint, which: string, name: string, size: number): void {
  const values = endpoint.values.get(name);
  if (values === undefined || values.length !== size)
    throw new InvalidArgumentError(
      `${which}.${name}`,
      `${size} values (the same model on both sides)`,
      values?.length,
    );
}

/**
 * Running statistics := the average over batches of `samples` (in order, `batchSize` each) of
 * each batch's mean and unbiased variance.
 */
export async function reestimate(
  model: EngineModel,
  samples: Samples,
  batchSize: number,
): Promise<void> {
  const sums = new Map<string, { mean: Float64Array; variance: Float64Array }>();
  const n = batchesPerEpoch(samples.indices.length, batchSize);
  for (let index = 0; index < n; index++) {
    const from = index * batchSize;
    const to = Math.min(samples.indices.length, from + batchSize);
    const statistics = await model.batchStatistics({
      ...samples,
      indices: samples.indices.subarray(from, to),
      augmentation: samples.augmentation?.subarray(3 * from, 3 * to) ?? null,
    });
    for (const { layer, mean: m, variance: v, count } of statistics) {
      const sum = sums.get(layer) ?? {
        mean: new Float64Array(m.length),
        variance: new Float64Array(m.length),
      };
      const unbiased = count / Math.max(1, count - 1);
      for (let i = 0; i < m.length; i++) {
        sum.mean[i]! += m[i]!;
        sum.variance[i]! += v[i]! * unbiased;
      }
      sums.set(layer, sum);
    }
  }
  const values = await model.read();
  for (const [layer, sum] of sums) {
    values.set(
      `${layer}.mean`,
      Float32Array.from(sum.mean, (x) => x / n),
    );
    values.set(
      `${layer}.variance`,
      Float32Array.from(sum.variance, (x) => x / n),
    );
  }
  await model.write(values);
}
