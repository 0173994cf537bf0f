/**
 * The PyTorch engine on image files (issue 19): the process decodes a folder data set itself, in
 * DataLoader processes, in the order and grouping TypeScript planned, and its batches, training
 * and failures are checked against the TypeScript side on small generated JPEG folders.
 */

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomStream } from '../../core/random.js';
import { drawAugmentation, NORMALIZATIONS, RESIZED_CROP_AUGMENTATION } from '../../data/batches.js';
import { fileBatch, transformedImage } from '../../data/file-batcher.js';
import { loadFolderSplit } from '../../data/folder.js';
import { DatasetFileError } from '../../data/files.js';
import {
  makeDataset,
  makeFileDataset,
  syntheticDataset,
  type FileDataset,
} from '../../data/dataset.js';
import { initialValues } from '../../models/init.js';
import type { ModelSpec } from '../../models/spec.js';
import { BackendUnavailableError, type Engine, type Samples } from '../engine.js';
import { TfjsEngine } from '../tfjs-engine.js';
import { TorchEngine } from './engine.js';
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
    // One name outside ASCII: paths cross as UTF-8 bytes.
    const file = `train/${CLASSES[label]}/${String(n).padStart(2, '0')}${n === 4 ? '-été' : ''}.jpg`;
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

/** `count` made-up 16×16 RGB images in memory. */
function pixelsOf(count: number) {
  return syntheticDataset({ shape: [16, 16, 3], classes: 2, count, stream: randomStream(0, 'x') });
}

describe.runIf(TORCH_PYTHON !== undefined)('the PyTorch engine on image files', () => {
  let root: string;
  let data: FileDataset;
  let torch: TorchEngine;
  let wasm: Engine;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'torch-files-'));
    data = await jpegFolder(root);
    torch = await openTorchCpu();
    wasm = await TfjsEngine.open('wasm');
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

  test('same images, same order as the TypeScript file batcher, value for value', async () => {
    // One seed's epoch order and RandomResizedCrop + flip choices, drawn on the TypeScript side;
    // then the evaluation transform of the same images. Both sides decode the same JPEG bytes
    // (libjpeg-turbo in sharp and in Pillow), resample with Pillow's BILINEAR and look the bytes
    // up in the same float32 tables: the batches must be identical, not merely close.
    const order = randomStream(7, 'order').permutation(data.count);
    const augmentation = drawAugmentation(
      RESIZED_CROP_AUGMENTATION,
      data,
      order,
      randomStream(7, 'augmentation'),
    )!;
    expect(augmentation.length).toBe(5 * data.count);
    // One batch (decoded in the process itself), and three steps as training reads them
    // (decoded in loader processes, CYCLESPARSE_LOADER_WORKERS or min(8, cores) of them).
    const cases = [augmentation, null].flatMap((choices) =>
      [undefined, Uint32Array.of(0, 5, 9, data.count)].map((offsets) => ({ choices, offsets })),
    );
    for (const { choices, offsets } of cases) {
      const [ours, theirs] = await Promise.all([
        torch.batch(
          {
            dataset: data,
            normalization: NORMALIZATIONS.imagenet,
            indices: order,
            augmentation: choices,
          },
          offsets,
        ),
        fileBatch(data, NORMALIZATIONS.imagenet, order, choices),
      ]);
      expect(ours.labels).toEqual(theirs.labels);
      expect(ours.images.length).toBe(data.count * 16 * 16 * 3);
      const differ = ours.images.findIndex((v, i) => !Object.is(v, theirs.images[i]));
      expect(differ, `first differing value at ${differ}`).toBe(-1);
    }
  });

  test('a split indexed by loadFolderSplit reads the same on both engines', async () => {
    const indexed = loadFolderSplit(root, 'train', {
      imageSize: 16,
      resize: 18,
      cacheDir: join(root, 'index-cache'),
    });
    expect(indexed.count).toBe(data.count);
    const order = randomStream(11, 'order').permutation(indexed.count);
    const choices = drawAugmentation(
      RESIZED_CROP_AUGMENTATION,
      indexed,
      order,
      randomStream(11, 'augmentation'),
    );
    const samples = {
      dataset: indexed,
      normalization: NORMALIZATIONS.imagenet,
      indices: order,
      augmentation: choices,
    };
    const ours = await torch.batch(samples, Uint32Array.of(0, 8, indexed.count));
    const theirs = await fileBatch(indexed, NORMALIZATIONS.imagenet, order, choices);
    expect(ours.labels).toEqual(theirs.labels);
    expect(ours.images.findIndex((v, i) => !Object.is(v, theirs.images[i]))).toBe(-1);
  });

  test('one training step gives the same loss as the wasm engine on the same images', async () => {
    // The wasm engine trains on the TypeScript side's decoded images of the plan, one per
    // position (pixels in memory, no augmentation of its own); PyTorch on the files with the
    // drawn choices, decoding them itself.
    const order = randomStream(3, 'order').permutation(data.count);
    const augmentation = drawAugmentation(
      RESIZED_CROP_AUGMENTATION,
      data,
      order,
      randomStream(3, 'augmentation'),
    )!;
    const decoded = await Promise.all(
      Array.from(order, (index, n) =>
        transformedImage(data, index, augmentation.subarray(5 * n, 5 * (n + 1))),
      ),
    );
    const images = new Uint8Array(data.count * 16 * 16 * 3);
    decoded.forEach((image, n) => images.set(image.data, n * 16 * 16 * 3));
    const pixels = makeDataset({
      name: 'folder, decoded',
      shape: [16, 16, 3],
      classes: 2,
      images,
      labels: Uint8Array.from(order, (i) => data.labels[i]!),
      count: data.count,
      provenance: ['decoded by the TypeScript file batcher'],
    });
    const values = initialValues(TINY, 2);
    const plan = {
      normalization: NORMALIZATIONS.imagenet,
      firstStep: 0,
      offsets: Uint32Array.of(0, 7, data.count),
      learningRates: Float64Array.of(0.05, 0.05),
      resetMomentum: Uint8Array.of(1, 0),
    };
    const onWasm = await wasm.model(TINY, values);
    const onTorch = await torch.model(TINY, values);
    try {
      const a = await onWasm.train({
        ...plan,
        dataset: pixels,
        indices: Uint32Array.from(order, (_, n) => n),
        augmentation: null,
      });
      const b = await onTorch.train({ ...plan, dataset: data, indices: order, augmentation });
      // The cross-engine tolerance of properties/training.test.ts: 1e-4 of the loss's scale.
      for (let k = 0; k < 2; k++)
        expect(Math.abs(b.losses[k]! - a.losses[k]!)).toBeLessThanOrEqual(
          1e-4 * Math.abs(a.losses[k]!) + 1e-6,
        );
      expect(Array.from(b.correct)).toEqual(Array.from(a.correct));
      // Gradients over two batches and batch statistics, on the trained weights, the same way.
      const request = (samples: Samples) =>
        ({
          input: { kind: 'samples', samples, batchSize: 7 },
          mode: 'train',
          objective: 'cross-entropy-sum',
          wrt: ['conv1.weight', 'fc.weight'],
        }) as const;
      const filesSamples: Samples = {
        dataset: data,
        normalization: NORMALIZATIONS.imagenet,
        indices: order,
        augmentation,
      };
      const pixelSamples: Samples = {
        dataset: pixels,
        normalization: NORMALIZATIONS.imagenet,
        indices: Uint32Array.from(order, (_, n) => n),
        augmentation: null,
      };
      const ga = await onWasm.gradients(request(pixelSamples));
      const gb = await onTorch.gradients(request(filesSamples));
      expect(Math.abs(gb.value - ga.value)).toBeLessThanOrEqual(1e-4 * Math.abs(ga.value));
      for (const [name, expected] of ga.gradients) {
        const scale = Math.max(...Array.from(expected, Math.abs));
        gb.gradients.get(name)!.forEach((v, i) => {
          if (Math.abs(v - expected[i]!) > 1e-4 * scale + 1e-6)
            throw new Error(`${name}[${i}]: torch ${v}, wasm ${expected[i]}`);
        });
      }
      const [sa] = await onWasm.batchStatistics(pixelSamples);
      const [sb] = await onTorch.batchStatistics(filesSamples);
      sb!.mean.forEach((v, i) => expect(Math.abs(v - sa!.mean[i]!)).toBeLessThan(1e-5));
      expect(sb!.count).toBe(sa!.count);
    } finally {
      await onWasm.dispose();
      await onTorch.dispose();
    }
  });

  test('the same plan on files on both engines: same losses, same evaluation', async () => {
    // Both engines read the folder themselves: TF.js through the TypeScript file batcher, PyTorch
    // in its loader processes.
    const order = randomStream(5, 'order').permutation(data.count);
    const plan = {
      dataset: data,
      normalization: NORMALIZATIONS.imagenet,
      firstStep: 0,
      indices: order,
      offsets: Uint32Array.of(0, 6, data.count),
      augmentation: drawAugmentation(
        RESIZED_CROP_AUGMENTATION,
        data,
        order,
        randomStream(5, 'augmentation'),
      ),
      learningRates: Float64Array.of(0.05, 0.05),
      resetMomentum: Uint8Array.of(1, 0),
    };
    const values = initialValues(TINY, 4);
    const results = [];
    for (const engine of [wasm, torch]) {
      const model = await engine.model(TINY, values);
      try {
        const trained = await model.train(plan);
        const evaluation = await model.evaluate(data, NORMALIZATIONS.imagenet, 5);
        results.push({ losses: Array.from(trained.losses), evaluation });
      } finally {
        await model.dispose();
      }
    }
    const [a, b] = results;
    a!.losses.forEach((loss, k) =>
      expect(Math.abs(b!.losses[k]! - loss)).toBeLessThanOrEqual(1e-4 * Math.abs(loss) + 1e-6),
    );
    expect(Math.abs(b!.evaluation.loss - a!.evaluation.loss)).toBeLessThanOrEqual(
      1e-4 * Math.abs(a!.evaluation.loss),
    );
    expect(b!.evaluation.accuracy).toBe(a!.evaluation.accuracy);
  });

  test('augmentation rows of the other kind are refused before anything is sent', async () => {
    const model = await torch.model(TINY, initialValues(TINY, 0));
    await expect(model.batchStatistics(samples(data, [0, 1], [0, 0, 1, 0, 0, 1]))).rejects.toThrow(
      /^augmentation: expected 5 values per image for files data \(10\), got 6/,
    );
    await model.dispose();
  });

  test('an image whose size is not the indexed one is named', async () => {
    const sizes = Uint32Array.from(data.sizes);
    sizes[2 * 3] = 99;
    const changed = makeFileDataset({ ...data, sizes });
    const error = await torch.batch(samples(changed, [2, 3], null)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetFileError);
    expect((error as Error).message).toMatch(
      /train\/dog\/03\.jpg: .*decoded size 29x37, but the data set's index recorded 99x37/,
    );
  });

  test('a Python without Pillow is named when a folder data set is sent, with what to install', async () => {
    // A `PIL` package that fails to import stands in for a missing one.
    const dir = mkdtempSync(join(tmpdir(), 'no-pillow-'));
    try {
      mkdirSync(join(dir, 'PIL'));
      writeFileSync(join(dir, 'PIL', '__init__.py'), 'raise ImportError("No module named PIL")\n');
      writeFileSync(
        join(dir, 'python3'),
        `#!/bin/sh\nPYTHONPATH=${dir} exec ${TORCH_PYTHON} "$@"\n`,
      );
      chmodSync(join(dir, 'python3'), 0o755);
      const engine = await TorchEngine.open({
        device: 'cpu',
        python: join(dir, 'python3'),
        threads: 1,
      });
      try {
        const error = await engine.batch(samples(data, [0], null)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BackendUnavailableError);
        expect((error as Error).message).toMatch(
          /^backend torch: .*python3 \(.*\) cannot import Pillow \(ImportError: No module named PIL\), which reads image files: install it \(pip install pillow, or Debian's python3-pil\)/,
        );
        // Pixels in memory need no Pillow.
        const spec = TINY;
        const model = await engine.model(spec, initialValues(spec, 0));
        expect((await model.evaluate(pixelsOf(data.count), NORMALIZATIONS.imagenet, 4)).count).toBe(
          12,
        );
      } finally {
        engine.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the Pillow that decodes the files is recorded with the run', () => {
    expect(torch.info.provider).toMatch(
      /^PyTorch .* on Python .*, Pillow \d+\.\d+\S* with libjpeg-turbo /,
    );
  });

  test('short pipe writes, Pillow builds, large-image warnings and a full /dev/shm', async () => {
    // A Python whose sitecustomize (run before the worker) makes every write to the protocol pipe
    // short, turns Pillow's DecompressionBombWarning into an error (and lowers its threshold
    // below the test images' sizes), and fakes, as `mode` says before each request: a
    // pillow-simd version, a Pillow without libjpeg-turbo, a small /dev/shm, a loader that cannot
    // write its batch to /dev/shm, and a loader killed by SIGBUS.
    const dir = mkdtempSync(join(tmpdir(), 'torch-faults-'));
    const mode = (value: string) => writeFileSync(join(dir, 'mode'), value);
    mode('');
    writeFileSync(
      join(dir, 'sitecustomize.py'),
      `import os, signal, types, warnings
import PIL, torch
from PIL import Image, features

def mode():
    with open(${JSON.stringify(join(dir, 'mode'))}) as f:
        return f.read()

class Short:
    def __init__(self, f):
        self.f = f
    def write(self, data):
        return self.f.write(memoryview(data).cast("B")[:1000])
    def __getattr__(self, name):
        return getattr(self.f, name)

_fdopen = os.fdopen
os.fdopen = lambda fd, m="r", buffering=-1: Short(_fdopen(fd, m, buffering)) if m == "wb" and buffering == 0 else _fdopen(fd, m, buffering)

Image.MAX_IMAGE_PIXELS = 700
warnings.simplefilter("error", Image.DecompressionBombWarning)

_version = PIL.__version__
class Pil(types.ModuleType):
    @property
    def __version__(self):
        return _version + ".post1" if mode() == "simd" else _version
PIL.__class__ = Pil
_check = features.check_feature
features.check_feature = lambda name: False if name == "libjpeg_turbo" and mode() == "ijg" else _check(name)

_statvfs = os.statvfs
os.statvfs = lambda path: os.statvfs_result((4096, 4096, 100, 1, 1, 100, 10, 10, 0, 255)) if mode() == "small-shm" and path == "/dev/shm" else _statvfs(path)
_share = torch.Tensor.share_memory_
def share(self):
    if mode() == "shm-full":
        raise RuntimeError("unable to write to file </torch_1_2_3>: No space left on device (28)")
    if mode() == "shm-bus":
        os.kill(os.getpid(), signal.SIGBUS)
    return _share(self)
torch.Tensor.share_memory_ = share
`,
    );
    writeFileSync(
      join(dir, 'python3'),
      `#!/bin/sh\nPYTHONPATH=${dir} CYCLESPARSE_LOADER_WORKERS=2 exec ${TORCH_PYTHON} "$@"\n`,
    );
    chmodSync(join(dir, 'python3'), 0o755);
    const engine = await TorchEngine.open({
      device: 'cpu',
      python: join(dir, 'python3'),
      threads: 1,
    });
    try {
      const all = Array.from({ length: data.count }, (_, i) => i);
      const steps = Uint32Array.of(0, 6, data.count);
      const read = (offsets?: Uint32Array) =>
        engine.batch(samples(makeFileDataset({ ...data }), all, null), offsets);
      // Every frame arrives whole, and images over the warning threshold decode without it.
      const expected = await torch.batch(samples(data, all, null), steps);
      expect((await read(steps)).images).toEqual(expected.images);
      expect((await read()).images).toEqual(expected.images);

      mode('simd');
      await expect(read()).rejects.toThrow(
        /^backend torch: .*python3 \(.*\) has Pillow \d+\.\d+\.\d+\.post1 with libjpeg-turbo \S+: a '\.postN' version is pillow-simd, .* install upstream Pillow \(pip install --force-reinstall pillow/,
      );
      mode('ijg');
      await expect(read()).rejects.toThrow(
        /has Pillow \d+\.\d+\.\d+ with libjpeg \S+, not libjpeg-turbo: its JPEG decoder is not libjpeg-turbo/,
      );
      const shm =
        /^backend torch: the image loader processes ran out of shared memory \(\/dev\/shm\) in data\.batch/;
      const advice = /a larger --shm-size.*or set CYCLESPARSE_LOADER_WORKERS=0/;
      mode('small-shm');
      const small = await read(steps).catch((e: unknown) => e);
      expect(small).toBeInstanceOf(BackendUnavailableError);
      expect((small as Error).message).toMatch(shm);
      expect((small as Error).message).toMatch(
        /\(batch 0 of the request\): 2 loader processes x 2 prefetched batches of 0\.0 MB need 0\.0 MB, and \/dev\/shm has 0\.0 MB free/,
      );
      expect((small as Error).message).toMatch(advice);
      mode('shm-full');
      const full = ((await read(steps).catch((e: unknown) => e)) as Error).message;
      expect(full).toMatch(shm);
      expect(full).toMatch(/\(batch 0 of the request\): unable to write to file <\/torch_1_2_3>/);
      expect(full).toMatch(advice);
      mode('shm-bus');
      const bus = ((await read(steps).catch((e: unknown) => e)) as Error).message;
      expect(bus).toMatch(shm);
      expect(bus).toMatch(/Bus error/);
      // Still serving.
      mode('');
      expect((await read(steps)).images).toEqual(expected.images);
    } finally {
      engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a corrupt image in the plan names the file and the batch; the engine goes on', async () => {
    // The first half of a real JPEG (outside train/, which another test indexes): Pillow stops
    // at the missing data.
    const good = readFileSync(join(root, data.files[1]!));
    mkdirSync(join(root, 'broken'));
    writeFileSync(join(root, 'broken/cut.jpg'), good.subarray(0, good.length >> 1));
    const dataset = makeFileDataset({
      ...data,
      files: [...data.files, 'broken/cut.jpg'],
      sizes: Uint32Array.from([...data.sizes, ...data.sizes.slice(2, 4)]),
      labels: Uint16Array.from([...data.labels, 1]),
      count: data.count + 1,
    });
    const model = await torch.model(TINY, initialValues(TINY, 0));
    const expected = new RegExp(
      `^${join(root, 'broken/cut.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot be read as the data set's image in model\\.train \\(batch 1 of the request\\): OSError: image file is truncated`,
    );
    // Alone (decoded in the process) and in the second step of a plan (in a loader process).
    const alone = await torch.batch(samples(dataset, [12], null)).catch((e: unknown) => e);
    expect(alone).toBeInstanceOf(DatasetFileError);
    expect((alone as Error).message).toMatch(
      /cut\.jpg: .* in data\.batch \(batch 0 of the request\)/,
    );
    const error = await model
      .train({
        dataset,
        normalization: NORMALIZATIONS.imagenet,
        firstStep: 0,
        indices: Uint32Array.of(0, 1, 2, 3, 4, 5, 12, 6),
        offsets: Uint32Array.of(0, 4, 8),
        augmentation: null,
        learningRates: Float64Array.of(0.1, 0.1),
        resetMomentum: Uint8Array.of(1, 0),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetFileError);
    expect((error as Error).message).toMatch(expected);
    // Still serving, the same model included.
    expect((await model.evaluate(data, NORMALIZATIONS.imagenet, 5)).count).toBe(12);
    await model.dispose();
  });
});

test.skipIf(TORCH_PYTHON !== undefined)(
  `PyTorch engine tests on image files ${TORCH_MISSING} (skipped)`,
  () => {},
);
