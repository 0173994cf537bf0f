/**
 * An image classification data set in memory: uint8 pixels in HWC order, one byte label per
 * image. Everything derived from it (subsets, validation splits, label noise) is a new data set
 * that shares no mutable state with its source, and records how it was derived.
 */

import { InvalidArgumentError, requireInteger, requireNumber } from '../core/errors.js';
import type { RandomStream } from '../core/random.js';
import { prunedCount } from '../core/selection.js';

export interface ImageDataset {
  /** Pixels in memory (absent in older code: every data set without `kind` is one). */
  readonly kind?: 'pixels';
  readonly name: string;
  /** [height, width, channels] of every image. */
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  /** count × height × width × channels bytes, image after image, HWC. */
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  /** Where the data came from and what was done to it, for stored results. */
  readonly provenance: readonly string[];
}

/**
 * Images kept as files (a folder data set: ImageNet's `train/<class>/*.JPEG` layout or a file
 * list), decoded and transformed per batch by the engine — never held in memory as pixels.
 * `shape` is what the network sees after the transform: the evaluation transform resizes the
 * shorter side to `resize` and crops the centre `shape[0]` × `shape[1]`; a training
 * augmentation crops a box drawn on the TypeScript side (data/batches.ts) and resizes it to
 * `shape`. Labels are 16-bit: ImageNet has 1,000 classes.
 */
export interface FileDataset {
  readonly kind: 'files';
  readonly name: string;
  /** [height, width, channels] of every transformed image (channels 3: RGB). */
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  /** The class of each label, as the folder (or file list) names it; sorted. */
  readonly classNames: readonly string[];
  /** Absolute directory the file paths are relative to. */
  readonly root: string;
  /** Each image's path relative to `root`, with '/' separators. */
  readonly files: readonly string[];
  /** Width then height of each stored image as decoded (no EXIF rotation): two per image. */
  readonly sizes: Uint32Array;
  /** The evaluation transform's shorter side before the centre crop (224 → 256). */
  readonly resize: number;
  readonly labels: Uint16Array;
  readonly count: number;
  readonly provenance: readonly string[];
}

/** Any data set an engine trains on: pixels in memory or image files. */
export type Dataset = ImageDataset | FileDataset;

export function isFileDataset(dataset: Dataset): dataset is FileDataset {
  return dataset.kind === 'files';
}

export function imageSize(dataset: Pick<ImageDataset, 'shape'>): number {
  return dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
}

/** Checks sizes and labels; every loader returns through it. */
export function makeDataset(dataset: ImageDataset): ImageDataset {
  if (dataset.images.length !== dataset.count * imageSize(dataset)) {
    throw new InvalidArgumentError(
      `${dataset.name}.images`,
      `${dataset.count * imageSize(dataset)} bytes`,
      dataset.images.length,
    );
  }
  if (dataset.labels.length !== dataset.count) {
    throw new InvalidArgumentError(
      `${dataset.name}.labels`,
      `${dataset.count} labels`,
      dataset.labels.length,
    );
  }
  const bad = dataset.labels.findIndex((label) => label >= dataset.classes);
  if (bad >= 0) {
    throw new InvalidArgumentError(
      `${dataset.name}.labels[${bad}]`,
      `a class in [0, ${dataset.classes - 1}]`,
      dataset.labels[bad],
    );
  }
  return dataset;
}

/** Checks a file data set's per-image arrays and labels; the folder loader returns through it. */
export function makeFileDataset(dataset: FileDataset): FileDataset {
  const expect = (field: string, wanted: number, actual: number): void => {
    if (wanted !== actual)
      throw new InvalidArgumentError(`${dataset.name}.${field}`, `${wanted} entries`, actual);
  };
  expect('files', dataset.count, dataset.files.length);
  expect('sizes', 2 * dataset.count, dataset.sizes.length);
  expect('labels', dataset.count, dataset.labels.length);
  expect('classNames', dataset.classes, dataset.classNames.length);
  const bad = dataset.labels.findIndex((label) => label >= dataset.classes);
  if (bad >= 0) {
    throw new InvalidArgumentError(
      `${dataset.name}.labels[${bad}]`,
      `a class in [0, ${dataset.classes - 1}]`,
      dataset.labels[bad],
    );
  }
  return dataset;
}

/** The images at `indices`, in that order (for files: their paths, sizes and labels). */
export function select(
  dataset: ImageDataset,
  indices: ArrayLike<number>,
  note: string,
): ImageDataset;
export function select(dataset: FileDataset, indices: ArrayLike<number>, note: string): FileDataset;
export function select(dataset: Dataset, indices: ArrayLike<number>, note: string): Dataset;
export function select(dataset: Dataset, indices: ArrayLike<number>, note: string): Dataset {
  if (isFileDataset(dataset)) {
    const files: string[] = [];
    const sizes = new Uint32Array(2 * indices.length);
    const labels = new Uint16Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const from = indices[i]!;
      files.push(dataset.files[from]!);
      sizes[2 * i] = dataset.sizes[2 * from]!;
      sizes[2 * i + 1] = dataset.sizes[2 * from + 1]!;
      labels[i] = dataset.labels[from]!;
    }
    return makeFileDataset({
      ...dataset,
      files,
      sizes,
      labels,
      count: indices.length,
      provenance: [...dataset.provenance, note],
    });
  }
  const size = imageSize(dataset);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    images.set(dataset.images.subarray(from * size, (from + 1) * size), i * size);
    labels[i] = dataset.labels[from]!;
  }
  return makeDataset({
    ...dataset,
    images,
    labels,
    count: indices.length,
    provenance: [...dataset.provenance, note],
  });
}

export function classCounts(dataset: Pick<Dataset, 'labels' | 'classes'>): number[] {
  const counts = new Array<number>(dataset.classes).fill(0);
  for (const label of dataset.labels) counts[label]!++;
  return counts;
}

/**
 * The first `perClass` images of each class in a seeded random order (the `subset` stream of
 * the experiment), kept in their original relative order. Fails if a class has fewer.
 */
export function subsetPerClass<D extends Dataset>(
  dataset: D,
  perClass: number,
  stream: RandomStream,
): D {
  requireInteger('perClass', perClass, 1);
  const available = classCounts(dataset);
  const short = available.findIndex((n) => n < perClass);
  if (short >= 0) {
    throw new InvalidArgumentError(
      'perClass',
      `at most ${available[short]} (images of class ${short} in ${dataset.name})`,
      perClass,
    );
  }
  const taken = new Array<number>(dataset.classes).fill(0);
  const chosen: number[] = [];
  for (const index of stream.permutation(dataset.count)) {
    const label = dataset.labels[index]!;
    if (taken[label]! < perClass) {
      taken[label]!++;
      chosen.push(index);
    }
  }
  chosen.sort((a, b) => a - b);
  return select(dataset, chosen, `subset: ${perClass} per class`) as D;
}

/**
 * Splits off a held-out validation set of `size` images (seeded, class-stratified: each class
 * gives its share, rounded by the counting rule, remainders to the lowest classes).
 */
export function splitValidation<D extends Dataset>(
  dataset: D,
  size: number,
  stream: RandomStream,
): { train: D; validation: D } {
  requireInteger('validationSize', size, 1, dataset.count - 1);
  const byClass = Array.from({ length: dataset.classes }, () => [] as number[]);
  for (const index of stream.permutation(dataset.count))
    byClass[dataset.labels[index]!]!.push(index);
  const shares = byClass.map((members) => Math.floor((members.length * size) / dataset.count));
  let left = size - shares.reduce((a, b) => a + b, 0);
  for (let c = 0; left > 0; c = (c + 1) % dataset.classes) {
    if (shares[c]! < byClass[c]!.length) {
      shares[c]!++;
      left--;
    }
  }
  const held = new Set(byClass.flatMap((members, c) => members.slice(0, shares[c])));
  const validation: number[] = [];
  const train: number[] = [];
  for (let i = 0; i < dataset.count; i++) (held.has(i) ? validation : train).push(i);
  return {
    train: select(dataset, train, `train part of a ${size}-image validation split`) as D,
    validation: select(dataset, validation, `validation split of ${size} images`) as D,
  };
}

/**
 * Flips exactly `prunedCount(fraction, N)` labels, chosen at random, each to a uniformly random
 * *other* class (the paper's label-noise experiment).
 */
export function withLabelNoise<D extends Dataset>(
  dataset: D,
  fraction: number,
  stream: RandomStream,
): D {
  requireNumber('labelNoise', fraction, { min: 0, max: 1, openMax: true });
  const flips = prunedCount(fraction, dataset.count);
  // A copy of the same type (`slice` would share a Buffer's memory: loaders may hand Buffers).
  const labels = isFileDataset(dataset)
    ? Uint16Array.from(dataset.labels)
    : Uint8Array.from(dataset.labels);
  const order = stream.permutation(dataset.count);
  for (let i = 0; i < flips; i++) {
    const index = order[i]!;
    const shift = stream.int(1, dataset.classes - 1);
    labels[index] = (labels[index]! + shift) % dataset.classes;
  }
  const provenance = [
    ...dataset.provenance,
    `label noise: ${flips} of ${dataset.count} labels flipped`,
  ];
  const noisy: Dataset = isFileDataset(dataset)
    ? makeFileDataset({ ...dataset, labels: labels as Uint16Array, provenance })
    : makeDataset({ ...dataset, labels: labels as Uint8Array, provenance });
  return noisy as D;
}

/**
 * Random images with labels that depend on them (the class is the brightest of `classes` image
 * regions, so a network can learn it): a stand-in for tests and smoke runs, never for results.
 */
export function syntheticDataset(options: {
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  readonly count: number;
  readonly stream: RandomStream;
}): ImageDataset {
  const { shape, classes, count, stream } = options;
  requireInteger('classes', classes, 2, 255);
  requireInteger('count', count, 1);
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = stream.int(0, classes - 1);
    labels[n] = label;
    for (let i = 0; i < size; i++) {
      const region = Math.floor((i * classes) / size);
      images[n * size + i] = stream.int(0, 150) + (region === label ? 100 : 0);
    }
  }
  return makeDataset({
    name: 'synthetic',
    shape: [shape[0], shape[1], shape[2]],
    classes,
    images,
    labels,
    count,
    provenance: ['synthetic'],
  });
}
