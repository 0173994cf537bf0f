/**
 * The PyTorch engine on image files (issue 19): the process decodes a folder data set itself, in
 * DataLoader processes, in the order and grouping TypeScript planned, and its batches, training
 * and failures are checked against the TypeScript side on small generated JPEG folders.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomStream } from '../../core/random.js';
import { NORMALIZATIONS } from '../../data/batches.js';
import { DatasetFileError } from '../../data/files.js';
import { makeFileDataset, type FileDataset } from '../../data/dataset.js';
import { initialValues } from '../../models/init.js';
import type { ModelSpec } from '../../models/spec.js';
import type { Samples } from '../engine.js';
import type { TorchEngine } from './engine.js';
import { openTorchCpu, TORCH_MISSING, TORCH_PYTHON } from './torch-testing.js';

/** Stored sizes (width, height) of the generated images: portrait, landscape, square, odd. */
const SIZES: readonly [number, number][] = [
  [24, 32],
  [40, 28],
  [33, 33],
  [29, 37],
  [36, 25],
  [31, 40],
];
const CLASSES = ['cat', 'dog'];

/** A smooth colour field with some noise: JPEG keeps it close, resampling has edges to move. */
function pixels(width: number, height: number, seed: number): Buffer {
  const stream = randomStream(seed, 'pixels');
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        out[(y * width + x) * 3 + c] = Math.min(
          255,
          ((x * (c + 3) * 7 + y * (5 - c) * 5 + seed * 40) % 200) + stream.int(0, 55),
        );
  return out;
}

/** Writes `<root>/train/<class>/<n>.jpg`, and returns the folder as a hand-built FileDataset. */
async function jpegFolder(root: string): Promise<FileDataset> {
  const files: string[] = [];
  const sizes: number[] = [];
  const labels: number[] = [];
  for (let n = 0; n < SIZES.length * 2; n++) {
    const [width, height] = SIZES[n % SIZES.length]!;
    const label = n % 2;
    const file = `train/${CLASSES[label]}/${String(n).padStart(2, '0')}.jpg`;
    mkdirSync(join(root, 'train', CLASSES[label]!), { recursive: true });
    await sharp(pixels(width, height, n), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(join(root, file));
    files.push(file);
    sizes.push(width, height);
    labels.push(label);
  }
  return makeFileDataset({
    kind: 'files',
    name: 'folder',
    shape: [16, 16, 3],
    classes: CLASSES.length,
    classNames: CLASSES,
    root,
    files,
    sizes: Uint32Array.from(sizes),
    resize: 18,
    labels: Uint16Array.from(labels),
    count: files.length,
    provenance: ['generated JPEG folder'],
  });
}

/** A tiny convolutional network for 16×16×3 inputs. */
const TINY: ModelSpec = {
  name: 'tiny-files',
  input: [16, 16, 3],
  classes: 2,
  nodes: [
    { op: 'conv', name: 'conv1', kernel: 3, in: 3, out: 4, stride: 2, padding: 1, bias: false },
    { op: 'bn', name: 'bn1', channels: 4 },
    { op: 'relu' },
    { op: 'global-avgpool' },
    { op: 'dense', name: 'fc', in: 4, out: 2, bias: true },
  ],
};

describe.runIf(TORCH_PYTHON !== undefined)('the PyTorch engine on image files', () => {
  let root: string;
  let data: FileDataset;
  let torch: TorchEngine;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'torch-files-'));
    data = await jpegFolder(root);
    torch = await openTorchCpu();
  });
  afterAll(() => {
    torch.close();
    rmSync(root, { recursive: true, force: true });
  });

  const samples = (
    dataset: FileDataset,
    indices: number[],
    augmentation: number[] | null,
  ): Samples => ({
    dataset,
    normalization: NORMALIZATIONS.imagenet,
    indices: Uint32Array.from(indices),
    augmentation: augmentation === null ? null : Int16Array.from(augmentation),
  });

  test('decodes a batch in the requested order', async () => {
    const batch = await torch.batch(samples(data, [3, 0, 5], null));
    expect(batch.labels).toEqual(Int32Array.from([1, 0, 1]));
    expect(batch.images.length).toBe(3 * 16 * 16 * 3);
  });

  test('a corrupt image in the plan names the file and the batch; the engine goes on', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'torch-files-broken-'));
    try {
      const good = readFileSync(join(root, data.files[1]!));
      mkdirSync(join(broken, 'train', 'dog'), { recursive: true });
      writeFileSync(join(broken, 'train', 'dog', 'cut.jpg'), good.subarray(0, good.length >> 1));
      const dataset = makeFileDataset({
        ...data,
        root: broken,
        files: ['train/dog/cut.jpg'],
        sizes: data.sizes.slice(2, 4),
        labels: Uint16Array.of(1),
        count: 1,
      });
      const error = await torch.batch(samples(dataset, [0], null)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatasetFileError);
      expect((error as Error).message).toMatch(/cut\.jpg.*batch 0/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
    const spec = TINY;
    const model = await torch.model(spec, initialValues(spec, 0));
    expect((await model.evaluate(data, NORMALIZATIONS.imagenet, 5)).count).toBe(12);
  });
});

test.skipIf(TORCH_PYTHON !== undefined)(
  `PyTorch engine tests on image files ${TORCH_MISSING} (skipped)`,
  () => {},
);
