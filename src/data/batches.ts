/**
 * Turning uint8 images into normalised float batches without allocating per sample: one
 * preallocated buffer per batch size, a lookup table per channel for `(pixel/255 − mean)/std`,
 * and augmentation (random crop with zero padding, then horizontal flip, as torchvision's
 * `RandomCrop(padding) → RandomHorizontalFlip`) applied while copying. Randomness comes from the
 * streams the caller passes (`dataOrder` for the permutation, `augmentation` per sample, three
 * draws per image in batch order), so a run can be resumed mid-epoch from the streams' states.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import type { RandomStream } from '../core/random.js';
import { imageSize, type ImageDataset } from './dataset.js';

export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Per-channel statistics used by the paper's code (METHODS.md) and the usual MNIST values. */
export const NORMALIZATIONS: Readonly<
  Record<'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100', Normalization>
> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] },
  cifar100: { mean: [0.507, 0.487, 0.441], std: [0.267, 0.256, 0.276] },
};

export interface Augmentation {
  /** Zero padding on each side before a random crop back to size; 0 for none (CIFAR: 4). */
  readonly cropPadding: number;
  readonly horizontalFlip: boolean;
}

export const NO_AUGMENTATION: Augmentation = Object.freeze({
  cropPadding: 0,
  horizontalFlip: false,
});
export const CIFAR_AUGMENTATION: Augmentation = Object.freeze({
  cropPadding: 4,
  horizontalFlip: true,
});

export interface Batch {
  /** batch × h × w × c normalised values; a view into the batcher's buffer, valid until the next fill. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
}

/** Largest data set (as float32 values) a batcher normalises once up front: 256 MiB. */
export const NORMALISED_CACHE_BYTES = 256 * 2 ** 20;

export class Batcher {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly augmentation: Augmentation;
  readonly #table: Float32Array[];
  readonly #images: Float32Array;
  readonly #labels: Int32Array;
  /** Every image normalised once, when it is not augmented and fits the budget (see fill). */
  #normalised: Float32Array | undefined;

  constructor(
    dataset: ImageDataset,
    batchSize: number,
    normalization: Normalization,
    augmentation: Augmentation = NO_AUGMENTATION,
    /** Normalise a fitting, unaugmented data set once (default true); its images must not change. */
    readonly normaliseOnce = true,
  ) {
    requireInteger('batchSize', batchSize, 1);
    requireInteger(
      'augmentation.cropPadding',
      augmentation.cropPadding,
      0,
      Math.min(dataset.shape[0], dataset.shape[1]),
    );
    const channels = dataset.shape[2];
    if (normalization.mean.length !== channels || normalization.std.length !== channels) {
      throw new InvalidArgumentError(
        'normalization',
        `a mean and a std for each of ${channels} channels`,
        normalization,
      );
    }
    normalization.std.forEach((s, c) => {
      if (!(s > 0))
        throw new InvalidArgumentError(`normalization.std[${c}]`, 'a positive number', s);
    });
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.augmentation = augmentation;
    this.#table = normalization.mean.map((mean, c) =>
      Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean) / normalization.std[c]!),
    );
    this.#images = new Float32Array(batchSize * imageSize(dataset));
    this.#labels = new Int32Array(batchSize);
  }

  /**
   * Without augmentation every epoch normalises the same pixels again; a data set whose floats
   * fit {@link NORMALISED_CACHE_BYTES} is normalised once (same table, same values) and batches
   * are copied out of it. For LeNet-300-100 on the native backend this takes data loading from
   * ~12% of a step to a copy.
   */
  #normalisedImages(): Float32Array | undefined {
    if (this.#normalised !== undefined) return this.#normalised;
    if (!this.normaliseOnce) return undefined;
    const pixels = imageSize(this.dataset);
    const values = this.dataset.count * pixels;
    if (values * 4 > NORMALISED_CACHE_BYTES) return undefined;
    const c = this.dataset.shape[2];
    const source = this.dataset.images;
    const normalised = new Float32Array(values);
    for (let ch = 0; ch < c; ch++) {
      const table = this.#table[ch]!;
      for (let i = ch; i < values; i += c) normalised[i] = table[source[i]!]!;
    }
    this.#normalised = normalised;
    return normalised;
  }

  /** Number of batches in an epoch (the last one may be smaller). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.dataset.count / this.batchSize);
  }

  /**
   * Fills the buffer with batch `index` of the epoch whose order is `order` (a permutation of the
   * data set, or undefined for the stored order), augmented from `augmentation` when the batcher
   * augments.
   */
  fill(index: number, order: ArrayLike<number> | undefined, augmentation?: RandomStream): Batch {
    requireInteger('batch', index, 0, this.batchesPerEpoch - 1);
    const augments = this.augmentation.cropPadding > 0 || this.augmentation.horizontalFlip;
    if (augments && augmentation === undefined) {
      throw new InvalidArgumentError(
        'augmentation',
        'a random stream (this batcher augments)',
        undefined,
      );
    }
    const start = index * this.batchSize;
    const size = Math.min(this.batchSize, this.dataset.count - start);
    const [h, w, c] = this.dataset.shape;
    const pixels = imageSize(this.dataset);
    const pad = this.augmentation.cropPadding;
    // Locals, not private fields, in the per-pixel loops: this is a measurable share of a small
    // model's step (LeNet-300-100 on the native backend).
    const images = this.#images;
    const tables = this.#table;
    const normalised = augments ? undefined : this.#normalisedImages();
    for (let n = 0; n < size; n++) {
      const source = order === undefined ? start + n : order[start + n]!;
      this.#labels[n] = this.dataset.labels[source]!;
      const image = this.dataset.images.subarray(source * pixels, (source + 1) * pixels);
      const out = n * pixels;
      if (!augments) {
        if (normalised !== undefined) {
          images.set(normalised.subarray(source * pixels, (source + 1) * pixels), out);
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          const table = tables[ch]!;
          for (let i = ch; i < pixels; i += c) images[out + i] = table[image[i]!]!;
        }
        continue;
      }
      const dy = pad > 0 ? augmentation!.int(0, 2 * pad) - pad : 0;
      const dx = pad > 0 ? augmentation!.int(0, 2 * pad) - pad : 0;
      const flip = this.augmentation.horizontalFlip && augmentation!.float() < 0.5;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        for (let x = 0; x < w; x++) {
          const sx = (flip ? w - 1 - x : x) + dx;
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          const target = out + (y * w + x) * c;
          for (let ch = 0; ch < c; ch++) {
            this.#images[target + ch] =
              this.#table[ch]![inside ? image[(sy * w + sx) * c + ch]! : 0]!;
          }
        }
      }
    }
    return {
      images: this.#images.subarray(0, size * pixels),
      labels: this.#labels.subarray(0, size),
      size,
    };
  }
}
