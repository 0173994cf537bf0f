import { describe, expect, test } from 'vitest';
import { randomStream } from '../core/random.js';
import {
  Batcher,
  batchesPerEpoch,
  batchIndices,
  CIFAR_AUGMENTATION,
  drawAugmentation,
  NO_AUGMENTATION,
  NORMALIZATIONS,
} from './batches.js';
import {
  classCounts,
  makeDataset,
  splitValidation,
  subsetPerClass,
  syntheticDataset,
  withLabelNoise,
  type ImageDataset,
} from './dataset.js';
import { loadMnist } from './mnist.js';

const mnist = loadMnist('test');

describe('derived data sets', () => {
  test('subsetPerClass takes exactly n per class, the same ones for the same seed', () => {
    const a = subsetPerClass(mnist, 25, randomStream(3, 'subset'));
    expect(classCounts(a)).toEqual(new Array(10).fill(25));
    expect(subsetPerClass(mnist, 25, randomStream(3, 'subset')).images).toEqual(a.images);
    expect(subsetPerClass(mnist, 25, randomStream(4, 'subset')).images).not.toEqual(a.images);
    expect(a.provenance.at(-1)).toBe('subset: 25 per class');
    expect(() => subsetPerClass(mnist, 900, randomStream(3, 'subset'))).toThrow(
      /^perClass: expected at most 892 \(images of class 5 in mnist\/test\)/,
    );
  });
  test('splitValidation holds out exactly `size` images, stratified and disjoint', () => {
    const { train, validation } = splitValidation(mnist, 1000, randomStream(0, 'split'));
    expect(validation.count).toBe(1000);
    expect(train.count).toBe(9000);
    classCounts(validation).forEach((n, c) =>
      expect(Math.abs(n - classCounts(mnist)[c]! / 10)).toBeLessThanOrEqual(1),
    );
    const key = (d: ImageDataset, i: number) => d.images.subarray(i * 784, (i + 1) * 784).join();
    const held = new Set(Array.from({ length: validation.count }, (_, i) => key(validation, i)));
    const overlap = Array.from({ length: 500 }, (_, i) => key(train, i)).filter((k) => held.has(k));
    expect(overlap.length).toBeLessThanOrEqual(1); // MNIST has a few duplicate images, no more
  });
  test('withLabelNoise flips exactly round(f·N) labels, each to another class', () => {
    const noisy = withLabelNoise(mnist, 0.15, randomStream(0, 'labelNoise'));
    const flipped = noisy.labels.filter((label, i) => label !== mnist.labels[i]).length;
    expect(flipped).toBe(1500);
    expect(noisy.images).toBe(mnist.images);
    expect(withLabelNoise(mnist, 0.15, randomStream(0, 'labelNoise')).labels).toEqual(noisy.labels);
    expect(() => withLabelNoise(mnist, 1, randomStream(0, 'labelNoise'))).toThrow(
      /^labelNoise: expected a finite number in \[0, 1\)/,
    );
  });
  test('makeDataset rejects inconsistent sizes and labels', () => {
    const base = syntheticDataset({
      shape: [2, 2, 1],
      classes: 3,
      count: 4,
      stream: randomStream(0, 'x'),
    });
    expect(() => makeDataset({ ...base, count: 5 })).toThrow(
      /^synthetic\.images: expected 20 bytes, got 16/,
    );
    expect(() => makeDataset({ ...base, labels: Uint8Array.from([0, 1, 2, 3]) })).toThrow(
      /^synthetic\.labels\[3\]: expected a class in \[0, 2\], got 3/,
    );
  });
});

describe('Batcher', () => {
  const tiny = makeDataset({
    name: 'tiny',
    shape: [3, 3, 3],
    classes: 2,
    images: Uint8Array.from({ length: 2 * 27 }, (_, i) => i),
    labels: Uint8Array.from([0, 1]),
    count: 2,
    provenance: [],
  });
  const normalization = { mean: [0, 0.5, 1], std: [1, 0.5, 0.25] };
  const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

  test('normalises per channel and keeps labels with their images', () => {
    const batch = new Batcher(tiny, normalization).fill([1, 0]);
    expect(batch.size).toBe(2);
    expect(Array.from(batch.labels)).toEqual([1, 0]);
    // Image 1's first pixel has bytes 27, 28, 29.
    expect(batch.images[0]).toBeCloseTo(27 / 255, 6);
    expect(batch.images[1]).toBeCloseTo((28 / 255 - 0.5) / 0.5, 6);
    expect(batch.images[2]).toBeCloseTo((29 / 255 - 1) / 0.25, 6);
  });
  test('normalising the data set once gives the same batches, bit for bit, as per batch', () => {
    const once = new Batcher(mnist, NORMALIZATIONS.mnist);
    const perBatch = new Batcher(mnist, NORMALIZATIONS.mnist, false);
    const order = Uint32Array.from({ length: mnist.count }, (_, i) => (i * 7919) % mnist.count);
    for (const index of [0, 5, batchesPerEpoch(mnist.count, 512) - 1]) {
      const indices = batchIndices(mnist.count, 512, index, order);
      const a = once.fill(indices);
      const b = perBatch.fill(indices);
      expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
      // Byte equality (Buffer.compare; toEqual on 400k floats takes seconds).
      expect(Buffer.compare(bytes(a.images), bytes(b.images))).toBe(0);
    }
  });
  test('reuses one buffer for every batch; the last batch of an epoch may be short', () => {
    const batcher = new Batcher(mnist, NORMALIZATIONS.mnist);
    expect(batchesPerEpoch(10000, 4096)).toBe(3);
    const first = batcher.fill(batchIndices(10000, 4096, 0));
    const last = batcher.fill(batchIndices(10000, 4096, 2));
    expect(last.size).toBe(10000 - 8192);
    expect(last.images.buffer).toBe(first.images.buffer);
    expect(Array.from(batchIndices(10000, 4096, 2).subarray(0, 2))).toEqual([8192, 8193]);
  });
  test('crops with zero padding then flips, as the choices drawn from the stream say', () => {
    const batcher = new Batcher(tiny, { mean: [0, 0, 0], std: [1, 1, 1] });
    const augmentation = { cropPadding: 1, horizontalFlip: true };
    const stream = randomStream(0, 'augmentation');
    const probe = stream.clone();
    const dy = probe.int(0, 2) - 1;
    const dx = probe.int(0, 2) - 1;
    const flip = probe.float() < 0.5;
    const choices = drawAugmentation(augmentation, tiny, [0], stream)!;
    expect(Array.from(choices)).toEqual([dy, dx, flip ? 1 : 0]);
    expect(stream.state()).toEqual(probe.state()); // three draws per image, no more
    const out = batcher.fill([0], choices).images;
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        const sy = y + dy;
        const sx = (flip ? 2 - x : x) + dx;
        const expected = sy >= 0 && sy < 3 && sx >= 0 && sx < 3 ? (sy * 3 + sx) * 3 : -1;
        expect(out[(y * 3 + x) * 3]).toBeCloseTo(expected < 0 ? 0 : expected / 255, 6);
      }
    }
  });
  test('the same streams give the same augmented batches; no augmentation draws nothing', () => {
    const batcher = new Batcher(mnist, NORMALIZATIONS.mnist);
    const indices = Uint32Array.from({ length: 8 }, (_, i) => i);
    const fill = (seed: number) =>
      Float32Array.from(
        batcher.fill(
          indices,
          drawAugmentation(CIFAR_AUGMENTATION, mnist, indices, randomStream(seed, 'augmentation')),
        ).images,
      );
    expect(Buffer.compare(bytes(fill(1)), bytes(fill(1)))).toBe(0);
    expect(Buffer.compare(bytes(fill(2)), bytes(fill(1)))).not.toBe(0);
    const stream = randomStream(0, 'augmentation');
    const before = stream.state();
    expect(drawAugmentation(NO_AUGMENTATION, mnist, indices, stream)).toBeNull();
    expect(stream.state()).toEqual(before);
  });
  test('names bad options', () => {
    expect(() => batchesPerEpoch(10, 0)).toThrow(/^batchSize: expected an integer >= 1/);
    expect(() => new Batcher(tiny, NORMALIZATIONS.mnist)).toThrow(
      /^normalization: expected a mean and a std for each of 3 channels/,
    );
    expect(() => drawAugmentation(CIFAR_AUGMENTATION, tiny, [0], randomStream(0, 'a'))).toThrow(
      /^augmentation\.cropPadding: expected an integer in \[0, 3\], got 4/,
    );
    expect(() =>
      drawAugmentation({ cropPadding: 1, horizontalFlip: false }, tiny, [0], undefined),
    ).toThrow(/^augmentation: expected a random stream/);
    expect(() => new Batcher(tiny, normalization).fill([2])).toThrow(
      /^indices\[0\]: expected an image of tiny \(0 to 1\), got 2/,
    );
    expect(() => new Batcher(tiny, normalization).fill([0], new Int16Array(2))).toThrow(
      /^augmentation: expected 3 choices \(three per image\), got 2/,
    );
  });
});
