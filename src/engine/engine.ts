/**
 * The compute engine: everything above this layer (trainer, pipelines, scorers that need
 * gradients, analyses, checkpoints, the store) talks to an {@link Engine} and its
 * {@link EngineModel}s, never to TF.js or PyTorch directly. Every method that returns data is
 * asynchronous, so an engine may live on a GPU or in another process.
 *
 * What an engine does NOT decide: initial weights, masks, data order, augmentation choices,
 * learning rates and momentum resets all arrive as plain data from the TypeScript side, so one
 * seed determines a run on any engine. An engine computes: forward and backward passes, the
 * masked SGD update (gradient × mask before weight decay and momentum, PyTorch's SGD semantics),
 * BatchNorm with PyTorch's running statistics, and reads and writes of its state.
 *
 * Tensors cross this interface in the TypeScript layouts of `models/spec.ts` (`hwio` conv
 * kernels, `io` dense weights, NHWC images), whatever the engine keeps internally.
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { Mask } from '../core/mask.js';
import type { Normalization } from '../data/batches.js';
import type { Dataset, ImageDataset } from '../data/dataset.js';
import type { ModelSpec } from '../models/spec.js';

/** TF.js backends: one engine, several backends (engine/backend.ts). */
export const TFJS_BACKENDS = ['wasm', 'native', 'cpu', 'tensorflow', 'webgpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];
/** Every value of `training.backend`: the TF.js backends and the PyTorch engine. */
export const BACKENDS = [...TFJS_BACKENDS, 'torch'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Devices the PyTorch engine accepts (`cuda:N` picks a GPU). */
export const TORCH_DEVICE_PATTERN = /^(cpu|cuda|cuda:\d+|mps)$/;
/** Arithmetic of the PyTorch engine: fp32 (TF32 off) by default. */
export const PRECISIONS = ['fp32', 'tf32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** What every stored result records about the engine that produced it. */
export interface BackendInfo {
  readonly name: BackendName;
  /** The TF.js version (TF.js backends); null on the PyTorch engine. */
  readonly tfjsVersion: string | null;
  /** Threads one kernel may use (wasm in Node: always 1). */
  readonly threads: number;
  readonly simd: boolean | null;
  /** The package that provided an optional backend, with its version. */
  readonly provider: string | null;
  /** PyTorch engine only: the device and the versions that computed on it. */
  readonly torch?: TorchInfo;
}

export interface TorchInfo {
  /** As configured: cpu, cuda, cuda:1, mps. */
  readonly device: string;
  /** The device's own name (GPU model or CPU). */
  readonly deviceName: string;
  readonly precision: Precision;
  readonly torchVersion: string;
  /** CUDA runtime torch was built with, when the device is a GPU. */
  readonly cudaVersion: string | null;
  readonly cudnnVersion: number | null;
  readonly python: string;
  /** Whether cuDNN was asked for deterministic algorithms (always, on CUDA). */
  readonly deterministic: boolean;
}

export class BackendUnavailableError extends Error {
  readonly backend: BackendName;
  constructor(backend: BackendName, message: string) {
    super(`backend ${backend}: ${message}`);
    this.name = 'BackendUnavailableError';
    this.backend = backend;
  }
}

export interface SgdOptions {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
}

export const DEFAULT_SGD: SgdOptions = Object.freeze({
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
});

/**
 * Augmentation choices per image in `Samples.augmentation` and `TrainPlan.augmentation`: three
 * for pixels in memory (crop offsets dy, dx and a flip: data/batches.ts `drawAugmentation`),
 * five for image files (the crop box top, left, height, width in the stored image, and a flip).
 */
export const AUGMENTATION_STRIDE = { pixels: 3, files: 5 } as const;

export function augmentationStride(dataset: Dataset): number {
  return dataset.kind === 'files' ? AUGMENTATION_STRIDE.files : AUGMENTATION_STRIDE.pixels;
}

/**
 * `dataset` as pixels in memory, for an engine path that has no file reader (yet): image files
 * are refused naming the data set, rather than read as something else.
 */
export function requirePixels(dataset: Dataset, where: string): ImageDataset {
  if (dataset.kind === 'files')
    throw new InvalidArgumentError(
      `${where}: data set ${dataset.name}`,
      'images in memory (this path cannot read image files)',
      'image files',
    );
  return dataset;
}

/** Images of a data set, in a given order, with their augmentation (or none). */
export interface Samples {
  readonly dataset: Dataset;
  readonly normalization: Normalization;
  /** Image indices into `dataset`, in order. */
  readonly indices: Uint32Array;
  /**
   * {@link augmentationStride} choices per image from `drawAugmentation`, or null for none (for
   * image files: the evaluation transform).
   */
  readonly augmentation: Int16Array | null;
}

/**
 * Consecutive training steps, planned on the TypeScript side: step k trains on the images
 * `indices[offsets[k] .. offsets[k + 1])` at `learningRates[k]`, zeroing the momentum first when
 * `resetMomentum[k]` is 1.
 */
export interface TrainPlan {
  readonly dataset: Dataset;
  readonly normalization: Normalization;
  /** The global index of the first step (for messages). */
  readonly firstStep: number;
  readonly indices: Uint32Array;
  /** steps + 1 offsets into `indices` (and into `augmentation`, × {@link augmentationStride}). */
  readonly offsets: Uint32Array;
  readonly augmentation: Int16Array | null;
  readonly learningRates: Float64Array;
  readonly resetMomentum: Uint8Array;
}

/** Per step of a plan: the mean loss of its batch (as computed, float32) and the correct count. */
export interface TrainedSteps {
  readonly losses: Float32Array;
  readonly correct: Uint32Array;
}

export interface Evaluation {
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
}

export type GradientInput =
  /** Images of a data set, in batches of `batchSize` whose values and gradients are summed. */
  | { readonly kind: 'samples'; readonly samples: Samples; readonly batchSize: number }
  /** One all-ones input image (SynFlow), not normalised. */
  | { readonly kind: 'ones' };

export interface GradientRequest {
  readonly input: GradientInput;
  /** Training mode (batch statistics, running ones untouched) or evaluation mode. */
  readonly mode: 'train' | 'eval';
  /**
   * `cross-entropy-mean` (one batch only), `cross-entropy-sum`, or `logit-sum` (Σ of every
   * output: SynFlow's R).
   */
  readonly objective: 'cross-entropy-mean' | 'cross-entropy-sum' | 'logit-sum';
  /**
   * Divide the activation after every top-level node of the model by its mean, held constant
   * for the gradient. Every input-output path passes each such point once (a residual block is
   * one node), so the objective and every weight × gradient are multiplied by one common factor:
   * what keeps SynFlow's R of a positive network finite in float32 without changing its ranking.
   */
  readonly normalize?: boolean;
  /** Stand-ins for parameters or buffers by name, for this request only. */
  readonly values?: ReadonlyMap<string, Float32Array>;
  /** Parameters to differentiate with respect to. */
  readonly wrt: readonly string[];
}

export interface Gradients {
  /** The objective, summed over batches (each batch's value as computed, in float32). */
  readonly value: number;
  /** ∂objective/∂parameter, summed over batches in float64. */
  readonly gradients: Map<string, Float64Array>;
}

/** Batch statistics of one BatchNorm layer from a training-mode forward pass. */
export interface LayerStatistics {
  readonly layer: string;
  readonly mean: Float32Array;
  /** Biased (divided by N), as used to normalise. */
  readonly variance: Float32Array;
  readonly count: number;
}

/** A network on an engine with its optimizer state (momentum) and its mask. */
export interface EngineModel {
  readonly engine: Engine;
  readonly spec: ModelSpec;
  readonly sgd: SgdOptions;
  /** The mask in force (null: dense). */
  readonly mask: Mask | null;
  /** Parameters then BatchNorm buffers, by name, in spec order. */
  read(): Promise<Map<string, Float32Array>>;
  /** Overwrites every parameter and buffer; each must be given, with its size. */
  write(values: ReadonlyMap<string, Float32Array>): Promise<void>;
  /** Momentum buffers by parameter name (zeros where none was built yet). */
  readMomentum(): Promise<Map<string, Float32Array>>;
  writeMomentum(values: ReadonlyMap<string, Float32Array>): Promise<void>;
  /** Enforces `mask` from now on; pruned weights and their momentum are set to 0 now. */
  setMask(mask: Mask | null): Promise<void>;
  /** Zeroes every momentum buffer: a fresh optimizer. */
  resetMomentum(): Promise<void>;
  /** Runs every step of `plan` (even after a non-finite loss: the caller stops there). */
  train(plan: TrainPlan): Promise<TrainedSteps>;
  /** Mean loss and top-1 accuracy in eval mode over a whole data set, in batches. */
  evaluate(dataset: Dataset, normalization: Normalization, batchSize: number): Promise<Evaluation>;
  gradients(request: GradientRequest): Promise<Gradients>;
  /** Batch statistics of every BatchNorm layer on `samples` (one batch; training mode). */
  batchStatistics(samples: Samples): Promise<LayerStatistics[]>;
  dispose(): Promise<void>;
}

export interface Engine {
  readonly info: BackendInfo;
  /** A network of `spec` with these parameters and buffers (all of them), and fresh momentum. */
  model(
    spec: ModelSpec,
    values: ReadonlyMap<string, Float32Array>,
    sgd?: SgdOptions,
  ): Promise<EngineModel>;
}

/** Every parameter and buffer of `spec` must be in `values`, with its size. */
export function requireValues(
  names: readonly { readonly name: string; readonly shape: readonly number[] }[],
  values: ReadonlyMap<string, Float32Array>,
  path = 'values',
): void {
  for (const { name, shape } of names) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = values.get(name);
    if (data === undefined || data.length !== size) {
      throw new InvalidArgumentError(`${path}.${name}`, `${size} values`, data?.length);
    }
  }
}
