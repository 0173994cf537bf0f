/**
 * Folder data sets: images kept as files, indexed (paths, classes, stored sizes) into a
 * {@link FileDataset} that the engines decode per batch. Synchronous, as the config builder is.
 *
 * Layout, as torchvision's ImageFolder reads ImageNet:
 * - `<dir>/train/<class>/<image>` and `<dir>/val/<class>/<image>`: classes are the train split's
 *   folder names sorted by code point (Python's `sorted`), labels their positions; images are
 *   listed class by class, each class's files sorted by name. Files whose extension is not
 *   .jpg, .jpeg or .png (any case) are skipped, as ImageFolder skips them (a stray
 *   `.DS_Store`, a README); a folder inside a class folder is an error (ImageFolder would
 *   recurse into it, this reader does not, so the two would disagree).
 * - or file lists `<dir>/train.txt` and `<dir>/val.txt` (used when `train.txt` exists), lines
 *   `<path relative to dir> <class name>` in the data set's order; blank lines are skipped.
 *   Classes are the train list's class names, sorted as strings.
 * Split 'train' reads train/, split 'test' reads val/, whose classes must be exactly the train
 * split's. The decoded size of every image is read from its header (npm image-size: the first
 * 64 KiB, or the whole file when the header lies further in) and refused above 32767 px (the
 * augmentation's boxes are int16), above Pillow's decompression-bomb limit, or when the
 * evaluation resize would be huge (one limit for both engines). Symbolic links are followed, as
 * ImageFolder follows them.
 *
 * Reading 1.28 M headers (ImageNet) takes minutes, so the sizes are cached: one index file per
 * (absolute root, split) in `$CYCLESPARSE_CACHE/folder-index/` (default
 * `~/.cache/cyclesparse`), reused entry by entry for files whose path, byte size and
 * modification time are unchanged. It does not catch a file rewritten with the same byte size
 * and the same modification time (a copy that preserves times, a change within the file
 * system's time resolution): the decoder then still refuses a decoded size that differs from
 * the indexed one, naming the file.
 */

import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Dirent,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { imageSize as readImageSize } from 'image-size';
import { z } from 'zod';
import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import { makeFileDataset, type FileDataset } from './dataset.js';
import { DatasetFileError } from './files.js';
import { evalGeometry } from './image-transforms.js';

export type FolderSplit = 'train' | 'test';

/** Extensions of the images a folder data set holds (compared in lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png'];

/** The largest side an image may have: augmentation boxes are int16. */
export const MAX_IMAGE_SIDE = 32767;

/**
 * The most pixels an image may have: above this Pillow's `Image.open` raises
 * DecompressionBombError (2 · `Image.MAX_IMAGE_PIXELS` = 2 · ⌊2³⁰ / 4 / 3⌋), so the PyTorch
 * engine could not read what the TF.js engine reads. One limit for both, checked at indexing.
 */
export const MAX_IMAGE_PIXELS = 178_956_970;

/**
 * The most pixels the evaluation transform's resized image may have. torchvision's `Resize`
 * (on the PyTorch side) makes the whole resized image before the centre crop: for an extreme
 * aspect ratio that is huge (4000×2 at resize 256 → 512000×256, 0.4 GB; 32767×1 → 8.6 GB) and
 * kills the loader process without naming the file. 64 Mi pixels (192 MiB RGB) is far above any
 * real photograph's (a 4:1 panorama at resize 256 is 0.26 M).
 */
export const MAX_RESIZED_PIXELS = 64 * 1024 * 1024;

const LAYOUT =
  'A folder data set is <dir>/train/<class>/<image> and <dir>/val/<class>/<image> (images .jpg, .jpeg or .png), ' +
  'or file lists <dir>/train.txt and <dir>/val.txt with lines "<path relative to dir> <class name>"';

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((extension) => lower.endsWith(extension));
}

/** Python's string order (by code point); JavaScript's `<` compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  if (!/[\uD800-\uDFFF]/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function requireDir(path: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory())
    throw new DatasetFileError(path, 'no such directory', LAYOUT);
}

interface Listing {
  readonly root: string;
  readonly layout: 'folders' | 'file list';
  readonly classNames: readonly string[];
  /** Paths relative to root, '/' separators, in data set order. */
  readonly files: readonly string[];
  readonly labels: readonly number[];
}

/**
 * Whether a directory entry is a folder, following a symbolic link to its target as
 * torchvision's ImageFolder does (`os.scandir` + `is_dir()`, `os.walk(followlinks=True)`): trees
 * assembled with one `ln -s` per class are common. A broken link is not a folder.
 */
function isFolder(parent: string, entry: Dirent): boolean {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(join(parent, entry.name)).isDirectory();
  } catch {
    return false;
  }
}

function classFolders(splitDir: string): string[] {
  requireDir(splitDir);
  return readdirSync(splitDir, { withFileTypes: true })
    .filter((entry) => isFolder(splitDir, entry))
    .map((entry) => entry.name)
    .sort(compareCodePoints);
}

function listFolders(root: string, split: FolderSplit): Listing {
  const classNames = classFolders(join(root, 'train'));
  if (classNames.length === 0)
    throw new DatasetFileError(join(root, 'train'), 'has no class folders', LAYOUT);
  const sub = split === 'train' ? 'train' : 'val';
  const splitDir = join(root, sub);
  if (split === 'test') {
    const present = classFolders(splitDir);
    const known = new Set(classNames);
    const have = new Set(present);
    const missing = classNames.find((name) => !have.has(name));
    if (missing !== undefined)
      throw new DatasetFileError(
        join(splitDir, missing),
        `missing: every class folder of train/ must be in val/ (${have.size} of ${classNames.length} are; ImageNet's val/ must be sorted into class folders first)`,
        LAYOUT,
      );
    const extra = present.find((name) => !known.has(name));
    if (extra !== undefined)
      throw new DatasetFileError(
        join(splitDir, extra),
        'is a class folder that train/ does not have',
        LAYOUT,
      );
  }
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, label) => {
    const classDir = join(splitDir, name);
    const images: string[] = [];
    for (const entry of readdirSync(classDir, { withFileTypes: true })) {
      if (isFolder(classDir, entry))
        throw new DatasetFileError(
          join(classDir, entry.name),
          'is a folder inside a class folder (images must lie directly in it)',
          LAYOUT,
        );
      if (isImageName(entry.name)) images.push(entry.name);
    }
    if (images.length === 0)
      throw new DatasetFileError(classDir, 'has no images (.jpg, .jpeg or .png)', LAYOUT);
    images.sort(compareCodePoints);
    for (const image of images) {
      files.push(`${sub}/${name}/${image}`);
      labels.push(label);
    }
  });
  return { root, layout: 'folders', classNames, files, labels };
}

function readList(
  root: string,
  name: string,
): { path: string; entries: { file: string; className: string }[] } {
  const path = join(root, name);
  if (!existsSync(path)) throw new DatasetFileError(path, 'not found', LAYOUT);
  const entries: { file: string; className: string }[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') return;
      const match = /^\s*(\S.*?)\s+(\S+)\s*$/.exec(line);
      const where = `${path}:${i + 1}`;
      if (match === null)
        throw new DatasetFileError(where, `"${line}" is not "<path> <class name>"`, LAYOUT);
      const file = match[1]!;
      if (isAbsolute(file) || file.includes('\\') || file.split('/').includes('..'))
        throw new DatasetFileError(
          where,
          `"${file}" is not a path inside ${root} with '/' separators`,
          LAYOUT,
        );
      if (!isImageName(file))
        throw new DatasetFileError(where, `"${file}" is not a .jpg, .jpeg or .png image`, LAYOUT);
      entries.push({ file, className: match[2]! });
    });
  if (entries.length === 0) throw new DatasetFileError(path, 'lists no images', LAYOUT);
  return { path, entries };
}

function listFiles(root: string, split: FolderSplit): Listing {
  const train = readList(root, 'train.txt');
  const classNames = [...new Set(train.entries.map((e) => e.className))].sort(compareCodePoints);
  const { path, entries } = split === 'train' ? train : readList(root, 'val.txt');
  const label = new Map(classNames.map((name, i) => [name, i]));
  const seen = new Set<string>();
  const files: string[] = [];
  const labels: number[] = [];
  entries.forEach(({ file, className }) => {
    const index = label.get(className);
    if (index === undefined)
      throw new DatasetFileError(
        path,
        `class "${className}" (of ${file}) is not a class of train.txt`,
        LAYOUT,
      );
    seen.add(className);
    files.push(file);
    labels.push(index);
  });
  const missing = classNames.find((name) => !seen.has(name));
  if (missing !== undefined)
    throw new DatasetFileError(path, `has no image of class "${missing}" of train.txt`, LAYOUT);
  return { root, layout: 'file list', classNames, files, labels };
}

function listing(dir: string, split: FolderSplit): Listing {
  const root = resolve(dir);
  requireDir(root);
  const listed = existsSync(join(root, 'train.txt'))
    ? listFiles(root, split)
    : listFolders(root, split);
  if (listed.classNames.length > 0xffff)
    throw new DatasetFileError(
      root,
      `${listed.classNames.length} classes, at most 65535 (labels are 16-bit)`,
      LAYOUT,
    );
  return listed;
}

/**
 * The classes of a folder data set and how many images of each the split has, from the listing
 * alone (no image is opened): for dry runs and model shapes.
 */
export function listFolderSplit(
  dir: string,
  split: FolderSplit,
): { classNames: string[]; perClass: number[] } {
  const { classNames, labels } = listing(dir, split);
  const perClass = new Array<number>(classNames.length).fill(0);
  for (const label of labels) perClass[label]!++;
  return { classNames: [...classNames], perClass };
}

/** An image's stored width and height from its header. */
export function readImageHeader(file: string): { width: number; height: number } {
  const HOW = 'Replace or remove the file, or re-download the data set';
  let size: { width?: number; height?: number; type?: string } | undefined;
  let problem = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(64 * 1024);
      const read = readSync(fd, head, 0, head.length, 0);
      try {
        size = readImageSize(head.subarray(0, read));
      } catch (error) {
        // The header may lie beyond the first 64 KiB (a large EXIF block): read it all.
        if (read < head.length) throw error;
        size = readImageSize(readFileSync(file));
      }
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    problem = (error as Error).message;
  }
  if (size === undefined || size.width === undefined || size.height === undefined)
    throw new DatasetFileError(file, `unreadable image header (${problem})`, HOW);
  if (size.type !== 'jpg' && size.type !== 'png')
    throw new DatasetFileError(file, `is ${size.type ?? 'unknown'}, not a JPEG or PNG`, HOW);
  if (size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE)
    throw new DatasetFileError(
      file,
      `${size.width}×${size.height} pixels: sides over ${MAX_IMAGE_SIDE} are refused (augmentation boxes are 16-bit)`,
      HOW,
    );
  if (size.width < 1 || size.height < 1)
    throw new DatasetFileError(file, `${size.width}×${size.height} pixels: empty image`, HOW);
  return { width: size.width, height: size.height };
}

/**
 * Refuses an image that one engine could not read as the other does: over Pillow's
 * decompression-bomb limit ({@link MAX_IMAGE_PIXELS}), or whose evaluation resize would be over
 * {@link MAX_RESIZED_PIXELS}.
 */
function checkImageSize(file: string, width: number, height: number, resize: number, crop: number) {
  const HOW = 'Shrink or crop the image (or remove it) and index the folder again';
  if (width * height > MAX_IMAGE_PIXELS)
    throw new DatasetFileError(
      file,
      `${width}×${height} pixels: over ${MAX_IMAGE_PIXELS} (Pillow refuses it as a decompression bomb, so the PyTorch engine could not read it)`,
      HOW,
    );
  const resized = evalGeometry(width, height, resize, crop);
  if (resized.width * resized.height > MAX_RESIZED_PIXELS)
    throw new DatasetFileError(
      file,
      `${width}×${height} pixels: the evaluation transform (shorter side to ${resize}) would resize it to ${resized.width}×${resized.height}, over ${MAX_RESIZED_PIXELS} pixels (torchvision's Resize makes that whole image before the centre crop)`,
      HOW,
    );
}

/** The index file's small fields; its four big arrays are checked by hand ({@link readCache}). */
const CacheHeaderSchema = z.object({
  format: z.literal(1),
  root: z.string(),
  split: z.enum(['train', 'test']),
});
interface CacheContent extends z.infer<typeof CacheHeaderSchema> {
  readonly files: readonly string[];
  readonly bytes: readonly number[];
  readonly mtimes: readonly number[];
  readonly sizes: readonly number[];
}

/** Where index files are kept: `$CYCLESPARSE_CACHE` or `~/.cache/cyclesparse`. */
export function defaultCacheDir(): string {
  return process.env.CYCLESPARSE_CACHE ?? join(homedir(), '.cache', 'cyclesparse');
}

function cacheFileFor(cacheDir: string, root: string, split: FolderSplit): string {
  const key = createHash('sha256').update(`${root}\n${split}`).digest('hex').slice(0, 32);
  return join(cacheDir, 'folder-index', `${key}.json`);
}

function isArrayOf(
  value: unknown,
  length: number,
  element: (item: unknown) => boolean,
): value is unknown[] {
  if (!Array.isArray(value) || value.length !== length) return false;
  for (const item of value) if (!element(item)) return false;
  return true;
}

const isString = (item: unknown) => typeof item === 'string';
const isNumber = (item: unknown) => typeof item === 'number';
const isSide = (item: unknown) => Number.isInteger(item) && (item as number) >= 0;

/**
 * The index file at `path` when it is one for (`root`, `split`), else undefined (missing,
 * unreadable, foreign or malformed: it is only a cache, and is rebuilt). The arrays (1.28 M
 * entries each for ImageNet) are checked by length and element type in plain loops: a zod
 * parse of them took about a second and copied them.
 */
function readCache(path: string, root: string, split: FolderSplit): CacheContent | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
    const header = CacheHeaderSchema.safeParse(raw);
    if (!header.success || header.data.root !== root || header.data.split !== split)
      return undefined;
    const { files, bytes, mtimes, sizes } = raw as Record<string, unknown>;
    if (!Array.isArray(files)) return undefined;
    const n = files.length;
    if (
      !isArrayOf(files, n, isString) ||
      !isArrayOf(bytes, n, isNumber) ||
      !isArrayOf(mtimes, n, isNumber) ||
      !isArrayOf(sizes, 2 * n, isSide)
    )
      return undefined;
    return {
      ...header.data,
      files: files as string[],
      bytes: bytes as number[],
      mtimes: mtimes as number[],
      sizes: sizes as number[],
    };
  } catch {
    return undefined;
  }
}

export interface FolderIndexOptions {
  /** Side of the square the network sees (224 for ImageNet). */
  readonly imageSize: number;
  /** The evaluation transform's shorter side before the centre crop (256 for ImageNet). */
  readonly resize: number;
  /** The data set's name (default: the folder's name). */
  readonly name?: string;
  /** Where the index files are kept (default {@link defaultCacheDir}). */
  readonly cacheDir?: string;
}

/** A loaded split with what its index cost: headers read, and the index file used. */
export interface FolderIndex {
  readonly dataset: FileDataset;
  /** Image headers read (0 when the cache held every file unchanged). */
  readonly headersRead: number;
  readonly cacheFile: string;
}

/** {@link loadFolderSplit}, saying how many headers it read (for tests and progress lines). */
export function indexFolderSplit(
  dir: string,
  split: FolderSplit,
  options: FolderIndexOptions,
): FolderIndex {
  const imageSide = requireInteger('imageSize', options.imageSize, 1);
  const resize = requireInteger('resize', options.resize, imageSide);
  if (split !== 'train' && split !== 'test')
    throw new InvalidArgumentError('split', "'train' or 'test'", split);
  const listed = listing(dir, split);
  const { root, files } = listed;
  const cacheFile = cacheFileFor(options.cacheDir ?? defaultCacheDir(), root, split);
  const cached = readCache(cacheFile, root, split);
  // Where a file was in the cached index: usually the same position (the listing is sorted),
  // so the map of 1.28 M names (seconds to build) is made only when the lists differ.
  let previous: Map<string, number> | undefined;
  const cachedIndex = (file: string, i: number): number | undefined => {
    if (cached === undefined) return undefined;
    if (cached.files[i] === file) return i;
    previous ??= new Map(cached.files.map((name, j) => [name, j]));
    return previous.get(file);
  };
  const count = files.length;
  const bytes = new Array<number>(count);
  const mtimes = new Array<number>(count);
  const sizes = new Uint32Array(2 * count);
  let headersRead = 0;
  for (let i = 0; i < count; i++) {
    const path = join(root, files[i]!);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      throw new DatasetFileError(path, 'not found', LAYOUT);
    }
    bytes[i] = stat.size;
    mtimes[i] = stat.mtimeMs;
    const j = cachedIndex(files[i]!, i);
    if (j !== undefined && cached!.bytes[j] === stat.size && cached!.mtimes[j] === stat.mtimeMs) {
      sizes[2 * i] = cached!.sizes[2 * j]!;
      sizes[2 * i + 1] = cached!.sizes[2 * j + 1]!;
      continue;
    }
    const { width, height } = readImageHeader(path);
    sizes[2 * i] = width;
    sizes[2 * i + 1] = height;
    headersRead++;
  }
  for (let i = 0; i < count; i++)
    checkImageSize(join(root, files[i]!), sizes[2 * i]!, sizes[2 * i + 1]!, resize, imageSide);
  const unchanged = cached !== undefined && headersRead === 0 && cached.files.length === count;
  if (!unchanged) {
    const content: CacheContent = {
      format: 1,
      root,
      split,
      files: [...files],
      bytes,
      mtimes,
      sizes: Array.from(sizes),
    };
    const temporary = `${cacheFile}.${process.pid}.tmp`;
    try {
      mkdirSync(join(cacheFile, '..'), { recursive: true });
      writeFileSync(temporary, JSON.stringify(content));
      renameSync(temporary, cacheFile); // atomic: a concurrent reader sees the old or the new index
    } catch {
      // A cache that cannot be written (read-only home, full disk) only costs the next run the
      // header pass; a partly written temporary file is removed, not left to pile up.
      try {
        rmSync(temporary, { force: true });
      } catch {
        // Nothing more to do: the next write uses the same name and replaces it.
      }
    }
  }
  const name = options.name ?? basename(root);
  const dataset = makeFileDataset({
    kind: 'files',
    name,
    shape: [imageSide, imageSide, 3],
    classes: listed.classNames.length,
    classNames: listed.classNames,
    root,
    files,
    sizes,
    resize,
    labels: Uint16Array.from(listed.labels),
    count,
    provenance: [
      `folder ${root} (${listed.layout}), split ${split === 'train' ? 'train' : 'val'}: ${count} images of ${listed.classNames.length} classes`,
      `evaluation transform: resize ${resize}, centre crop ${imageSide}`,
    ],
  });
  return { dataset, headersRead, cacheFile };
}

/**
 * Split `split` of the folder data set at `dir` as a {@link FileDataset} (see the module's
 * comment for the layouts, the class order and the index cache).
 */
export function loadFolderSplit(
  dir: string,
  split: FolderSplit,
  options: FolderIndexOptions,
): FileDataset {
  return indexFolderSplit(dir, split, options).dataset;
}
