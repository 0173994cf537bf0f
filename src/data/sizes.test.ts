import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { classCounts } from './dataset.js';
import { FASHION_MNIST_DIR, loadFashionMnist, loadMnist } from './mnist.js';
import { DATASET_SIZES, publishedCounts, splitSize } from './sizes.js';

describe('published data set sizes', () => {
  // The oracle is the files themselves, where they are on this machine.
  test('MNIST: shape, classes and images per class as its files have them', () => {
    for (const split of ['train', 'test'] as const) {
      const loaded = loadMnist(split);
      expect(DATASET_SIZES.mnist.perClass[split]).toEqual(classCounts(loaded));
      expect(DATASET_SIZES.mnist.shape).toEqual(loaded.shape);
      expect(DATASET_SIZES.mnist.classes).toBe(loaded.classes);
    }
  });
  test.skipIf(!existsSync(FASHION_MNIST_DIR))('Fashion-MNIST as its files have it', () => {
    for (const split of ['train', 'test'] as const) {
      const loaded = loadFashionMnist(split);
      expect(DATASET_SIZES['fashion-mnist'].perClass[split]).toEqual(classCounts(loaded));
      expect(DATASET_SIZES['fashion-mnist'].shape).toEqual(loaded.shape);
    }
  });
  test('split sizes: whole splits, per-class subsets, and a subset larger than a class refused naming the field', () => {
    expect(splitSize('mnist', 'train', undefined)).toBe(60000);
    expect(splitSize('mnist', 'test', undefined)).toBe(10000);
    expect(splitSize('cifar10', 'train', undefined)).toBe(50000);
    expect(splitSize('cifar100', 'test', undefined)).toBe(10000);
    expect(splitSize('mnist', 'train', 500)).toBe(5000);
    expect(splitSize('cifar100', 'train', 500)).toBe(50000);
    expect(splitSize('mnist', 'train', 5421)).toBe(54210);
    expect(() => splitSize('mnist', 'train', 5422)).toThrow(
      'data.trainPerClass: expected at most 5421 (images of the smallest class in mnist/train), got 5422',
    );
    expect(() => splitSize('cifar10', 'test', 1001)).toThrow(
      /^data\.testPerClass: expected at most 1000/,
    );
  });
  test('ImageNet from its published totals, and a listed folder from its counts', () => {
    // ILSVRC-2012: 1,281,167 training images in 1,000 classes of 732 to 1,300; 50 per class in val.
    expect(splitSize('imagenet', 'train', undefined)).toBe(1_281_167);
    expect(splitSize('imagenet', 'test', undefined)).toBe(50_000);
    expect(splitSize('imagenet', 'train', 732)).toBe(732_000);
    expect(() => splitSize('imagenet', 'train', 733)).toThrow(
      'data.trainPerClass: expected at most 732 (images of the smallest class in imagenet/train), got 733',
    );
    expect(publishedCounts('cifar100', 'train')).toEqual({
      images: 50_000,
      classes: 100,
      smallestClass: 500,
    });
    const folder = { name: 'folder', counts: { images: 7, classes: 3, smallestClass: 2 } };
    expect(splitSize(folder, 'test', undefined)).toBe(7);
    expect(splitSize(folder, 'test', 2)).toBe(6);
    expect(() => splitSize(folder, 'test', 3)).toThrow(
      'data.testPerClass: expected at most 2 (images of the smallest class in folder/test), got 3',
    );
  });
});
