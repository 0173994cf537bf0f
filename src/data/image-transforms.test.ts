import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { randomStream, type RandomStream } from '../core/random.js';
import {
  drawResizedCrop,
  evalGeometry,
  flipHorizontal,
  resampleBilinear,
  roundHalfEven,
  type Box,
  type RgbImage,
} from './image-transforms.js';
import { hasPillow, PYTHON } from './pillow-testing.js';

/** A value `drawResizedCrop` took from its stream. */
type Draw =
  { kind: 'float'; value: number } | { kind: 'int'; min: number; max: number; value: number };

/**
 * `stream`, with every float and integer it gives pushed onto `draws` (any other draw throws):
 * what the Python replay of torchvision's algorithm is fed.
 */
function recording(stream: RandomStream, draws: Draw[]): RandomStream {
  const float = stream.float.bind(stream);
  const int = stream.int.bind(stream);
  stream.float = () => {
    const value = float();
    draws.push({ kind: 'float', value });
    return value;
  };
  stream.int = (min: number, max: number) => {
    const value = int(min, max);
    draws.push({ kind: 'int', min, max, value });
    return value;
  };
  const refuse = (): never => {
    throw new Error('drawResizedCrop drew something other than floats and integers');
  };
  stream.normal = refuse;
  stream.nextUint32 = refuse;
  stream.fillUniform = refuse;
  stream.permutation = refuse;
  return stream;
}

/**
 * torchvision 0.14's `RandomResizedCrop.get_params`, transcribed line by line (torchvision is
 * not installed here), its random numbers replayed: `torch.empty(1).uniform_(a, b)` is
 * a + (b − a)·u for the next recorded float u, and `torch.randint(low, high)` (high excluded)
 * the next recorded integer, which must have been drawn from exactly [low, high − 1]. Every
 * recorded draw must be used.
 */
const GET_PARAMS_ORACLE = `
import sys, json, math

class Replay:
    def __init__(self, draws):
        self.draws, self.at = draws, 0
    def next(self, kind):
        d = self.draws[self.at]
        self.at += 1
        assert d['kind'] == kind, (kind, d)
        return d
    def uniform(self, low, high):
        return low + (high - low) * self.next('float')['value']
    def randint(self, low, high):
        d = self.next('int')
        assert (d['min'], d['max']) == (low, high - 1), (d, low, high)
        return d['value']

def get_params(width, height, scale, ratio, rng):
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = rng.randint(0, height - h + 1)
            j = rng.randint(0, width - w + 1)
            return i, j, h, w
    # Fallback to central crop
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:  # whole image
        w = width
        h = height
    i = (height - h) // 2
    j = (width - w) // 2
    return i, j, h, w

boxes = []
for case in json.load(sys.stdin):
    rng = Replay(case['draws'])
    boxes.append(list(get_params(case['width'], case['height'], case['scale'], case['ratio'], rng)))
    assert rng.at == len(case['draws']), case
json.dump(boxes, sys.stdout)
`;

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

  test.skipIf(!existsSync(PYTHON))(
    "boxes equal torchvision's RandomResizedCrop.get_params (a Python transcription) replaying the same draws",
    () => {
      const draws: Draw[] = [];
      const stream = recording(randomStream(11, 'augmentation'), draws);
      // Forced fallbacks too: a stream whose floats are all near 1 (the largest area and ratio).
      const high = recording(randomStream(12, 'augmentation'), draws);
      high.float = () => {
        draws.push({ kind: 'float', value: 0.999999 });
        return 0.999999;
      };
      const sizes: [number, number][] = [
        [1, 1],
        [1, 500],
        [500, 1],
        [2, 1],
        [1, 2],
        [3, 3],
        [4, 3],
        [224, 224],
        [500, 375],
        [375, 500],
        [32767, 1],
        [10, 10],
        [50, 50],
      ];
      const pick = randomStream(13, 'test/sizes');
      while (sizes.length < 300) {
        // Log-uniform sides from 1 to ~3000: tiny, extreme and photo-like shapes.
        const side = () => Math.max(1, Math.round(Math.exp(pick.float() * 8)));
        sizes.push([side(), side()]);
      }
      const rangeSets = [
        { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
        { scale: [0.5, 1], ratio: [1, 1] },
        { scale: [0.9, 1], ratio: [2, 3] },
        { scale: [4, 4], ratio: [3 / 4, 4 / 3] }, // never fits: always the fallback
        // Sides of exactly k + 0.5 on 10×10 and 50×50 (√6.25, √156.25): half to even.
        { scale: [0.0625, 0.0625], ratio: [1, 1] },
      ] as const;
      const cases: {
        width: number;
        height: number;
        scale: readonly number[];
        ratio: readonly number[];
        draws: Draw[];
        box: number[];
      }[] = [];
      for (const [width, height] of sizes)
        for (const ranges of rangeSets)
          for (const source of [stream, high]) {
            draws.length = 0;
            const box = drawResizedCrop(width, height, ranges, source);
            cases.push({
              width,
              height,
              ...ranges,
              draws: [...draws],
              box: [box.top, box.left, box.height, box.width],
            });
          }
      const expected = JSON.parse(
        execFileSync(PYTHON, ['-c', GET_PARAMS_ORACLE], {
          input: JSON.stringify(cases),
        }).toString(),
      ) as number[][];
      expect(cases.map((c) => c.box)).toEqual(expected);
      // Both ways out were taken: boxes after a few attempts, and fallbacks.
      const drawn = cases.filter((c) => c.draws.some((d) => d.kind === 'int'));
      expect(drawn.some((c) => c.draws.length > 4)).toBe(true);
      expect(cases.length - drawn.length).toBeGreaterThan(300);
      expect(cases.filter((c) => c.width === 10 && c.box[2] === 2).length).toBeGreaterThan(0);
    },
  );

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
