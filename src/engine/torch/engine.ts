/**
 * The PyTorch engine: `training.backend: torch` on `device: cuda | cuda:N | cpu | mps`. A Python
 * process (python/cyclesparse_torch.py, run by python-process.ts) holds the models and the data on the
 * device; this side sends it everything a run decides — initial weights, masks, the prepared data
 * set (once per process: subsets, label noise and normalisation have one source of truth here),
 * each epoch's order and augmentation choices, learning rates and momentum resets — so one seed
 * determines a run on either engine. A whole epoch runs inside PyTorch in one request. A folder
 * data set crosses as its index (root, paths, sizes, labels); the process decodes each batch's
 * files itself with Pillow in DataLoader processes, applying the boxes and flips drawn here, so
 * its batches equal the TypeScript file batcher's value for value (torch-files.test.ts).
 *
 * Tensors cross in the TypeScript layouts; `torchLayouts` tells the process how each parameter is
 * laid out so it can keep PyTorch's own (OIHW convolutions, [out, in] dense weights whose inputs
 * follow NCHW's flatten order) and convert back at the boundary.
 */

import { InvalidArgumentError } from '../../core/errors.js';
import { nativeThreads } from '../backend.js';
import type { Mask } from '../../core/mask.js';
import { normalizationTables, type Normalization } from '../../data/batches.js';
import type { Dataset } from '../../data/dataset.js';
import { buffers, inferShape, parameters, weightName, type ModelSpec } from '../../models/spec.js';
import {
  augmentationStride,
  DEFAULT_SGD,
  PRECISIONS,
  requireValues,
  TORCH_DEVICE_PATTERN,
  type BackendInfo,
  type Engine,
  type EngineModel,
  type Evaluation,
  type GradientRequest,
  type Gradients,
  type LayerStatistics,
  type Precision,
  type Samples,
  type SgdOptions,
  type TrainedSteps,
  type TrainPlan,
} from '../engine.js';
import type { Frame, WireTensor } from './protocol.js';
import { TorchProcess } from './python-process.js';

/**
 * How each weight is laid out on the TypeScript side: `hwio` conv kernels, `io` dense weights,
 * and `io-hwc` (with h, w, c) for a dense layer that follows a flatten of an h×w×c map, whose
 * input rows are in HWC order (PyTorch flattens NCHW maps in CHW order).
 */
export function torchLayouts(spec: ModelSpec): [string, (string | number)[]][] {
  const layouts: [string, (string | number)[]][] = [];
  let flattened: readonly number[] | undefined;
  inferShape(spec.nodes, spec.input, 'nodes', (node, input) => {
    if (node.op === 'flatten') flattened = input.length === 3 ? input : undefined;
    if (node.op === 'conv') layouts.push([weightName(node.name), ['hwio']]);
    if (node.op === 'dense') {
      layouts.push([
        weightName(node.name),
        flattened === undefined ? ['io'] : ['io-hwc', ...flattened],
      ]);
      flattened = undefined;
    }
  });
  return layouts;
}

export interface TorchEngineOptions {
  /** cpu, cuda, cuda:N or mps. */
  readonly device: string;
  readonly precision?: Precision;
  /** The Python with torch (default: CYCLESPARSE_PYTHON, else python3). */
  readonly python?: string;
  /** CPU threads (default: CYCLESPARSE_THREADS, else every core the process may use). */
  readonly threads?: number;
  /** Seconds of silence from a busy PyTorch process before it counts as hung. */
  readonly timeoutSeconds?: number;
}

const DATA_KEPT = 4;

const int32View = (u: Uint32Array) => new Int32Array(u.buffer, u.byteOffset, u.length);

export class TorchEngine implements Engine {
  readonly info: BackendInfo;
  /** The Python process running PyTorch. */
  readonly process: TorchProcess;
  /** Data sets on the process, least recently used first. */
  readonly #data = new Map<string, Promise<void>>();
  readonly #ids = new WeakMap<Dataset, number>();
  #nextData = 1;

  private constructor(process: TorchProcess, info: BackendInfo) {
    this.process = process;
    this.info = info;
  }

  /** Starts a PyTorch process on `device`; refuses a device it does not have, naming `training.device`. */
  static async open(options: TorchEngineOptions): Promise<TorchEngine> {
    if (!TORCH_DEVICE_PATTERN.test(options.device))
      throw new InvalidArgumentError('training.device', 'cpu, cuda, cuda:N or mps', options.device);
    const precision = options.precision ?? 'fp32';
    if (!(PRECISIONS as readonly string[]).includes(precision))
      throw new InvalidArgumentError('training.precision', PRECISIONS.join(', '), precision);
    // As the native backend: CYCLESPARSE_THREADS (a sweep pool's share), else every core; PyTorch's
    // own default is the physical cores, half of them on a machine with SMT.
    const threads = options.threads ?? nativeThreads();
    const torch = new TorchProcess({
      ...(options.python === undefined ? {} : { python: options.python }),
      ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
    });
    let hello: Frame;
    try {
      hello = await torch.request('hello', {
        device: options.device,
        precision,
        threads,
      });
    } catch (error) {
      torch.close();
      throw error;
    }
    const h = hello.header;
    return new TorchEngine(torch, {
      name: 'torch',
      tfjsVersion: null,
      threads: h.threads as number,
      simd: null,
      // Pillow's build decides a folder data set's pixels: recorded with the run, in a field
      // that is free text (no stored schema changes).
      provider: `PyTorch ${String(h.torchVersion)} on Python ${String(h.python)}${typeof h.pillow === 'string' ? `, ${h.pillow}` : ''}`,
      torch: {
        device: options.device,
        deviceName: String(h.deviceName),
        precision,
        torchVersion: String(h.torchVersion),
        cudaVersion: (h.cudaVersion as string | null) ?? null,
        cudnnVersion: (h.cudnnVersion as number | null) ?? null,
        python: torch.python,
        deterministic: h.deterministic === true,
      },
    });
  }

  /**
   * The process's key for `dataset` under `normalization`, sending it the first time: pixels as
   * one tensor, or for image files the root, the relative paths (one newline-joined UTF-8
   * tensor: a million JSON strings would dwarf it), the stored sizes and the transform's
   * parameters, from which the process decodes each batch itself.
   */
  async dataKey(dataset: Dataset, normalization: Normalization): Promise<string> {
    let id = this.#ids.get(dataset);
    if (id === undefined) this.#ids.set(dataset, (id = this.#nextData++));
    const key = `${id}:${JSON.stringify(normalization)}`;
    let sent = this.#data.get(key);
    if (sent !== undefined) {
      this.#data.delete(key); // most recently used last
      this.#data.set(key, sent);
      await sent;
      return key;
    }
    const [h, w, c] = dataset.shape;
    const tables = normalizationTables(normalization, c);
    const flat = new Float32Array(256 * c);
    tables.forEach((table, k) => flat.set(table, 256 * k));
    const tablesTensor = { name: 'tables', data: flat, shape: [c, 256] };
    let request: Promise<Frame>;
    if (dataset.kind === 'files') {
      const files = joinedPaths(dataset.name, dataset.files);
      request = this.process.request(
        'data.put',
        { key, kind: 'files', shape: [h, w, c], root: dataset.root, resize: dataset.resize },
        [
          { name: 'files', data: files, shape: [files.length] },
          { name: 'sizes', data: int32View(dataset.sizes), shape: [2 * dataset.count] },
          { name: 'labels', data: Int32Array.from(dataset.labels), shape: [dataset.count] },
          tablesTensor,
        ],
      );
    } else {
      request = this.process.request('data.put', { key, shape: [h, w, c] }, [
        { name: 'images', data: dataset.images, shape: [dataset.count, h, w, c] },
        { name: 'labels', data: dataset.labels, shape: [dataset.count] },
        tablesTensor,
      ]);
    }
    sent = request.then(() => undefined);
    this.#data.set(key, sent);
    while (this.#data.size > DATA_KEPT) {
      const oldest = this.#data.keys().next().value!;
      this.#data.delete(oldest);
      void this.process.request('data.drop', { key: oldest }).catch(() => undefined);
    }
    await sent;
    return key;
  }

  async model(
    spec: ModelSpec,
    values: ReadonlyMap<string, Float32Array>,
    sgd: SgdOptions = DEFAULT_SGD,
  ): Promise<TorchModel> {
    const shapes = new Map(
      [...parameters(spec), ...buffers(spec)].map((p) => [p.name, p.shape] as const),
    );
    requireValues(
      [...shapes].map(([name, shape]) => ({ name, shape })),
      values,
    );
    const reply = await this.process.request(
      'model.create',
      { spec, layouts: torchLayouts(spec), sgd },
      tensorsOf(values, shapes),
    );
    return new TorchModel(this, spec, sgd, shapes, reply.header.model as number);
  }

  /**
   * The normalised batch a model on this engine would see for `samples` (NHWC, as the TypeScript
   * batchers fill it) and its labels: for comparing the engines' input pipelines. With
   * `offsets`, the steps `indices[offsets[k] .. offsets[k + 1])` read as training reads them
   * (image files: through the loader processes), concatenated.
   */
  async batch(
    samples: Samples,
    offsets?: Uint32Array,
  ): Promise<{ images: Float32Array; labels: Int32Array }> {
    const data = await this.dataKey(samples.dataset, samples.normalization);
    const tensors = samplesTensors(samples);
    if (offsets !== undefined) {
      if (offsets[0] !== 0 || offsets.at(-1) !== samples.indices.length)
        throw new InvalidArgumentError(
          'offsets',
          `0 first and ${samples.indices.length} last`,
          Array.from(offsets),
        );
      tensors.push({ name: 'offsets', data: int32View(offsets), shape: [offsets.length] });
    }
    const reply = await this.process.request('data.batch', { data }, tensors);
    return {
      images: reply.tensors.get('images')!.data as Float32Array,
      labels: reply.tensors.get('labels')!.data as Int32Array,
    };
  }

  /** @deprecated The old name of `process` ("worker" is the queue's word). */
  get worker(): TorchProcess {
    return this.process;
  }

  /** Ends the PyTorch process. */
  close(): void {
    this.process.close();
  }
}

/** The paths as one newline-joined UTF-8 buffer; a path with a newline in it cannot cross. */
function joinedPaths(name: string, files: readonly string[]): Uint8Array {
  const bad = files.findIndex((file) => file.includes('\n'));
  if (bad >= 0)
    throw new InvalidArgumentError(`${name}.files[${bad}]`, 'a path without a newline', files[bad]);
  return new Uint8Array(Buffer.from(files.join('\n'), 'utf8'));
}

function tensorsOf(
  values: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
  prefix = '',
): WireTensor[] {
  return [...values].map(([name, data]) => {
    const shape = shapes.get(name);
    if (shape === undefined)
      throw new InvalidArgumentError(`values.${name}`, 'a parameter or buffer of the model', name);
    return { name: `${prefix}${name}`, data, shape };
  });
}

function samplesTensors(
  samples: Pick<Samples, 'dataset' | 'indices' | 'augmentation'>,
): WireTensor[] {
  const { indices, augmentation } = samples;
  // The process slices rows by this stride: a plan drawn for the other kind would be misread.
  const stride = augmentationStride(samples.dataset);
  if (augmentation !== null && augmentation.length !== stride * indices.length)
    throw new InvalidArgumentError(
      'augmentation',
      `${stride} values per image for ${samples.dataset.kind ?? 'pixels'} data (${stride * indices.length})`,
      augmentation.length,
    );
  return [
    { name: 'indices', data: int32View(indices), shape: [indices.length] },
    ...(augmentation === null
      ? []
      : [{ name: 'augmentation', data: augmentation, shape: [augmentation.length] }]),
  ];
}

export class TorchModel implements EngineModel {
  readonly engine: TorchEngine;
  readonly spec: ModelSpec;
  readonly sgd: SgdOptions;
  /** The process's handle for this model. */
  readonly id: number;
  readonly #shapes: ReadonlyMap<string, readonly number[]>;
  #mask: Mask | null = null;

  constructor(
    engine: TorchEngine,
    spec: ModelSpec,
    sgd: SgdOptions,
    shapes: ReadonlyMap<string, readonly number[]>,
    id: number,
  ) {
    this.engine = engine;
    this.spec = spec;
    this.sgd = sgd;
    this.#shapes = shapes;
    this.id = id;
  }

  get mask(): Mask | null {
    return this.#mask;
  }

  #request(op: string, header: Record<string, unknown> = {}, tensors: WireTensor[] = []) {
    return this.engine.process.request(op, { model: this.id, ...header }, tensors);
  }

  async read(): Promise<Map<string, Float32Array>> {
    const reply = await this.#request('model.read');
    return new Map([...reply.tensors].map(([name, t]) => [name, t.data as Float32Array]));
  }

  async write(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    requireValues(
      [...this.#shapes].map(([name, shape]) => ({ name, shape })),
      values,
    );
    await this.#request('model.write', {}, tensorsOf(values, this.#shapes));
  }

  async readMomentum(): Promise<Map<string, Float32Array>> {
    const reply = await this.#request('model.read_momentum');
    return new Map([...reply.tensors].map(([name, t]) => [name, t.data as Float32Array]));
  }

  async writeMomentum(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    const params = parameters(this.spec);
    for (const p of params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (values.get(p.name)?.length !== size)
        throw new InvalidArgumentError(
          `momentum.${p.name}`,
          `${size} values`,
          values.get(p.name)?.length,
        );
    }
    await this.#request(
      'model.write_momentum',
      {},
      tensorsOf(new Map(params.map((p) => [p.name, values.get(p.name)!])), this.#shapes),
    );
  }

  async setMask(mask: Mask | null): Promise<void> {
    const tensors: WireTensor[] = [];
    for (const layer of mask?.layers ?? []) {
      const name = weightName(layer.name);
      const shape = this.#shapes.get(name);
      if (shape === undefined || shape.join() !== layer.shape.join()) {
        throw new InvalidArgumentError(
          `mask.${layer.name}`,
          `a prunable layer of ${this.spec.name} with its weight's shape`,
          layer.shape,
        );
      }
      tensors.push({ name, data: Uint8Array.from(mask!.toArray(layer.name)), shape });
    }
    await this.#request('model.set_mask', {}, tensors);
    this.#mask = mask;
  }

  async resetMomentum(): Promise<void> {
    await this.#request('model.reset_momentum');
  }

  async train(plan: TrainPlan): Promise<TrainedSteps> {
    const data = await this.engine.dataKey(plan.dataset, plan.normalization);
    const steps = plan.learningRates.length;
    const reply = await this.#request('model.train', { data, firstStep: plan.firstStep }, [
      ...samplesTensors(plan),
      { name: 'offsets', data: Int32Array.from(plan.offsets), shape: [steps + 1] },
      { name: 'learningRates', data: plan.learningRates, shape: [steps] },
      { name: 'resetMomentum', data: plan.resetMomentum, shape: [steps] },
    ]);
    return {
      losses: reply.tensors.get('losses')!.data as Float32Array,
      correct: Uint32Array.from(reply.tensors.get('correct')!.data),
    };
  }

  async evaluate(
    dataset: Dataset,
    normalization: Normalization,
    batchSize: number,
  ): Promise<Evaluation> {
    const data = await this.engine.dataKey(dataset, normalization);
    const reply = await this.#request('model.evaluate', { data, batchSize });
    const loss = reply.header.loss as number;
    const correct = reply.header.correct as number;
    return { loss: loss / dataset.count, accuracy: correct / dataset.count, count: dataset.count };
  }

  async gradients(request: GradientRequest): Promise<Gradients> {
    const header: Record<string, unknown> = {
      mode: request.mode,
      objective: request.objective,
      normalize: request.normalize ?? false,
      wrt: request.wrt,
      input: request.input.kind,
    };
    const tensors = tensorsOf(request.values ?? new Map(), this.#shapes, 'value:');
    if (request.input.kind === 'samples') {
      const { samples, batchSize } = request.input;
      if (request.objective === 'cross-entropy-mean' && samples.indices.length > batchSize)
        throw new InvalidArgumentError(
          'objective',
          'cross-entropy-sum over more than one batch (a mean is per batch)',
          request.objective,
        );
      header.data = await this.engine.dataKey(samples.dataset, samples.normalization);
      header.batchSize = batchSize;
      tensors.push(...samplesTensors(samples));
    }
    const reply = await this.#request('model.gradients', header, tensors);
    return {
      value: reply.header.value as number,
      gradients: new Map(
        request.wrt.map((name) => [name, reply.tensors.get(name)!.data as Float64Array]),
      ),
    };
  }

  async batchStatistics(samples: Samples): Promise<LayerStatistics[]> {
    const data = await this.engine.dataKey(samples.dataset, samples.normalization);
    const reply = await this.#request('model.batch_statistics', { data }, samplesTensors(samples));
    return (reply.header.layers as { layer: string; count: number }[]).map(({ layer, count }) => ({
      layer,
      mean: reply.tensors.get(`${layer}:mean`)!.data as Float32Array,
      variance: reply.tensors.get(`${layer}:variance`)!.data as Float32Array,
      count,
    }));
  }

  async dispose(): Promise<void> {
    await this.#request('model.free').catch(() => undefined); // a dead process frees everything
  }
}
