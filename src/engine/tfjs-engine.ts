/**
 * The TF.js engine: one {@link Engine} over every TF.js backend (wasm, native, cpu, tensorflow,
 * webgpu). A model is a {@link Network} with its {@link MaskedSgd}; batches are normalised and
 * augmented on the CPU by a {@link Batcher} (one per data set and normalisation, kept while the
 * data set lives, so an unaugmented set is normalised once per process), or, for image files,
 * decoded and transformed by a {@link FileBatcher}, the next batch while the current one computes.
 *
 * Results are read asynchronously and once per request (a whole plan of steps, an evaluation):
 * webgpu cannot read synchronously in Node, and every read waits for the device. The arithmetic
 * is the same whenever it is read, so results are bit-identical to reading every step.
 */

import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import {
  Batcher,
  batchesPerEpoch,
  batchIndices,
  type Batch,
  type Normalization,
} from '../data/batches.js';
import {
  isFileDataset,
  type Dataset,
  type FileDataset,
  type ImageDataset,
} from '../data/dataset.js';
import { FileBatcher } from '../data/file-batcher.js';
import type { ModelSpec } from '../models/spec.js';
import { activeBackend, engineName, useBackend } from './backend.js';
import {
  DEFAULT_SGD,
  type BackendInfo,
  type Engine,
  type EngineModel,
  type Evaluation,
  type GradientRequest,
  type Gradients,
  type LayerStatistics,
  augmentationStride,
  type Samples,
  type SgdOptions,
  type TfjsBackendName,
  type TrainedSteps,
  type TrainPlan,
} from './engine.js';
import { disposeStatistics, Network, type BatchStatistics } from './network.js';
import { loadNative } from './native.js';
import { MaskedSgd } from './sgd.js';
import { SPARSE_CONV, SparseLayers, sparseAddon } from './sparse.js';

/** One batcher per data set and normalisation, for as long as the data set is referenced. */
const batchers = new WeakMap<Dataset, Map<string, Batcher | FileBatcher>>();

function cachedBatcher<B extends Batcher | FileBatcher>(
  dataset: Dataset,
  normalization: Normalization,
  make: () => B,
): B {
  let byNormalization = batchers.get(dataset);
  if (byNormalization === undefined)
    batchers.set(dataset, (byNormalization = new Map<string, Batcher | FileBatcher>()));
  const key = JSON.stringify(normalization);
  let batcher = byNormalization.get(key);
  if (batcher === undefined) byNormalization.set(key, (batcher = make()));
  return batcher as B;
}

export function batcherFor(dataset: ImageDataset, normalization: Normalization): Batcher {
  return cachedBatcher(dataset, normalization, () => new Batcher(dataset, normalization));
}

export function fileBatcherFor(dataset: FileDataset, normalization: Normalization): FileBatcher {
  return cachedBatcher(dataset, normalization, () => new FileBatcher(dataset, normalization));
}

/**
 * Fills batches of `dataset`: synchronously for pixels (a view into the batcher's buffer, valid
 * until the next fill, so never fetched ahead), as a promise for image files.
 */
function batchFiller(
  dataset: Dataset,
  normalization: Normalization,
): (indices: Uint32Array, augmentation: Int16Array | null) => Batch | Promise<Batch> {
  if (isFileDataset(dataset)) {
    const batcher = fileBatcherFor(dataset, normalization);
    return (indices, augmentation) => batcher.fill(indices, augmentation);
  }
  const batcher = batcherFor(dataset, normalization);
  return (indices, augmentation) => batcher.fill(indices, augmentation);
}

/**
 * Batches `0 .. count − 1` from `make`, each awaited when needed; for image files the next is
 * started while the caller computes on the current one (decoding runs on libuv's threads). A
 * batch started but not taken (the caller failed) has its failure ignored: the caller's error is
 * the one reported.
 */
class BatchQueue {
  #next: Promise<Batch> | undefined;
  #index = 0;
  constructor(
    readonly count: number,
    readonly make: (index: number) => Batch | Promise<Batch>,
    readonly ahead: boolean,
  ) {}

  /** The next batch: as made (synchronous for pixels) or, fetching ahead, a promise. */
  take(): Batch | Promise<Batch> {
    const index = this.#index++;
    if (!this.ahead) return this.make(index);
    const current = this.#next ?? Promise.resolve(this.make(index));
    this.#next = undefined;
    return current.then((batch) => {
      if (index + 1 < this.count) {
        const next = Promise.resolve(this.make(index + 1));
        // Handled now (its failure surfaces when it is taken), not reported as unhandled while
        // the current batch computes.
        next.catch(() => undefined);
        this.#next = next;
      }
      return batch;
    });
  }

  close(): void {
    this.#next = undefined;
  }
}

export class TfjsEngine implements Engine {
  readonly info: BackendInfo;

  private constructor(info: BackendInfo) {
    this.info = info;
  }

  /** Starts `backend` (engine/backend.ts) and returns the engine on it. */
  static async open(backend: TfjsBackendName = 'wasm'): Promise<TfjsEngine> {
    return new TfjsEngine(await useBackend(backend));
  }

  /** The engine on the backend {@link useBackend} last started. */
  static active(): TfjsEngine {
    return new TfjsEngine(activeBackend());
  }

  model(
    spec: ModelSpec,
    values: ReadonlyMap<string, Float32Array>,
    sgd: SgdOptions = DEFAULT_SGD,
  ): Promise<TfjsModel> {
    if (tf.getBackend() !== engineName(this.info.name as TfjsBackendName)) {
      throw new Error(
        `the ${this.info.name} engine is no longer active (TF.js runs ${tf.getBackend()}): open it again`,
      );
    }
    const network = Network.fromValues(spec, values);
    return Promise.resolve(new TfjsModel(this, network, new MaskedSgd(network, sgd)));
  }
}

async function readScalars(scalars: readonly tf.Tensor[]): Promise<Float32Array> {
  if (scalars.length === 0) return new Float32Array(0);
  const stacked = tf.stack(scalars as tf.Tensor[]);
  try {
    return Float32Array.from(await stacked.data());
  } finally {
    stacked.dispose();
  }
}

export class TfjsModel implements EngineModel {
  readonly engine: TfjsEngine;
  readonly network: Network;
  readonly optimizer: MaskedSgd;

  constructor(engine: TfjsEngine, network: Network, optimizer: MaskedSgd) {
    this.engine = engine;
    this.network = network;
    this.optimizer = optimizer;
  }

  get spec(): ModelSpec {
    return this.network.spec;
  }

  get sgd(): SgdOptions {
    return this.optimizer.options;
  }

  get mask(): Mask | null {
    return this.optimizer.mask;
  }

  read(): Promise<Map<string, Float32Array>> {
    return this.network.read();
  }

  write(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    this.network.restore(values);
    return Promise.resolve();
  }

  readMomentum(): Promise<Map<string, Float32Array>> {
    return this.optimizer.read();
  }

  writeMomentum(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    this.optimizer.restore(values);
    return Promise.resolve();
  }

  /** The current mask's layers on the sparse kernels (native backend only; rebuilt per mask). */
  #sparse: SparseLayers | undefined;

  get sparseLayers(): SparseLayers | undefined {
    return this.#sparse;
  }

  setMask(mask: Mask | null): Promise<void> {
    this.optimizer.setMask(mask);
    this.#sparse?.dispose();
    this.#sparse = undefined;
    const addon = sparseAddon(loadNative().addon);
    if (
      mask !== null &&
      addon !== undefined &&
      tf.getKernel(SPARSE_CONV, this.network.backend) !== undefined
    ) {
      this.#sparse = new SparseLayers(addon, mask);
    }
    return Promise.resolve();
  }

  resetMomentum(): Promise<void> {
    this.optimizer.resetMomentum();
    return Promise.resolve();
  }

  async train(plan: TrainPlan): Promise<TrainedSteps> {
    const fill = batchFiller(plan.dataset, plan.normalization);
    const stride = augmentationStride(plan.dataset);
    const [h, w, c] = plan.dataset.shape;
    const classes = this.network.spec.classes;
    const params = [...this.network.params];
    const steps = plan.learningRates.length;
    const losses: tf.Tensor[] = [];
    const hits: tf.Tensor[] = [];
    const queue = new BatchQueue(
      steps,
      (k) => {
        const from = plan.offsets[k]!;
        const to = plan.offsets[k + 1]!;
        return fill(
          plan.indices.subarray(from, to),
          plan.augmentation?.subarray(stride * from, stride * to) ?? null,
        );
      },
      isFileDataset(plan.dataset),
    );
    this.network.sparseLayers = this.#sparse?.byWeight;
    try {
      for (let k = 0; k < steps; k++) {
        if (plan.resetMomentum[k] === 1) this.optimizer.resetMomentum();
        const taken = queue.take();
        // Pixels are filled synchronously: nothing runs between the fill and its tensor.
        const batch = taken instanceof Promise ? await taken : taken;
        let statistics: BatchStatistics[] = [];
        const [loss, correct] = this.#guard(plan.firstStep + k, () =>
          tf.tidy(() => {
            const images = tf.tensor4d(batch.images, [batch.size, h, w, c]);
            const labels = tf.tensor1d(batch.labels, 'int32');
            const oneHot = tf.oneHot(labels, classes);
            let logits: tf.Tensor2D | undefined;
            const { value, grads } = tf.variableGrads(
              () => {
                const result = this.network.forward(images, 'train');
                statistics = result.statistics;
                logits = tf.keep(result.logits);
                return tf.losses.softmaxCrossEntropy(oneHot, result.logits);
              },
              params.map(([, v]) => v),
            );
            this.optimizer.step(
              Object.fromEntries(params.map(([name, v]) => [name, grads[v.name]!])),
              plan.learningRates[k]!,
            );
            const right = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), labels), 'int32'));
            logits!.dispose(); // kept out of variableGrads' scope, so no tidy frees it
            return [tf.keep(value), tf.keep(right)];
          }),
        );
        losses.push(loss);
        hits.push(correct);
        this.network.updateRunningStatistics(statistics);
      }
      return {
        losses: await readScalars(losses),
        correct: Uint32Array.from(await readScalars(hits)),
      };
    } finally {
      this.network.sparseLayers = undefined;
      queue.close();
      for (const t of [...losses, ...hits]) t.dispose();
    }
  }

  /**
   * Runs a step's computation, turning a failure inside the backend into an error that says which
   * step failed and, on wasm, the likely cause: the WebAssembly heap is at most 4 GB (wasm32),
   * and a large model at a large batch (ResNet-18/50 at batch 128) needs more.
   */
  #guard<T>(step: number, compute: () => T): T {
    try {
      return compute();
    } catch (error) {
      const hint =
        this.network.backend === 'wasm'
          ? '; if the model or batch is large, the wasm heap (at most 4 GB) may be exhausted: use a smaller batch'
          : '';
      throw new Error(
        `training step ${step} failed on ${this.network.backend}: ${(error as Error).message}${hint}`,
        { cause: error },
      );
    }
  }

  async evaluate(
    dataset: Dataset,
    normalization: Normalization,
    batchSize: number,
  ): Promise<Evaluation> {
    const fill = batchFiller(dataset, normalization);
    const [h, w, c] = dataset.shape;
    const sums: tf.Tensor[] = [];
    const rights: tf.Tensor[] = [];
    const batches = batchesPerEpoch(dataset.count, batchSize);
    const queue = new BatchQueue(
      batches,
      (index) => fill(batchIndices(dataset.count, batchSize, index), null),
      isFileDataset(dataset),
    );
    try {
      for (let index = 0; index < batches; index++) {
        const taken = queue.take();
        const batch = taken instanceof Promise ? await taken : taken;
        const [sum, right] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
          const labels = tf.tensor1d(batch.labels, 'int32');
          const { logits } = this.network.forward(
            tf.tensor4d(batch.images, [batch.size, h, w, c]),
            'eval',
          );
          const loss = tf.losses.softmaxCrossEntropy(
            tf.oneHot(labels, this.network.spec.classes),
            logits,
            undefined,
            0,
            tf.Reduction.SUM,
          );
          return [loss, tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'))];
        });
        sums.push(sum);
        rights.push(right);
      }
      let loss = 0;
      let correct = 0;
      // Summed in float64, batch by batch, as each batch's float32 sum was computed.
      for (const v of await readScalars(sums)) loss += v;
      for (const v of await readScalars(rights)) correct += v;
      return {
        loss: loss / dataset.count,
        accuracy: correct / dataset.count,
        count: dataset.count,
      };
    } finally {
      queue.close();
      for (const t of [...sums, ...rights]) t.dispose();
    }
  }

  async gradients(request: GradientRequest): Promise<Gradients> {
    const { spec } = this.network;
    const [h, w, c] = spec.input;
    for (const name of request.wrt) this.network.param(name); // names an unknown one
    // Host data of each batch (null images: the all-ones input), made into tensors in the tidy.
    type HostBatch = { images: Float32Array | null; size: number; labels: Int32Array | null };
    const batches: (() => HostBatch | Promise<HostBatch>)[] = [];
    if (request.input.kind === 'ones') {
      batches.push(() => ({ images: null, size: 1, labels: null }));
    } else {
      const { samples, batchSize } = request.input;
      const fill = batchFiller(samples.dataset, samples.normalization);
      const stride = augmentationStride(samples.dataset);
      const count = samples.indices.length;
      if (request.objective === 'cross-entropy-mean' && count > batchSize)
        throw new InvalidArgumentError(
          'objective',
          'cross-entropy-sum over more than one batch (a mean is per batch)',
          request.objective,
        );
      for (let from = 0; from < count; from += batchSize) {
        const to = Math.min(count, from + batchSize);
        batches.push(() => {
          const host = (batch: Batch): HostBatch => ({
            images: batch.images,
            size: batch.size,
            labels: Int32Array.from(batch.labels),
          });
          const made = fill(
            samples.indices.subarray(from, to),
            samples.augmentation?.subarray(stride * from, stride * to) ?? null,
          );
          return made instanceof Promise ? made.then(host) : host(made);
        });
      }
    }
    const gradients = new Map(
      request.wrt.map((name) => [name, new Float64Array(this.network.param(name).size)]),
    );
    let value = 0;
    for (const makeBatch of batches) {
      const parts: tf.Tensor[] = [];
      let objective: tf.Tensor | undefined;
      const made = makeBatch();
      const host = made instanceof Promise ? await made : made;
      tf.tidy(() => {
        const { labels } = host;
        const images =
          host.images === null
            ? tf.ones<tf.Rank.R4>([1, h, w, c])
            : tf.tensor4d(host.images, [host.size, h, w, c]);
        const given = new Map<string, tf.Tensor>();
        for (const [name, data] of request.values ?? []) {
          const variable = this.network.params.get(name) ?? this.network.buffers.get(name);
          if (variable === undefined || variable.size !== data.length)
            throw new InvalidArgumentError(
              `values.${name}`,
              `a parameter or buffer of ${spec.name} with its size`,
              data.length,
            );
          given.set(name, tf.tensor(data, variable.shape));
        }
        const xs = request.wrt.map((name) => given.get(name) ?? this.network.param(name));
        const f = (...inputs: tf.Tensor[]) => {
          const overrides = new Map(given);
          request.wrt.forEach((name, i) => overrides.set(name, inputs[i]!));
          const { logits, statistics } = this.network.forward(
            images,
            request.mode,
            overrides,
            request.normalize ?? false,
          );
          disposeStatistics(statistics); // training mode: batch statistics, not folded in
          if (request.objective === 'logit-sum') return tf.sum(logits);
          if (labels === null)
            throw new InvalidArgumentError(
              'objective',
              'logit-sum for a ones input',
              request.objective,
            );
          const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), spec.classes);
          return request.objective === 'cross-entropy-mean'
            ? tf.losses.softmaxCrossEntropy(oneHot, logits)
            : tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, 0, tf.Reduction.SUM);
        };
        const result = tf.valueAndGrads(f as (...x: tf.Tensor[]) => tf.Scalar)(xs);
        objective = tf.keep(result.value);
        for (const g of result.grads) parts.push(tf.keep(g));
      });
      try {
        value += (await objective!.data())[0]!;
        for (let i = 0; i < parts.length; i++) {
          const part = await parts[i]!.data();
          const sum = gradients.get(request.wrt[i]!)!;
          for (let j = 0; j < part.length; j++) sum[j]! += part[j]!;
        }
      } finally {
        objective?.dispose();
        for (const t of parts) t.dispose();
      }
    }
    return { value, gradients };
  }

  async batchStatistics(samples: Samples): Promise<LayerStatistics[]> {
    const made = batchFiller(samples.dataset, samples.normalization)(
      samples.indices,
      samples.augmentation,
    );
    const batch = made instanceof Promise ? await made : made;
    const [h, w, c] = samples.dataset.shape;
    let statistics: BatchStatistics[] = [];
    tf.tidy(() => {
      statistics = this.network.forward(
        tf.tensor4d(batch.images, [batch.size, h, w, c]),
        'train',
      ).statistics;
    });
    try {
      const out: LayerStatistics[] = [];
      for (const { layer, mean, variance, count } of statistics)
        out.push({
          layer,
          mean: (await mean.data()) as Float32Array,
          variance: (await variance.data()) as Float32Array,
          count,
        });
      return out;
    } finally {
      disposeStatistics(statistics);
    }
  }

  dispose(): Promise<void> {
    this.#sparse?.dispose();
    this.#sparse = undefined;
    this.optimizer.dispose();
    this.network.dispose();
    return Promise.resolve();
  }
}
