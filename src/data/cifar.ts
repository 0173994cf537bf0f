/**
 * CIFAR-10 and CIFAR-100 in the standard binary format, read from a directory the user provides
 * (CIFAR cannot be downloaded on every machine, and no package ships it exactly).
 *
 * Records: CIFAR-10 has 1 label byte, CIFAR-100 2 (coarse, fine), then 3,072 pixel bytes as
 * three 32×32 planes (R, G, B). Images are converted to HWC on load. The official site publishes
 * md5 sums of its archives only, so files in a directory are checked by exact size, and
 * {@link downloadCifar} checks the archive's published md5 before extracting it.
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { InvalidArgumentError } from '../core/errors.js';
import { makeDataset, type ImageDataset } from './dataset.js';
import { DatasetFileError, md5, readChecked, requireDirectory } from './files.js';
import type { Split } from './mnist.js';

const PIXELS = 32 * 32 * 3;

export interface CifarArchive {
  readonly url: string;
  readonly md5: string;
  /** Directory the archive extracts to. */
  readonly folder: string;
}

/** The official archives and their published md5 sums (cs.toronto.edu/~kriz/cifar.html). */
export const CIFAR_ARCHIVES: Readonly<Record<'cifar10' | 'cifar100', CifarArchive>> = {
  cifar10: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
    folder: 'cifar-10-batches-bin',
  },
  cifar100: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    md5: '03b5dce01913d631647c71ecec9e9cb8',
    folder: 'cifar-100-binary',
  },
};

const howToObtain = (which: 'cifar10' | 'cifar100') =>
  `Download ${CIFAR_ARCHIVES[which].url} (md5 ${CIFAR_ARCHIVES[which].md5}) and extract it into the directory, ` +
  `or call downloadCifar('${which}', dir) where the network allows`;

/**
 * Decodes binary CIFAR records: `labelBytes` label bytes then the pixel planes; `labelIndex`
 * picks which label byte is the class (CIFAR-100: 0 coarse, 1 fine).
 */
export function decodeCifarRecords(
  bytes: Uint8Array,
  labelBytes: 1 | 2,
  labelIndex: number,
  file: string,
): { images: Uint8Array; labels: Uint8Array; count: number } {
  const record = labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new DatasetFileError(
      file,
      `${bytes.length} bytes is not a whole number of ${record}-byte records`,
      'Is this a CIFAR binary file?',
    );
  }
  const count = bytes.length / record;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const base = n * record;
    labels[n] = bytes[base + labelIndex]!;
    const planes = base + labelBytes;
    const out = n * PIXELS;
    for (let p = 0; p < 1024; p++) {
      images[out + 3 * p] = bytes[planes + p]!;
      images[out + 3 * p + 1] = bytes[planes + 1024 + p]!;
      images[out + 3 * p + 2] = bytes[planes + 2048 + p]!;
    }
  }
  return { images, labels, count };
}

function resolveFolder(dir: string, folder: string, which: 'cifar10' | 'cifar100'): string {
  requireDirectory(dir, howToObtain(which));
  return existsSync(join(dir, folder)) ? join(dir, folder) : dir;
}

/**
 * CIFAR-10 from `dir` (the extracted `cifar-10-batches-bin`, or its parent): `data_batch_1..5.bin`
 * for train, `test_batch.bin` for test, 10,000 records each.
 */
export function loadCifar10(split: Split, dir: string): ImageDataset {
  if (split !== 'train' && split !== 'test')
    throw new InvalidArgumentError('split', "'train' or 'test'", split);
  const folder = resolveFolder(dir, CIFAR_ARCHIVES.cifar10.folder, 'cifar10');
  const names =
    split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const parts = names.map((name) => {
    const path = join(folder, name);
    return decodeCifarRecords(
      readChecked({ path, bytes: 10000 * (1 + PIXELS) }, howToObtain('cifar10')),
      1,
      0,
      path,
    );
  });
  return makeDataset({
    name: `cifar10/${split}`,
    shape: [32, 32, 3],
    classes: 10,
    images: concat(parts.map((p) => p.images)),
    labels: concat(parts.map((p) => p.labels)),
    count: parts.reduce((n, p) => n + p.count, 0),
    provenance: [`cifar10 ${split} from ${folder} (sizes verified)`],
  });
}

/** CIFAR-100 from `dir` (the extracted `cifar-100-binary` or its parent), fine or coarse labels. */
export function loadCifar100(
  split: Split,
  dir: string,
  labels: 'fine' | 'coarse' = 'fine',
): ImageDataset {
  if (split !== 'train' && split !== 'test')
    throw new InvalidArgumentError('split', "'train' or 'test'", split);
  if (labels !== 'fine' && labels !== 'coarse')
    throw new InvalidArgumentError('labels', "'fine' or 'coarse'", labels);
  const folder = resolveFolder(dir, CIFAR_ARCHIVES.cifar100.folder, 'cifar100');
  const count = split === 'train' ? 50000 : 10000;
  const path = join(folder, `${split}.bin`);
  const decoded = decodeCifarRecords(
    readChecked({ path, bytes: count * (2 + PIXELS) }, howToObtain('cifar100')),
    2,
    labels === 'fine' ? 1 : 0,
    path,
  );
  return makeDataset({
    name: `cifar100/${split}`,
    shape: [32, 32, 3],
    classes: labels === 'fine' ? 100 : 20,
    images: decoded.images,
    labels: decoded.labels,
    count,
    provenance: [`cifar100 ${split} (${labels} labels) from ${folder} (size verified)`],
  });
}

/** Any file of CIFAR-10-style records (1 label byte), e.g. a subset of a training batch. */
export function loadCifar10File(path: string): ImageDataset {
  const content = readChecked({ path }, howToObtain('cifar10'));
  const decoded = decodeCifarRecords(content, 1, 0, path);
  return makeDataset({
    name: `cifar10-file`,
    shape: [32, 32, 3],
    classes: 10,
    ...decoded,
    provenance: [`cifar10 records from ${path}`],
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Downloads the official archive into `dir`, checks its md5 and extracts it. Needs network
 * access to cs.toronto.edu; fails with instructions otherwise.
 */
export async function downloadCifar(
  which: 'cifar10' | 'cifar100',
  dir: string,
  archive: CifarArchive = CIFAR_ARCHIVES[which],
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  let bytes: Uint8Array;
  try {
    const response = await fetch(archive.url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new DatasetFileError(
      archive.url,
      `download failed (${(error as Error).message})`,
      howToObtain(which),
    );
  }
  const actual = md5(bytes);
  if (actual !== archive.md5) {
    throw new DatasetFileError(
      archive.url,
      `md5 ${actual}, expected ${archive.md5}; nothing was extracted`,
      howToObtain(which),
    );
  }
  const file = join(dir, archive.url.slice(archive.url.lastIndexOf('/') + 1));
  writeFileSync(file, bytes);
  await tar.x({ file, cwd: dir });
  return join(dir, archive.folder);
}
