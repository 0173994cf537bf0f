import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomStream } from '../core/random.js';
import { drawAugmentation, RESIZED_CROP_AUGMENTATION } from './batches.js';
import {
  classCounts,
  select,
  splitValidation,
  subsetPerClass,
  withLabelNoise,
  type FileDataset,
} from './dataset.js';
import { DatasetFileError } from './files.js';
import { indexFolderSplit, listFolderSplit, loadFolderSplit } from './folder.js';

let dir = '';
/** JPEG and PNG bytes of a w×h image, cached by size (a handful of encodes for all tests). */
const encoded = new Map<string, Buffer>();

async function image(width: number, height: number, png = false): Promise<Buffer> {
  const key = `${width}x${height}${png ? 'p' : 'j'}`;
  let bytes = encoded.get(key);
  if (bytes === undefined) {
    const img = sharp(Buffer.alloc(width * height * 3, 90), {
      raw: { width, height, channels: 3 },
    });
    bytes = png ? await img.png().toBuffer() : await img.jpeg().toBuffer();
    encoded.set(key, bytes);
  }
  return bytes;
}

async function write(root: string, files: Record<string, [number, number, boolean?]>) {
  for (const [path, [w, h, png]] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), await image(w, h, png));
  }
}

function fresh(name: string): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  return root;
}

const options = (cache = 'cache') => ({ imageSize: 8, resize: 10, cacheDir: join(dir, cache) });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cyclesparse-folder-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ImageNet layout', () => {
  let root = '';
  beforeAll(async () => {
    root = fresh('imagenet');
    await write(root, {
      'train/n02/b.JPEG': [20, 30],
      'train/n02/a.jpg': [31, 22],
      'train/n01/z.png': [40, 21, true],
      'train/n01/y.Jpeg': [25, 25],
      'train/n10/c.jpeg': [22, 44],
      'val/n01/v1.jpg': [30, 20],
      'val/n02/v2.jpg': [20, 30],
      'val/n10/v3.png': [21, 21, true],
    });
    writeFileSync(join(root, 'train/n01/notes.txt'), 'not an image');
  });

  test('classes sorted, files sorted within each class, sizes from headers, other files skipped', () => {
    const train = loadFolderSplit(root, 'train', options());
    expect(train.kind).toBe('files');
    expect(train.name).toBe('imagenet');
    expect(train.root).toBe(root);
    expect(train.classNames).toEqual(['n01', 'n02', 'n10']);
    expect(train.files).toEqual([
      'train/n01/y.Jpeg',
      'train/n01/z.png',
      'train/n02/a.jpg',
      'train/n02/b.JPEG',
      'train/n10/c.jpeg',
    ]);
    expect(Array.from(train.labels)).toEqual([0, 0, 1, 1, 2]);
    expect(train.labels).toBeInstanceOf(Uint16Array);
    expect(Array.from(train.sizes)).toEqual([25, 25, 40, 21, 31, 22, 20, 30, 22, 44]);
    expect(train.shape).toEqual([8, 8, 3]);
    expect(train.resize).toBe(10);
    const test = loadFolderSplit(root, 'test', options());
    expect(test.files).toEqual(['val/n01/v1.jpg', 'val/n02/v2.jpg', 'val/n10/v3.png']);
    expect(test.classNames).toEqual(train.classNames);
    expect(listFolderSplit(root, 'train')).toEqual({
      classNames: ['n01', 'n02', 'n10'],
      perClass: [2, 2, 1],
    });
    expect(listFolderSplit(root, 'test').perClass).toEqual([1, 1, 1]);
  });

  test('the index cache: a miss reads every header, a hit none, a changed file only its own', async () => {
    const first = indexFolderSplit(root, 'train', options('cache-2'));
    expect(first.headersRead).toBe(5);
    const again = indexFolderSplit(root, 'train', options('cache-2'));
    expect(again.headersRead).toBe(0);
    expect(again.cacheFile).toBe(first.cacheFile);
    expect(Array.from(again.dataset.sizes)).toEqual(Array.from(first.dataset.sizes));
    // Another split is another index.
    expect(indexFolderSplit(root, 'test', options('cache-2')).headersRead).toBe(3);
    // A rewritten file (new size on disk, new mtime) is read again, and its new size is used.
    writeFileSync(join(root, 'train/n02/a.jpg'), await image(33, 23));
    utimesSync(join(root, 'train/n02/a.jpg'), new Date(), new Date(Date.now() + 5000));
    const changed = indexFolderSplit(root, 'train', options('cache-2'));
    expect(changed.headersRead).toBe(1);
    expect(Array.from(changed.dataset.sizes.subarray(4, 6))).toEqual([33, 23]);
    // A corrupt index file is rebuilt, not an error.
    writeFileSync(first.cacheFile, '{"format": 1, "root": 3}');
    expect(indexFolderSplit(root, 'train', options('cache-2')).headersRead).toBe(5);
    // So is one whose arrays are malformed (a size that is not a side, an mtime missing).
    const good = JSON.parse(readFileSync(first.cacheFile, 'utf8')) as Record<string, number[]>;
    const sizes = [...good.sizes!];
    sizes[3] = -1;
    writeFileSync(first.cacheFile, JSON.stringify({ ...good, sizes }));
    expect(indexFolderSplit(root, 'train', options('cache-2')).headersRead).toBe(5);
    writeFileSync(first.cacheFile, JSON.stringify({ ...good, mtimes: good.mtimes!.slice(1) }));
    expect(indexFolderSplit(root, 'train', options('cache-2')).headersRead).toBe(5);
    // Entries are found by name when the listing shifts (an image added before the others).
    await write(root, { 'train/n01/a.jpg': [26, 24] });
    const shifted = indexFolderSplit(root, 'train', options('cache-2'));
    expect(shifted.headersRead).toBe(1);
    expect(Array.from(shifted.dataset.sizes)).toEqual([
      26,
      24,
      ...Array.from(changed.dataset.sizes),
    ]);
    rmSync(join(root, 'train/n01/a.jpg'));
    writeFileSync(join(root, 'train/n02/a.jpg'), await image(31, 22));
  });

  test('an index that cannot be written leaves no temporary file behind', () => {
    const cacheDir = join(dir, 'cache-blocked');
    const { cacheFile } = indexFolderSplit(root, 'train', { ...options(), cacheDir });
    // A non-empty folder where the index file goes: the rename over it fails.
    rmSync(cacheFile);
    mkdirSync(join(cacheFile, 'x'), { recursive: true });
    expect(indexFolderSplit(root, 'train', { ...options(), cacheDir }).headersRead).toBe(5);
    expect(readdirSync(join(cacheFile, '..')).sort()).toEqual([basename(cacheFile)]);
  });

  test('file data set operations select paths, sizes and labels', () => {
    const train = loadFolderSplit(root, 'train', options());
    const picked = select(train, [4, 0], 'two');
    expect(picked.files).toEqual(['train/n10/c.jpeg', 'train/n01/y.Jpeg']);
    expect(Array.from(picked.sizes)).toEqual([22, 44, 25, 25]);
    expect(Array.from(picked.labels)).toEqual([2, 0]);
    expect(picked.labels).toBeInstanceOf(Uint16Array);
    expect(picked.provenance.at(-1)).toBe('two');
    const subset: FileDataset = subsetPerClass(train, 1, randomStream(1, 'subset'));
    expect(classCounts(subset)).toEqual([1, 1, 1]);
    expect(subset.kind).toBe('files');
    const noisy = withLabelNoise(train, 0.4, randomStream(1, 'labelNoise'));
    expect(noisy.labels).toBeInstanceOf(Uint16Array);
    expect(noisy.files).toEqual(train.files);
    expect(Array.from(noisy.labels).filter((l, i) => l !== train.labels[i]).length).toBe(2);
    const { train: rest, validation } = splitValidation(train, 2, randomStream(1, 'validation'));
    expect(rest.count + validation.count).toBe(5);
    expect(new Set([...rest.files, ...validation.files]).size).toBe(5);
  });

  test('augmentation boxes are drawn inside each image, five values per image', () => {
    const train = loadFolderSplit(root, 'train', options());
    const indices = [4, 1, 0];
    const boxes = drawAugmentation(
      RESIZED_CROP_AUGMENTATION,
      train,
      indices,
      randomStream(2, 'augmentation'),
    )!;
    expect(boxes.length).toBe(15);
    indices.forEach((index, n) => {
      const [top, left, h, w, flip] = Array.from(boxes.subarray(5 * n, 5 * n + 5));
      expect(left! + w!).toBeLessThanOrEqual(train.sizes[2 * index]!);
      expect(top! + h!).toBeLessThanOrEqual(train.sizes[2 * index + 1]!);
      expect([0, 1]).toContain(flip);
    });
    expect(() =>
      drawAugmentation({ cropPadding: 4, horizontalFlip: true }, train, indices, undefined),
    ).toThrow(/^augmentation: expected random-resized-crop \(or none\) for image files/);
  });
});

describe('symbolic links are followed, as ImageFolder follows them', () => {
  test('a symlinked class folder and a symlinked image are listed; a symlinked sub-folder is refused', async () => {
    const root = fresh('linked');
    const elsewhere = fresh('linked-elsewhere');
    await write(root, {
      'train/dog/1.jpg': [20, 30],
      'val/dog/1.jpg': [20, 20],
      'val/cat/1.jpg': [20, 20],
    });
    await write(elsewhere, { 'cat/2.jpg': [24, 20], 'cat/1.jpg': [22, 20], 'dog-3.jpg': [21, 20] });
    symlinkSync(join(elsewhere, 'cat'), join(root, 'train/cat'), 'dir');
    symlinkSync(join(elsewhere, 'dog-3.jpg'), join(root, 'train/dog/3.jpg'));
    symlinkSync(join(elsewhere, 'missing'), join(root, 'train/broken')); // a broken link: skipped
    const train = loadFolderSplit(root, 'train', options());
    expect(train.classNames).toEqual(['cat', 'dog']);
    expect(train.files).toEqual([
      'train/cat/1.jpg',
      'train/cat/2.jpg',
      'train/dog/1.jpg',
      'train/dog/3.jpg',
    ]);
    expect(Array.from(train.sizes)).toEqual([22, 20, 24, 20, 20, 30, 21, 20]);
    expect(loadFolderSplit(root, 'test', options()).count).toBe(2);
    symlinkSync(elsewhere, join(root, 'train/dog/more'), 'dir');
    expect(() => listFolderSplit(root, 'train')).toThrow(
      /linked\/train\/dog\/more: is a folder inside a class folder/,
    );
  });
});

describe('file lists', () => {
  test('lines "<path> <class>" in order; classes of train.txt sorted; val checked against them', async () => {
    const root = fresh('lists');
    await write(root, {
      'img/one two.jpg': [20, 20],
      'img/2.png': [30, 20, true],
      'img/3.jpg': [20, 30],
      'v/4.jpg': [22, 22],
      'v/5.jpg': [22, 22],
    });
    writeFileSync(
      join(root, 'train.txt'),
      'img/one two.jpg cat\r\n\nimg/2.png dog\nimg/3.jpg cat\n',
    );
    writeFileSync(join(root, 'val.txt'), 'v/4.jpg dog\nv/5.jpg cat\n');
    const train = loadFolderSplit(root, 'train', options());
    expect(train.classNames).toEqual(['cat', 'dog']);
    expect(train.files).toEqual(['img/one two.jpg', 'img/2.png', 'img/3.jpg']);
    expect(Array.from(train.labels)).toEqual([0, 1, 0]);
    expect(Array.from(train.sizes)).toEqual([20, 20, 30, 20, 20, 30]);
    expect(Array.from(loadFolderSplit(root, 'test', options()).labels)).toEqual([1, 0]);
    writeFileSync(join(root, 'val.txt'), 'v/4.jpg dog\nv/5.jpg\n');
    expect(() => loadFolderSplit(root, 'test', options())).toThrow(
      /lists\/val\.txt:2: "v\/5\.jpg" is not "<path> <class name>"/,
    );
    writeFileSync(join(root, 'val.txt'), 'v/4.jpg dog\nv/5.jpg bird\n');
    expect(() => loadFolderSplit(root, 'test', options())).toThrow(
      /val\.txt: class "bird" \(of v\/5\.jpg\) is not a class of train\.txt/,
    );
    writeFileSync(join(root, 'val.txt'), 'v/4.jpg dog\n');
    expect(() => loadFolderSplit(root, 'test', options())).toThrow(
      /val\.txt: has no image of class "cat" of train\.txt/,
    );
    writeFileSync(join(root, 'val.txt'), '../4.jpg dog\n');
    expect(() => loadFolderSplit(root, 'test', options())).toThrow(/val\.txt:1: "\.\.\/4\.jpg"/);
  });
});

describe('errors name the file or folder', () => {
  test('a missing directory, a missing or extra val class, an empty class, a corrupt header', async () => {
    expect(() => loadFolderSplit(join(dir, 'nowhere'), 'train', options())).toThrow(
      /nowhere: no such directory\. A folder data set is/,
    );
    const root = fresh('bad');
    await write(root, {
      'train/a/1.jpg': [20, 20],
      'train/b/1.jpg': [20, 20],
      'val/a/1.jpg': [20, 20],
    });
    expect(() => loadFolderSplit(root, 'test', options())).toThrow(
      /bad\/val\/b: missing: every class folder of train\/ must be in val\//,
    );
    await write(root, { 'val/b/1.jpg': [20, 20], 'val/c/1.jpg': [20, 20] });
    expect(() => listFolderSplit(root, 'test')).toThrow(
      /bad\/val\/c: is a class folder that train\/ does not have/,
    );
    rmSync(join(root, 'val/c'), { recursive: true });
    mkdirSync(join(root, 'train/c'));
    expect(() => loadFolderSplit(root, 'train', options())).toThrow(/bad\/train\/c: has no images/);
    rmSync(join(root, 'train/c'), { recursive: true });
    writeFileSync(join(root, 'train/b/2.jpg'), Buffer.from('garbage, not a JPEG at all'));
    let error: unknown;
    try {
      loadFolderSplit(root, 'train', options());
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DatasetFileError);
    expect((error as DatasetFileError).file).toBe(join(root, 'train/b/2.jpg'));
    expect((error as Error).message).toMatch(/unreadable image header/);
  });

  test('an image wider than 32767 px is refused at indexing (boxes are int16)', () => {
    const root = fresh('wide');
    mkdirSync(join(root, 'train/a'), { recursive: true });
    // A PNG signature and IHDR header saying 40000×10 (the header is all indexing reads).
    const header = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
    header.writeUInt32BE(13, 8);
    header.write('IHDR', 12, 'latin1');
    header.writeUInt32BE(40000, 16);
    header.writeUInt32BE(10, 20);
    header.set([8, 2, 0, 0, 0], 24);
    writeFileSync(join(root, 'train/a/wide.png'), header);
    expect(() => loadFolderSplit(root, 'train', options())).toThrow(
      /wide\.png: 40000×10 pixels: sides over 32767 are refused/,
    );
  });

  test("over Pillow's decompression-bomb limit, or a huge evaluation resize: refused at indexing", () => {
    const root = fresh('huge');
    mkdirSync(join(root, 'train/a'), { recursive: true });
    const file = join(root, 'train/a/big.png');
    /** A PNG signature and an IHDR header saying width×height (all that indexing reads). */
    const header = (width: number, height: number) => {
      const bytes = Buffer.alloc(33);
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
      bytes.writeUInt32BE(13, 8);
      bytes.write('IHDR', 12, 'latin1');
      bytes.writeUInt32BE(width, 16);
      bytes.writeUInt32BE(height, 20);
      bytes.set([8, 2, 0, 0, 0], 24);
      return bytes;
    };
    // 15000 × 11931 = 178,965,000 > 178,956,970; 15000 × 11930 = 178,950,000 is allowed.
    writeFileSync(file, header(15000, 11931));
    expect(() => loadFolderSplit(root, 'train', options())).toThrow(
      /big\.png: 15000×11931 pixels: over 178956970 \(Pillow refuses it as a decompression bomb/,
    );
    writeFileSync(file, header(15000, 11930));
    expect(loadFolderSplit(root, 'train', options()).count).toBe(1);
    // 5000×2 at resize 10: 25000×10 = 250,000 pixels, fine; at resize 256: 640000×256.
    writeFileSync(file, header(5000, 2));
    expect(loadFolderSplit(root, 'train', options()).count).toBe(1);
    expect(() =>
      loadFolderSplit(root, 'train', { ...options(), imageSize: 224, resize: 256 }),
    ).toThrow(
      /big\.png: 5000×2 pixels: the evaluation transform \(shorter side to 256\) would resize it to 640000×256, over 67108864 pixels/,
    );
  });

  test('an empty split', () => {
    const root = fresh('empty');
    mkdirSync(join(root, 'train'));
    expect(() => loadFolderSplit(root, 'train', options())).toThrow(
      /empty\/train: has no class folders/,
    );
  });
});
