/**
 * What each data set is, without its files: image shape, classes and the images per class of
 * each split, as published (MNIST's classes are uneven; the others are balanced). A dry run sizes
 * a run from these, so it works before the data is downloaded; the loaders read the same counts
 * from the files (data/sizes.test.ts checks these against the files that are present).
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

/**
 * Images in a split, or in its subset of `perClass` images per class (as `subsetPerClass` draws
 * it); a subset larger than a class is refused naming `field`, as loading would refuse it.
 */
export function splitSize(
  dataset: DatasetName,
  split: Split,
  perClass: number | undefined,
  field = split === 'train' ? 'data.trainPerClass' : 'data.testPerClass',
): number {
  const counts = DATASET_SIZES[dataset].perClass[split];
  if (perClass === undefined) return counts.reduce((a, b) => a + b, 0);
  const fewest = Math.min(...counts);
  if (perClass > fewest)
    throw new InvalidArgumentError(
      field,
      `at most ${fewest} (images of the smallest class in ${dataset}/${split})`,
      perClass,
    );
  return perClass * counts.length;
}
