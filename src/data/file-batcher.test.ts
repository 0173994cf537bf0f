import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomStream } from '../core/random.js';
import { drawAugmentation, NORMALIZATIONS, RESIZED_CROP_AUGMENTATION } from './batches.js';
import { fileBatch } from './file-batcher.js';
import { loadFolderSplit } from './folder.js';
import { hasPillow, PYTHON } from './pillow-testing.js';

/**
 * The oracle, written from the shared semantics with Pillow: open + convert('RGB'), then either
 * torchvision's Resize + CenterCrop or the given box resized and flipped, then
 * (v/255 − mean)/std per channel as float32.
 */
const ORACLE = `
import sys, json, base64
from array import array
from PIL import Image
req = json.load(sys.stdin)
mean, std, size, resize = req['mean'], req['std'], req['size'], req['resize']
out = array('f')
labels = []
for item in req['items']:
    img = Image.open(item['path']).convert('RGB')
    choice = item['choice']
    if choice is None:
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        new_w, new_h = (resize, int(resize * long / short)) if w <= h else (int(resize * long / short), resize)
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), Image.BILINEAR)
        top = int(round((new_h - size) / 2.0)); left = int(round((new_w - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
    else:
        top, left, height, width, flip = choice
        img = img.crop((left, top, left + width, top + height)).resize((size, size), Image.BILINEAR)
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
    data = img.tobytes()
    for i, v in enumerate(data):
        c = i % 3
        out.append((v / 255 - mean[c]) / std[c])
sys.stdout.write(base64.b64encode(out.tobytes()).decode())
`;

let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cyclesparse-file-batcher-'));
  const sizes: [number, number][] = [
    [45, 31],
    [29, 52],
    [40, 40],
  ];
  for (const [c, name] of ['a', 'b'].entries()) {
    for (const split of ['train', 'val']) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (const [i, [w, h]] of sizes.entries()) {
        const stream = randomStream(10 * c + i, `test/${split}`);
        const pixels = Buffer.alloc(w * h * 3);
        for (let p = 0; p < pixels.length; p++)
          pixels[p] = (p % 3 === 0 ? (p / 3) % w : stream.int(0, 255)) & 255;
        const image = sharp(pixels, { raw: { width: w, height: h, channels: 3 } });
        const file = join(dir, split, name, `${i}.${i === 2 ? 'png' : 'jpg'}`);
        writeFileSync(
          file,
          i === 2 ? await image.png().toBuffer() : await image.jpeg({ quality: 90 }).toBuffer(),
        );
      }
    }
  }
  // A CMYK JPEG and one with a Display P3 profile: Pillow ignores the profile, converts CMYK
  // with its own formula.
  const pixels = Buffer.from(Array.from({ length: 33 * 27 * 3 }, (_, i) => (i * 37) & 255));
  const raw = () => sharp(pixels, { raw: { width: 33, height: 27, channels: 3 } });
  writeFileSync(
    join(dir, 'train', 'a', '3.jpg'),
    await raw().toColourspace('cmyk').jpeg().toBuffer(),
  );
  writeFileSync(
    join(dir, 'train', 'b', '3.jpg'),
    await raw().withIccProfile('p3').jpeg().toBuffer(),
  );
  // A 16-bit greyscale PNG (Pillow: mode "I", clipped to 0..255 by convert('RGB')), values
  // below and above 255.
  const grey = Buffer.alloc(23 * 19 * 2);
  const noise = randomStream(5, 'test/grey16');
  for (let i = 0; i < 23 * 19; i++)
    grey.writeUInt16BE(i % 2 === 0 ? noise.int(0, 400) : noise.int(0, 65535), 2 * i);
  writeFileSync(join(dir, 'train', 'b', '4.png'), png(23, 19, 16, 0, grey));
});

/** A PNG written by hand (sharp cannot write 16-bit greyscale from raw): IHDR, IDAT, IEND. */
function png(width: number, height: number, depth: number, colour: number, rows: Buffer): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = depth;
  header[9] = colour;
  const stride = rows.length / height;
  const filtered = Buffer.concat(
    Array.from({ length: height }, (_, y) =>
      Buffer.concat([Buffer.from([0]), rows.subarray(y * stride, (y + 1) * stride)]),
    ),
  );
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(filtered)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasPillow)('file batches, end to end against Pillow', () => {
  test('evaluation transform and augmented boxes (crop, resize, flip, normalise) are identical', async () => {
    const cacheDir = join(dir, 'cache');
    const dataset = loadFolderSplit(dir, 'train', { imageSize: 16, resize: 20, cacheDir });
    const normalization = NORMALIZATIONS.imagenet;
    const indices = Uint32Array.from({ length: dataset.count }, (_, i) => i);
    expect(dataset.count).toBe(9);
    const augmentation = drawAugmentation(
      RESIZED_CROP_AUGMENTATION,
      dataset,
      indices,
      randomStream(7, 'augmentation'),
    )!;
    augmentation[4] = 1; // one flip for certain
    for (const choices of [null, augmentation]) {
      const batch = await fileBatch(dataset, normalization, indices, choices);
      expect(batch.size).toBe(9);
      expect(Array.from(batch.labels)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1]);
      const request = {
        mean: normalization.mean,
        std: normalization.std,
        size: 16,
        resize: 20,
        items: Array.from(indices, (index, n) => ({
          path: join(dataset.root, dataset.files[index]!),
          choice: choices === null ? null : Array.from(choices.subarray(5 * n, 5 * n + 5)),
        })),
      };
      const expected = Buffer.from(
        execFileSync(PYTHON, ['-c', ORACLE], { input: JSON.stringify(request) }).toString(),
        'base64',
      );
      const actual = Buffer.from(
        batch.images.buffer,
        batch.images.byteOffset,
        batch.images.byteLength,
      );
      expect(Buffer.compare(actual, expected)).toBe(0);
    }
  });
});

describe('file batch errors', () => {
  test('a truncated image fails naming the file; a size that changed since indexing too', async () => {
    const root = join(dir, 'broken');
    mkdirSync(join(root, 'train', 'x'), { recursive: true });
    const stream = randomStream(1, 'test/noise');
    const pixels = Buffer.from(Array.from({ length: 40 * 30 * 3 }, () => stream.int(0, 255)));
    const jpeg = await sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } })
      .jpeg()
      .toBuffer();
    writeFileSync(join(root, 'train', 'x', 'whole.jpg'), jpeg);
    writeFileSync(join(root, 'train', 'x', 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    const dataset = loadFolderSplit(root, 'train', {
      imageSize: 8,
      resize: 8,
      cacheDir: join(dir, 'cache'),
    });
    expect(dataset.files).toEqual(['train/x/cut.jpg', 'train/x/whole.jpg']);
    await expect(fileBatch(dataset, NORMALIZATIONS.imagenet, [0], null)).rejects.toThrow(
      /broken\/train\/x\/cut\.jpg: cannot be decoded/,
    );
    const resized = await sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } })
      .resize(30, 30)
      .jpeg()
      .toBuffer();
    writeFileSync(join(root, 'train', 'x', 'whole.jpg'), resized);
    await expect(fileBatch(dataset, NORMALIZATIONS.imagenet, [1], null)).rejects.toThrow(
      /whole\.jpg: decoded as 30×30, indexed as 40×30/,
    );
  });
});
