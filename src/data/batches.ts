/**
 * Turning uint8 images into normalised float batches without allocating per sample: one buffer
 * reused for every batch, a lookup table per channel for `(pixel/255 − mean)/std`, and
 * augmentation (random crop with zero padding, then horizontal flip, as torchvision's
 * `RandomCrop(padding) → RandomHorizontalFlip`) applied while copying. The augmentation of each
 * image is drawn first, as plain data ({@link drawAugmentation}: three draws per image in batch
 * order from the caller's stream), so any engine — this batcher on TF.js, the PyTorch worker on
 * its device — applies the same choices, and a run resumes mid-epoch from the streams' states.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import type { RandomStream } from '../core/random.js';
import { imageSize, type Dataset, type ImageDataset } from './dataset.js';
import { drawResizedCrop } from './image-transforms.js';

export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Per-channel statistics used by the paper's code (METHODS.md) and the usual MNIST values. */
export const NORMALIZATIONS: Readonly<
  Record<'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'imagenet', Normalization>
> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] },
  cifar100: { mean: [0.507, 0.487, 0.441], std: [0.267, 0.256, 0.276] },
  /** torchvision's ImageNet statistics, also used for any folder data set. */
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

/** torchvision's `RandomCrop(padding) → RandomHorizontalFlip` of pixels in memory. */
export interface PadCropAugmentation {
  /** Absent in older code: every augmentation without `kind` is this one. */
  readonly kind?: 'pad-crop';
  /** Zero padding on each side before a random crop back to size; 0 for none (CIFAR: 4). */
  readonly cropPadding: number;
  readonly horizontalFlip: boolean;
}

/**
 * torchvision's `RandomResizedCrop(size, scale, ratio) → RandomHorizontalFlip` of image files
 * (data/image-transforms.ts `drawResizedCrop`): a box of the stored image, resized to the data
 * set's shape with Pillow's BILINEAR, then mirrored with probability 0.5.
 */
export interface ResizedCropAugmentation {
  readonly kind: 'random-resized-crop';
  /** Range of the box's area as a fraction of the image's. */
  readonly scale: readonly [number, number];
  /** Range of the box's aspect ratio (width / height), drawn log-uniformly. */
  readonly ratio: readonly [number, number];
  readonly horizontalFlip: boolean;
}

export type Augmentation = PadCropAugmentation | ResizedCropAugmentation;

export const NO_AUGMENTATION: PadCropAugmentation = Object.freeze({
  cropPadding: 0,
  horizontalFlip: false,
});
export const CIFAR_AUGMENTATION: PadCropAugmentation = Object.freeze({
  cropPadding: 4,
  horizontalFlip: true,
});
/** The ImageNet training augmentation: torchvision's RandomResizedCrop defaults and a flip. */
export const RESIZED_CROP_AUGMENTATION: ResizedCropAugmentation = Object.freeze({
  kind: 'random-resized-crop',
  scale: Object.freeze([0.08, 1]) as unknown as readonly [number, number],
  ratio: Object.freeze([3 / 4, 4 / 3]) as unknown as readonly [number, number],
  horizontalFlip: true,
});

export interface Batch {
  /** size × h × w × c normalised values; a view into the batcher's buffer, valid until the next fill. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
}

/** Number of batches of `batchSize` in an epoch of `count` images (the last may be smaller). */
export function batchesPerEpoch(count: number, batchSize: number): number {
  requireInteger('batchSize', batchSize, 1);
  return Math.ceil(count / batchSize);
}

/** Whether `augmentation` changes images at all (and so draws from its stream). */
export function augments(augmentation: Augmentation): boolean {
  if (augmentation.kind === 'random-resized-crop') return true;
  return augmentation.cropPadding > 0 || augmentation.horizontalFlip;
}

/** What a data set's kind is checked against (pixels in memory or image files). */
type AugmentedData = {
  readonly shape: readonly [number, number, number];
  readonly kind?: Dataset['kind'];
};

/**
 * Checks `augmentation` against the data it augments and returns its crop padding (0 for a
 * resized crop): pad-crop augments pixels in memory, a resized crop augments image files (a
 * file data set without augmentation gets the evaluation transform).
 */
export function checkAugmentation(augmentation: Augmentation, dataset: AugmentedData): number {
  const files = dataset.kind === 'files';
  if (augmentation.kind === 'random-resized-crop') {
    if (!files)
      throw new InvalidArgumentError(
        'augmentation.kind',
        'pad-crop for images in memory (random-resized-crop needs image files)',
        augmentation.kind,
      );
    const [s0, s1] = augmentation.scale;
    const [r0, r1] = augmentation.ratio;
    if (!(s0 > 0 && s0 <= s1 && s1 <= 1))
      throw new InvalidArgumentError(
        'augmentation.scale',
        '[min, max] with 0 < min ≤ max ≤ 1',
        augmentation.scale,
      );
    if (!(r0 > 0 && r0 <= r1 && Number.isFinite(r1)))
      throw new InvalidArgumentError(
        'augmentation.ratio',
        '[min, max] with 0 < min ≤ max',
        augmentation.ratio,
      );
    return 0;
  }
  if (files && augments(augmentation))
    throw new InvalidArgumentError(
      'augmentation',
      'random-resized-crop (or none) for image files: pad-crop is for images in memory',
      augmentation,
    );
  return requireInteger(
    'augmentation.cropPadding',
    augmentation.cropPadding,
    0,
    Math.min(dataset.shape[0], dataset.shape[1]),
  );
}

/**
 * The augmentation of the images at `indices` of `dataset`, drawn from `stream`, in batch order.
 * Pixels in memory: per image the crop offsets dy and dx in [−padding, padding] and a flip flag
 * (1 or 0), three draws per image in this order. Image files: per image the box [top, left,
 * height, width] in the stored image (its size from `dataset.sizes`, drawn as torchvision's
 * RandomResizedCrop) and a flip flag, five values per image. Null when `augmentation` does
 * nothing (and then nothing is drawn). Every engine applies these choices the same way (see
 * {@link Batcher.fill} and data/file-batcher.ts), so they are the one source of a run's
 * augmentation.
 */
export function drawAugmentation(
  augmentation: Augmentation,
  dataset: AugmentedData & { readonly sizes?: Uint32Array },
  indices: ArrayLike<number>,
  stream: RandomStream | undefined,
): Int16Array | null {
  const pad = checkAugmentation(augmentation, dataset);
  if (!augments(augmentation)) return null;
  if (stream === undefined) {
    throw new InvalidArgumentError(
      'augmentation',
      'a random stream (this data is augmented)',
      undefined,
    );
  }
  const count = indices.length;
  if (augmentation.kind === 'random-resized-crop') {
    const sizes = dataset.sizes!;
    const choices = new Int16Array(5 * count);
    for (let n = 0; n < count; n++) {
      const index = indices[n]!;
      const box = drawResizedCrop(sizes[2 * index]!, sizes[2 * index + 1]!, augmentation, stream);
      choices[5 * n] = box.top;
      choices[5 * n + 1] = box.left;
      choices[5 * n + 2] = box.height;
      choices[5 * n + 3] = box.width;
      choices[5 * n + 4] = augmentation.horizontalFlip && stream.float() < 0.5 ? 1 : 0;
    }
    return choices;
  }
  const choices = new Int16Array(3 * count);
  for (let n = 0; n < count; n++) {
    choices[3 * n] = pad > 0 ? stream.int(0, 2 * pad) - pad : 0;
    choices[3 * n + 1] = pad > 0 ? stream.int(0, 2 * pad) - pad : 0;
    choices[3 * n + 2] = augmentation.horizontalFlip && stream.float() < 0.5 ? 1 : 0;
  }
  return choices;
}

/** Largest data set (as float32 values) a batcher normalises once up front: 256 MiB. */
export const NORMALISED_CACHE_BYTES = 256 * 2 ** 20;

/** The per-channel lookup tables of `(pixel/255 − mean)/std`, 256 float32 values per channel. */
export function normalizationTables(
  normalization: Normalization,
  channels: number,
): Float32Array[] {
  if (normalization.mean.length !== channels || normalization.std.length !== channels) {
    throw new InvalidArgumentError(
      'normalization',
      `a mean and a std for each of ${channels} channels`,
      normalization,
    );
  }
  normalization.std.forEach((s, c) => {
    if (!(s > 0)) throw new InvalidArgumentError(`normalization.std[${c}]`, 'a positive number', s);
  });
  return normalization.mean.map((mean, c) =>
    Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean) / normalization.std[c]!),
  );
}

export class Batcher {
  readonly dataset: ImageDataset;
  readonly normalization: Normalization;
  readonly #table: Float32Array[];
  #images: Float32Array;
  #labels: Int32Array;
  /** Every image normalised once, when it fits the budget (see fill). */
  #normalised: Float32Array | undefined;

  constructor(
    dataset: ImageDataset,
    normalization: Normalization,
    /** Normalise a fitting data set once (default true); its images must not change. */
    readonly normaliseOnce = true,
  ) {
    this.dataset = dataset;
    this.normalization = normalization;
    this.#table = normalizationTables(normalization, dataset.shape[2]);
    this.#images = new Float32Array(0);
    this.#labels = new Int32Array(0);
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

  /**
   * Fills the buffer with the images at `indices` (in that order), normalised, and augmented by
   * `augmentation` ({@link drawAugmentation}: per image a crop offset (dy, dx) into the image
   * zero-padded on every side, then a horizontal flip) when it is given. Output pixel (y, x)
   * reads source pixel (y + dy, (flip ? w − 1 − x : x) + dx), and 0 outside the image, as
   * torchvision's `RandomCrop(padding) → RandomHorizontalFlip`.
   */
  fill(indices: ArrayLike<number>, augmentation: Int16Array | null = null): Batch {
    const size = indices.length;
    if (augmentation !== null && augmentation.length !== 3 * size) {
      throw new InvalidArgumentError(
        'augmentation',
        `${3 * size} choices (three per image)`,
        augmentation.length,
      );
    }
    const [h, w, c] = this.dataset.shape;
    const pixels = imageSize(this.dataset);
    if (this.#labels.length < size) {
      this.#images = new Float32Array(size * pixels);
      this.#labels = new Int32Array(size);
    }
    // Locals, not private fields, in the per-pixel loops: this is a measurable share of a small
    // model's step (LeNet-300-100 on the native backend).
    const images = this.#images;
    const tables = this.#table;
    const normalised = augmentation === null ? this.#normalisedImages() : undefined;
    for (let n = 0; n < size; n++) {
      const source = indices[n]!;
      if (!(source >= 0 && source < this.dataset.count && Number.isInteger(source)))
        throw new InvalidArgumentError(
          `indices[${n}]`,
          `an image of ${this.dataset.name} (0 to ${this.dataset.count - 1})`,
          source,
        );
      this.#labels[n] = this.dataset.labels[source]!;
      const image = this.dataset.images.subarray(source * pixels, (source + 1) * pixels);
      const out = n * pixels;
      if (augmentation === null) {
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
      const dy = augmentation[3 * n]!;
      const dx = augmentation[3 * n + 1]!;
      const flip = augmentation[3 * n + 2] === 1;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        for (let x = 0; x < w; x++) {
          const sx = (flip ? w - 1 - x : x) + dx;
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          const target = out + (y * w + x) * c;
          for (let ch = 0; ch < c; ch++) {
            images[target + ch] = tables[ch]![inside ? image[(sy * w + sx) * c + ch]! : 0]!;
          }
        }
      }
    }
    return {
      images: images.subarray(0, size * pixels),
      labels: this.#labels.subarray(0, size),
      size,
    };
  }
}

/** The indices of batch `index` of an epoch in `order` (or the stored order when undefined). */
export function batchIndices(
  count: number,
  batchSize: number,
  index: number,
  order?: Uint32Array,
): Uint32Array {
  requireInteger('batch', index, 0, batchesPerEpoch(count, batchSize) - 1);
  const start = index * batchSize;
  const end = Math.min(count, start + batchSize);
  if (order !== undefined) return order.subarray(start, end);
  return Uint32Array.from({ length: end - start }, (_, i) => start + i);
}
