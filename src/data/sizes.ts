/**
 * What each data set is, without its files: image shape, classes and the images per class of
 * each split, as published (MNIST's classes are uneven; the others are balanced). A dry run sizes
 * a run from these, so it works before the data is downloaded; the loaders read the same counts
 * from the files (data/sizes.test.ts checks these against the files that are present).
 *
 * ImageNet (ILSVRC-2012) is known by its totals only: 1,281,167 training images in 1,000
 * classes of 732 to 1,300 images, 50 validation images per class. A folder data set has no
 * published size: its counts come from listing it ({@link SplitCounts} from data/folder.ts).
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { Split } from './mnist.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100';

export interface DatasetSize {
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  /** Images of each class, by label. */
  readonly perClass: Readonly<Record<Split, readonly number[]>>;
}

const balanced = (classes: number, count: number) => new Array<number>(classes).fill(count);

export const DATASET_SIZES: Readonly<Record<DatasetName, DatasetSize>> = {
  mnist: {
    shape: [28, 28, 1],
    classes: 10,
    perClass: {
      train: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
      test: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    },
  },
  'fashion-mnist': {
    shape: [28, 28, 1],
    classes: 10,
    perClass: { train: balanced(10, 6000), test: balanced(10, 1000) },
  },
  cifar10: {
    shape: [32, 32, 3],
    classes: 10,
    perClass: { train: balanced(10, 5000), test: balanced(10, 1000) },
  },
  cifar100: {
    shape: [32, 32, 3],
    classes: 100,
    perClass: { train: balanced(100, 500), test: balanced(100, 100) },
  },
};

/** What sizing a split needs: its images, its classes and the images of its smallest class. */
export interface SplitCounts {
  readonly images: number;
  readonly classes: number;
  readonly smallestClass: number;
}

/** ILSVRC-2012 as published (the crop size is the configuration's, not the data set's). */
export const IMAGENET_COUNTS: Readonly<Record<Split, SplitCounts>> = {
  train: { images: 1_281_167, classes: 1000, smallestClass: 732 },
  test: { images: 50_000, classes: 1000, smallestClass: 50 },
};

/** The counts of a split of a data set with published sizes. */
export function publishedCounts(dataset: DatasetName | 'imagenet', split: Split): SplitCounts {
  if (dataset === 'imagenet') return IMAGENET_COUNTS[split];
  const counts = DATASET_SIZES[dataset].perClass[split];
  return {
    images: counts.reduce((a, b) => a + b, 0),
    classes: counts.length,
    smallestClass: Math.min(...counts),
  };
}

/**
 * Images in a split, or in its subset of `perClass` images per class (as `subsetPerClass` draws
 * it); a subset larger than a class is refused naming `field`, as loading would refuse it. The
 * split is a data set with published sizes, or the counts of one (a listed folder) and its name.
 */
export function splitSize(
  dataset: DatasetName | 'imagenet' | { readonly name: string; readonly counts: SplitCounts },
  split: Split,
  perClass: number | undefined,
  field = split === 'train' ? 'data.trainPerClass' : 'data.testPerClass',
): number {
  const { name, counts } =
    typeof dataset === 'string'
      ? { name: dataset, counts: publishedCounts(dataset, split) }
      : dataset;
  if (perClass === undefined) return counts.images;
  if (perClass > counts.smallestClass)
    throw new InvalidArgumentError(
      field,
      `at most ${counts.smallestClass} (images of the smallest class in ${name}/${split})`,
      perClass,
    );
  return perClass * counts.classes;
}
