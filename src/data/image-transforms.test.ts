import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { randomStream } from '../core/random.js';
import {
  drawResizedCrop,
  evalGeometry,
  flipHorizontal,
  resampleBilinear,
  roundHalfEven,
  type Box,
  type RgbImage,
} from './image-transforms.js';

/** Debian's Python, which has Pillow (the pyenv one on PATH does not). */
const PYTHON = '/usr/bin/python3';
const hasPillow =
  existsSync(PYTHON) &&
  (() => {
    try {
      execFileSync(PYTHON, ['-c', 'import PIL'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

/**
 * The oracle: Pillow itself. Each case is an image, a crop box (or none), an output size and,
 * for the evaluation transform, torchvision's Resize + CenterCrop written out in Python.
 */
const ORACLE = `
import sys, json, base64
from PIL import Image
out = []
for case in json.load(sys.stdin):
    img = Image.frombytes('RGB', (case['width'], case['height']), base64.b64decode(case['data']))
    if case['kind'] == 'resize':
        if case['box'] is not None:
            l, t, w, h = case['box']
            img = img.crop((l, t, l + w, t + h))
        img = img.resize((case['outWidth'], case['outHeight']), Image.BILINEAR)
    else:
        size, crop = case['resize'], case['crop']
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), Image.BILINEAR)
        top = int(round((new_h - crop) / 2.0))
        left = int(round((new_w - crop) / 2.0))
        img = img.crop((left, top, left + crop, top + crop))
    out.append(base64.b64encode(img.tobytes()).decode())
print(json.dumps(out))
`;

type Case =
  | { kind: 'resize'; image: RgbImage; box: Box | undefined; outWidth: number; outHeight: number }
  | { kind: 'eval'; image: RgbImage; resize: number; crop: number };

function pillow(cases: readonly Case[]): Buffer[] {
  const input = cases.map((c) => ({
    ...c,
    image: undefined,
    width: c.image.width,
    height: c.image.height,
    data: Buffer.from(c.image.data).toString('base64'),
    box: c.kind === 'resize' && c.box ? [c.box.left, c.box.top, c.box.width, c.box.height] : null,
  }));
  const output = execFileSync(PYTHON, ['-c', ORACLE], {
    input: JSON.stringify(input),
    maxBuffer: 1 << 26,
  });
  return (JSON.parse(output.toString()) as string[]).map((b) => Buffer.from(b, 'base64'));
}

/** Random pixels with some smooth structure (so rounding paths other than noise are exercised). */
function randomImage(width: number, height: number, seed: number): RgbImage {
  const stream = randomStream(seed, 'test/image');
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        data[(y * width + x) * 3 + c] =
          c === 0 ? stream.int(0, 255) : c === 1 ? (x * 7 + y * 3) & 255 : stream.int(0, 1) * 255;
  return { data, width, height };
}

describe.skipIf(!hasPillow)('Pillow BILINEAR, byte for byte', () => {
  test('up- and down-scaling, odd sizes, boxes at the edges, identity axes', () => {
    const cases: Case[] = [
      {
        kind: 'resize',
        image: randomImage(37, 23, 1),
        box: undefined,
        outWidth: 16,
        outHeight: 16,
      },
      { kind: 'resize', image: randomImage(13, 9, 2), box: undefined, outWidth: 40, outHeight: 31 },
      {
        kind: 'resize',
        image: randomImage(61, 45, 3),
        box: undefined,
        outWidth: 61,
        outHeight: 20,
      },
      { kind: 'resize', image: randomImage(29, 50, 4), box: undefined, outWidth: 7, outHeight: 50 },
      {
        kind: 'resize',
        image: randomImage(53, 41, 5),
        box: { left: 0, top: 0, width: 20, height: 41 },
        outWidth: 24,
        outHeight: 24,
      },
      {
        kind: 'resize',
        image: randomImage(53, 41, 6),
        box: { left: 40, top: 30, width: 13, height: 11 },
        outWidth: 24,
        outHeight: 24,
      },
      {
        kind: 'resize',
        image: randomImage(47, 33, 7),
        box: { left: 3, top: 5, width: 1, height: 2 },
        outWidth: 9,
        outHeight: 9,
      },
      {
        kind: 'resize',
        image: randomImage(300, 17, 8),
        box: { left: 11, top: 1, width: 289, height: 15 },
        outWidth: 5,
        outHeight: 3,
      },
    ];
    const expected = pillow(cases);
    cases.forEach((c, i) => {
      if (c.kind !== 'resize') return;
      const actual = resampleBilinear(c.image, c.box, c.outWidth, c.outHeight);
      expect(Buffer.compare(Buffer.from(actual.data), expected[i]!), `case ${i}`).toBe(0);
    });
  });

  test('the evaluation transform: torchvision Resize + CenterCrop, computed on the window only', () => {
    const cases: Case[] = [
      { kind: 'eval', image: randomImage(45, 31, 11), resize: 24, crop: 20 },
      { kind: 'eval', image: randomImage(31, 45, 12), resize: 24, crop: 21 },
      { kind: 'eval', image: randomImage(20, 20, 13), resize: 20, crop: 17 },
      { kind: 'eval', image: randomImage(17, 60, 14), resize: 33, crop: 32 },
      { kind: 'eval', image: randomImage(59, 58, 15), resize: 25, crop: 24 },
    ];
    const expected = pillow(cases);
    cases.forEach((c, i) => {
      if (c.kind !== 'eval') return;
      const g = evalGeometry(c.image.width, c.image.height, c.resize, c.crop);
      const actual = resampleBilinear(c.image, undefined, g.width, g.height, g.crop);
      expect([actual.width, actual.height]).toEqual([c.crop, c.crop]);
      expect(Buffer.compare(Buffer.from(actual.data), expected[i]!), `case ${i}`).toBe(0);
    });
  });
});

describe('geometry', () => {
  test('Python rounding: halves to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.6].map(roundHalfEven)).toEqual([
      0, 2, 2, -0, -2, 2, 3,
    ]);
  });

  test('the evaluation crop: shorter side to resize, the longer truncated, centred with half to even', () => {
    // 45×31: 31 → 24, 45 → int(24·45/31) = 34; left round((34 − 20)/2) = 7, top round(2) = 2.
    expect(evalGeometry(45, 31, 24, 20)).toEqual({
      width: 34,
      height: 24,
      crop: { top: 2, left: 7, width: 20, height: 20 },
    });
    // 25 − 20 = 5: round(2.5) = 2 (half to even), not 3.
    expect(evalGeometry(20, 25, 20, 20).crop).toEqual({ top: 2, left: 0, width: 20, height: 20 });
    expect(() => evalGeometry(40, 40, 16, 20)).toThrow(
      /^resize: expected at least the crop size 20/,
    );
  });

  test('random resized crops lie inside the image within the scale and ratio bounds', () => {
    const stream = randomStream(3, 'augmentation');
    const ranges = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] } as const;
    for (const [w, h] of [
      [50, 40],
      [17, 200],
      [500, 375],
      [3, 3],
    ] as const) {
      for (let i = 0; i < 100; i++) {
        const box = drawResizedCrop(w, h, ranges, stream);
        expect(box.top).toBeGreaterThanOrEqual(0);
        expect(box.left).toBeGreaterThanOrEqual(0);
        expect(box.width).toBeGreaterThan(0);
        expect(box.height).toBeGreaterThan(0);
        expect(box.left + box.width).toBeLessThanOrEqual(w);
        expect(box.top + box.height).toBeLessThanOrEqual(h);
        const fallback =
          (box.width === w || box.height === h) &&
          box.top === Math.floor((h - box.height) / 2) &&
          box.left === Math.floor((w - box.width) / 2);
        if (!fallback) {
          // The drawn real sides w' = √(A·r), h' = √(A/r) are within 0.5 of the rounded ones,
          // with A ≥ 0.08·area and r in [3/4, 4/3].
          const { width: bw, height: bh } = box;
          expect((bw + 0.5) * (bh + 0.5)).toBeGreaterThanOrEqual(0.08 * w * h);
          expect((bw + 0.5) / Math.max(bh - 0.5, 1e-9)).toBeGreaterThanOrEqual(3 / 4);
          expect((bw - 0.5) / (bh + 0.5)).toBeLessThanOrEqual(4 / 3);
        }
      }
    }
  });

  test('when no attempt fits, the central crop clamped to the ratio range', () => {
    // A scale range above 1 never fits: the fallback is what is left.
    const ranges = { scale: [4, 4], ratio: [3 / 4, 4 / 3] } as const;
    const stream = randomStream(1, 'augmentation');
    // Wide (ratio 4 > 4/3): full height, width round(h · 4/3), centred.
    expect(drawResizedCrop(200, 50, ranges, stream)).toEqual({
      top: 0,
      left: Math.floor((200 - 67) / 2),
      height: 50,
      width: 67,
    });
    // Tall (ratio 0.25 < 3/4): full width, height round(w / (3/4)).
    expect(drawResizedCrop(30, 120, ranges, stream)).toEqual({
      top: Math.floor((120 - 40) / 2),
      left: 0,
      height: 40,
      width: 30,
    });
    // Within the range: the whole image.
    expect(drawResizedCrop(40, 36, ranges, stream)).toEqual({
      top: 0,
      left: 0,
      height: 36,
      width: 40,
    });
  });

  test('flip mirrors rows', () => {
    const image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), width: 3, height: 1 };
    expect(Array.from(flipHorizontal(image).data)).toEqual([7, 8, 9, 4, 5, 6, 1, 2, 3]);
  });
});
