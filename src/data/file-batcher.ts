/**
 * Batches of a folder data set for the TF.js engine: each image decoded from its file as
 * Pillow's `Image.open(path).convert('RGB')` would (sharp: libvips with libjpeg-turbo, no EXIF
 * rotation), then transformed exactly as the PyTorch side does (data/image-transforms.ts) —
 * the evaluation transform (Resize + CenterCrop) without augmentation, else the drawn box
 * resized with Pillow's BILINEAR and a flip — and normalised with the same per-channel tables as
 * pixels in memory ({@link normalizationTables}).
 *
 * A batch's images are decoded concurrently (sharp works on libuv's thread pool). A file that
 * cannot be decoded (truncated, corrupt: sharp's `failOn: 'warning'`) or whose decoded size is
 * not the one indexed is a {@link DatasetFileError} naming the file.
 *
 * sharp is imported on first use, so the rest of the package loads (and trains on pixels)
 * without it.
 */

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sharp, SharpOptions } from 'sharp';
import { InvalidArgumentError } from '../core/errors.js';
import { normalizationTables, type Normalization } from './batches.js';
import type { FileDataset } from './dataset.js';
import { DatasetFileError } from './files.js';
import {
  evalGeometry,
  flipHorizontal,
  resampleBilinear,
  type RgbImage,
} from './image-transforms.js';

type SharpFactory = ((input: string, options?: SharpOptions) => Sharp) & {
  cache(options: boolean): unknown;
};

let sharpModule: Promise<SharpFactory> | undefined;

/** sharp, imported once on first use; the error says how to install it when it is missing. */
export function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then(
    (module) => {
      const sharp = (module as unknown as { default: SharpFactory }).default;
      // libvips caches operations on files by name: a file replaced on disk could be served
      // from the cache, and a data set is read once per epoch anyway.
      sharp.cache(false);
      return sharp;
    },
    (error: unknown) => {
      sharpModule = undefined;
      throw new Error(
        `reading image files needs the npm package sharp (npm install sharp@0.34.5): ${(error as Error).message}`,
        { cause: error },
      );
    },
  );
  return sharpModule;
}

/** Choices per image of a file data set's augmentation (engine.ts AUGMENTATION_STRIDE.files). */
const STRIDE = 5;

const HOW_TO_FIX =
  'Replace or remove the file (and index the folder again), or re-download the data set';

/**
 * Whether `file` is a 16-bit greyscale PNG without alpha (IHDR bit depth 16, colour type 0):
 * Pillow opens it as mode "I" and `convert('RGB')` clips each value to 0..255, where libvips
 * would shift it right by 8. (16-bit grey with alpha, and 16-bit RGB, Pillow reduces to their
 * high bytes as libvips does.)
 */
async function isGrey16Png(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(26);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return (
      bytesRead === head.length &&
      head.subarray(0, 8).equals(PNG_SIGNATURE) &&
      head.toString('latin1', 12, 16) === 'IHDR' &&
      head[24] === 16 &&
      head[25] === 0
    );
  } finally {
    await handle.close();
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Decodes `file` to RGB uint8 as Pillow's `convert('RGB')` does: no EXIF rotation, an embedded
 * ICC profile ignored (sharp would otherwise colour-manage to sRGB: up to 17 levels apart on a
 * Display P3 JPEG), alpha dropped, greyscale expanded to three channels, CMYK (ImageNet has a
 * few CMYK JPEGs) decoded to raw CMYK then converted with Pillow's own formula, and a 16-bit
 * greyscale PNG read as 16-bit values clipped to 255 (Pillow's mode "I" to RGB).
 */
export async function decodeRgb(file: string): Promise<RgbImage> {
  const sharp = await loadSharp();
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  let kind: 'rgb' | 'cmyk' | 'grey16' = 'rgb';
  try {
    const input = sharp(file, { failOn: 'warning', limitInputPixels: false });
    if (await isGrey16Png(file)) kind = 'grey16';
    else if ((await input.metadata()).space === 'cmyk') kind = 'cmyk';
    decoded = await (
      kind === 'grey16'
        ? input.keepIccProfile().extractChannel(0).toColourspace('grey16').raw({ depth: 'ushort' })
        : kind === 'cmyk'
          ? input.pipelineColourspace('cmyk').toColourspace('cmyk').raw()
          : input.keepIccProfile().toColourspace('srgb').removeAlpha().raw()
    ).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new DatasetFileError(file, `cannot be decoded (${(error as Error).message})`, HOW_TO_FIX);
  }
  const { data, info } = decoded;
  const channels = { rgb: 3, cmyk: 4, grey16: 1 }[kind];
  if (info.channels !== channels)
    throw new DatasetFileError(file, `decoded to ${info.channels} channels, not RGB`, HOW_TO_FIX);
  if (kind === 'grey16') {
    // Native-endian 16-bit values; a view needs 2-byte alignment, else a copy.
    const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
    const grey = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
    const rgb = new Uint8Array(3 * grey.length);
    for (let i = 0; i < grey.length; i++)
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = Math.min(grey[i]!, 255);
    return { data: rgb, width: info.width, height: info.height };
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  return {
    data: kind === 'cmyk' ? cmykToRgb(bytes) : bytes,
    width: info.width,
    height: info.height,
  };
}

/** Pillow's `cmyk2rgb` (libImaging/Convert.c): nk = 255 − K, channel = nk − C·nk/255 rounded. */
function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length / 4;
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const nk = 255 - cmyk[4 * i + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[4 * i + c]! * nk + 128; // MULDIV255
      rgb[3 * i + c] = Math.min(255, Math.max(0, nk - (((t >> 8) + t) >> 8)));
    }
  }
  return rgb;
}

/**
 * Image `index` of `dataset` as the network sees it before normalisation (shape[0] × shape[1] ×
 * 3 uint8): the evaluation transform when `choice` is null, else the box [top, left, height,
 * width] of the stored image resized to the shape and mirrored when flip is 1.
 */
export async function transformedImage(
  dataset: FileDataset,
  index: number,
  choice: ArrayLike<number> | null,
): Promise<RgbImage> {
  if (!(Number.isInteger(index) && index >= 0 && index < dataset.count))
    throw new InvalidArgumentError(
      'index',
      `an image of ${dataset.name} (0 to ${dataset.count - 1})`,
      index,
    );
  const file = join(dataset.root, dataset.files[index]!);
  const image = await decodeRgb(file);
  const width = dataset.sizes[2 * index]!;
  const height = dataset.sizes[2 * index + 1]!;
  if (image.width !== width || image.height !== height)
    throw new DatasetFileError(
      file,
      `decoded as ${image.width}×${image.height}, indexed as ${width}×${height} (changed since it was indexed?)`,
      HOW_TO_FIX,
    );
  const [h, w] = dataset.shape;
  if (choice === null) {
    const geometry = evalGeometry(width, height, dataset.resize, h, w);
    return resampleBilinear(image, undefined, geometry.width, geometry.height, geometry.crop);
  }
  const [top, left, boxHeight, boxWidth, flip] = [0, 1, 2, 3, 4].map((i) => choice[i]!);
  const out = resampleBilinear(
    image,
    { top: top!, left: left!, height: boxHeight!, width: boxWidth! },
    w,
    h,
  );
  return flip === 1 ? flipHorizontal(out) : out;
}

/** A batch of normalised images (HWC floats) and their labels. */
export interface FileBatch {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
}

/**
 * The batches of one file data set and normalisation. Unlike the pixel {@link Batcher}, every
 * fill returns new arrays, so the next batch can be decoded while the current one computes.
 */
export class FileBatcher {
  readonly dataset: FileDataset;
  readonly normalization: Normalization;
  readonly #tables: Float32Array[];

  constructor(dataset: FileDataset, normalization: Normalization) {
    this.dataset = dataset;
    this.normalization = normalization;
    this.#tables = normalizationTables(normalization, 3);
  }

  /**
   * The images at `indices` (in that order), transformed and normalised: the evaluation
   * transform when `augmentation` is null, else five choices per image from `drawAugmentation`
   * (top, left, height, width, flip).
   */
  async fill(
    indices: ArrayLike<number>,
    augmentation: Int16Array | null = null,
  ): Promise<FileBatch> {
    const size = indices.length;
    const stride = STRIDE;
    if (augmentation !== null && augmentation.length !== stride * size)
      throw new InvalidArgumentError(
        'augmentation',
        `${stride * size} choices (five per image)`,
        augmentation.length,
      );
    const [h, w] = this.dataset.shape;
    const pixels = h * w * 3;
    const images = new Float32Array(size * pixels);
    const labels = new Int32Array(size);
    const tables = this.#tables;
    await Promise.all(
      Array.from({ length: size }, async (_, n) => {
        const index = indices[n]!;
        const image = await transformedImage(
          this.dataset,
          index,
          augmentation === null ? null : augmentation.subarray(stride * n, stride * (n + 1)),
        );
        labels[n] = this.dataset.labels[index]!;
        const out = n * pixels;
        const data = image.data;
        for (let ch = 0; ch < 3; ch++) {
          const table = tables[ch]!;
          for (let i = ch; i < pixels; i += 3) images[out + i] = table[data[i]!]!;
        }
      }),
    );
    return { images, labels, size };
  }
}

/**
 * One batch of `dataset` as the TF.js engine trains on it: what the PyTorch worker's batch for
 * the same (dataset, normalisation, indices, augmentation) must equal.
 */
export function fileBatch(
  dataset: FileDataset,
  normalization: Normalization,
  indices: ArrayLike<number>,
  augmentation: Int16Array | null,
): Promise<FileBatch> {
  return new FileBatcher(dataset, normalization).fill(indices, augmentation);
}
