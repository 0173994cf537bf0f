/**
 * The image transforms of a folder data set, exactly as the PyTorch side computes them with
 * Pillow and torchvision (data/folder.ts describes the semantics both engines share):
 *
 * - {@link resampleBilinear}: Pillow's `Image.resize(size, BILINEAR)` on uint8 RGB, bit for bit.
 *   Written by hand because no npm library reproduces Pillow's resample (sharp/libvips, jimp and
 *   canvas all use other kernels, rounding or pass orders), and both engines must see identical
 *   pixels. It follows Pillow's `libImaging/Resample.c`: an antialiased triangle filter whose
 *   support grows with the downscale factor, coefficients normalised and rounded to 22-bit fixed
 *   point, a horizontal pass (uint8, rounded and clipped) then a vertical pass, each pass skipped
 *   when that axis keeps its size.
 * - {@link evalGeometry}: torchvision's `Resize(resize)` then `CenterCrop(size)`.
 * - {@link drawResizedCrop}: torchvision's `RandomResizedCrop.get_params`, drawing from a
 *   {@link RandomStream} (TypeScript owns every random choice).
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { RandomStream } from '../core/random.js';

/** Pillow's PRECISION_BITS for 8-bit images: 32 − 8 − 2. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Pillow's `bilinear_filter`: the triangle kernel, support 1. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

interface Coefficients {
  /** Per output pixel: first input pixel and how many are used. */
  readonly first: Int32Array;
  readonly count: Int32Array;
  /** `ksize` fixed-point weights per output pixel. */
  readonly weights: Int32Array;
  readonly ksize: number;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a box [0, inSize) → outSize. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) truncates toward zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, weights, ksize };
}

/** Pillow's `clip8`: a fixed-point sum to a byte. */
function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/** An RGB uint8 image, HWC, with its size. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** A rectangle of an image: `left`, `top`, `width`, `height` in pixels. */
export interface Box {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** The part of the output to compute (the rest of a resize that is then cropped is not needed). */
export interface Window {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

function requireBox(box: Box, image: RgbImage, what: string): void {
  const ok =
    Number.isInteger(box.left) &&
    Number.isInteger(box.top) &&
    Number.isInteger(box.width) &&
    Number.isInteger(box.height) &&
    box.left >= 0 &&
    box.top >= 0 &&
    box.width >= 1 &&
    box.height >= 1 &&
    box.left + box.width <= image.width &&
    box.top + box.height <= image.height;
  if (!ok)
    throw new InvalidArgumentError(
      what,
      `a box inside the ${image.width}×${image.height} image`,
      box,
    );
}

/**
 * Pillow's `image.crop(box).resize((outWidth, outHeight), Image.BILINEAR)` on RGB uint8 (the
 * whole image when `box` is absent), computing only `window` of the output (default all of it):
 * `resampleBilinear(img, undefined, W, H, crop)` equals resizing to W×H then cropping `crop`,
 * as each output pixel depends only on its own row's and column's coefficients.
 */
export function resampleBilinear(
  image: RgbImage,
  box: Box | undefined,
  outWidth: number,
  outHeight: number,
  window: Window = { left: 0, top: 0, width: outWidth, height: outHeight },
): RgbImage {
  const crop = box ?? { left: 0, top: 0, width: image.width, height: image.height };
  requireBox(crop, image, 'box');
  if (!(
    Number.isInteger(outWidth) &&
    outWidth >= 1 &&
    Number.isInteger(outHeight) &&
    outHeight >= 1
  ))
    throw new InvalidArgumentError('size', 'positive integers', [outWidth, outHeight]);
  requireBox(window, { data: image.data, width: outWidth, height: outHeight }, 'window');
  const src = image.data;
  const stride = image.width * 3;
  // Pillow skips a pass whose axis keeps its size (a copy); the identity coefficients would give
  // the same bytes, skipping is just faster.
  const horizontal = outWidth !== crop.width;
  const vertical = outHeight !== crop.height;
  const v = vertical ? coefficients(crop.height, outHeight) : undefined;
  // Rows of the crop the vertical pass reads for the window's rows.
  let rowFirst = window.top;
  let rowEnd = window.top + window.height;
  if (v !== undefined) {
    rowFirst = Infinity;
    rowEnd = 0;
    for (let yy = window.top; yy < window.top + window.height; yy++) {
      rowFirst = Math.min(rowFirst, v.first[yy]!);
      rowEnd = Math.max(rowEnd, v.first[yy]! + v.count[yy]!);
    }
  }
  const rows = rowEnd - rowFirst;
  // Horizontal pass: rows [rowFirst, rowEnd) of the crop, the window's columns.
  const mid = new Uint8Array(rows * window.width * 3);
  if (horizontal) {
    const h = coefficients(crop.width, outWidth);
    for (let y = 0; y < rows; y++) {
      const line = (crop.top + rowFirst + y) * stride + crop.left * 3;
      for (let x = 0; x < window.width; x++) {
        const xx = window.left + x;
        const xmin = h.first[xx]!;
        const n = h.count[xx]!;
        const base = xx * h.ksize;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let i = 0; i < n; i++) {
          const w = h.weights[base + i]!;
          const p = line + (xmin + i) * 3;
          s0 += src[p]! * w;
          s1 += src[p + 1]! * w;
          s2 += src[p + 2]! * w;
        }
        const o = (y * window.width + x) * 3;
        mid[o] = clip8(s0);
        mid[o + 1] = clip8(s1);
        mid[o + 2] = clip8(s2);
      }
    }
  } else {
    for (let y = 0; y < rows; y++) {
      const from = (crop.top + rowFirst + y) * stride + (crop.left + window.left) * 3;
      mid.set(src.subarray(from, from + window.width * 3), y * window.width * 3);
    }
  }
  if (v === undefined) return { data: mid, width: window.width, height: window.height };
  const out = new Uint8Array(window.width * window.height * 3);
  const midStride = window.width * 3;
  for (let y = 0; y < window.height; y++) {
    const yy = window.top + y;
    const ymin = v.first[yy]! - rowFirst;
    const n = v.count[yy]!;
    const base = yy * v.ksize;
    for (let x = 0; x < window.width; x++) {
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let i = 0; i < n; i++) {
        const w = v.weights[base + i]!;
        const p = (ymin + i) * midStride + x * 3;
        s0 += mid[p]! * w;
        s1 += mid[p + 1]! * w;
        s2 += mid[p + 2]! * w;
      }
      const o = (y * window.width + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { data: out, width: window.width, height: window.height };
}

/** Python's `round(x)` on a float: to the nearest integer, halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `Resize(resize)` (shorter side to `resize`, the longer `int(resize·long/short)`)
 * then `CenterCrop((cropHeight, cropWidth))` (top `int(round((H' − cropHeight) / 2))`, left likewise) for an image of
 * `width` × `height`: the resized size and the crop window (`cropHeight` × `cropWidth`) in it.
 */
export function evalGeometry(
  width: number,
  height: number,
  resize: number,
  cropHeight: number,
  cropWidth: number = cropHeight,
): { readonly width: number; readonly height: number; readonly crop: Window } {
  // torchvision pads a crop larger than the image; a resize below the crop is refused instead.
  if (resize < Math.max(cropHeight, cropWidth))
    throw new InvalidArgumentError(
      'resize',
      `at least the crop size ${Math.max(cropHeight, cropWidth)}`,
      resize,
    );
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((resize * long) / short);
  const [w, h] = width <= height ? [resize, newLong] : [newLong, resize];
  return {
    width: w,
    height: h,
    crop: {
      top: roundHalfEven((h - cropHeight) / 2),
      left: roundHalfEven((w - cropWidth) / 2),
      width: cropWidth,
      height: cropHeight,
    },
  };
}

/** Scale and aspect-ratio ranges of a random resized crop. */
export interface ResizedCropRanges {
  readonly scale: readonly [number, number];
  readonly ratio: readonly [number, number];
}

/**
 * torchvision's `RandomResizedCrop.get_params` for an image of `width` × `height`, its uniform
 * draws from `stream`: up to 10 attempts of an area fraction in `scale` and a log-uniform aspect
 * ratio in `ratio` (two draws each, then two more for the position when the box fits), else
 * the central crop clamped to `ratio`. Rounding is Python's `int(round(.))`.
 */
export function drawResizedCrop(
  width: number,
  height: number,
  ranges: ResizedCropRanges,
  stream: RandomStream,
): { top: number; left: number; height: number; width: number } {
  const area = width * height;
  const [s0, s1] = ranges.scale;
  const [r0, r1] = ranges.ratio;
  const logR0 = Math.log(r0);
  const logR1 = Math.log(r1);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (s0 + (s1 - s0) * stream.float());
    const aspect = Math.exp(logR0 + (logR1 - logR0) * stream.float());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = stream.int(0, height - h);
      const left = stream.int(0, width - w);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(r0, r1)) {
    h = roundHalfEven(w / Math.min(r0, r1));
  } else if (inRatio > Math.max(r0, r1)) {
    w = roundHalfEven(h * Math.max(r0, r1));
  }
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}

/** Mirrors an RGB image left to right, in place. */
export function flipHorizontal(image: RgbImage): RgbImage {
  const { data, width, height } = image;
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width >> 1; x++) {
      const a = row + x * 3;
      const b = row + (width - 1 - x) * 3;
      for (let c = 0; c < 3; c++) {
        const t = data[a + c]!;
        data[a + c] = data[b + c]!;
        data[b + c] = t;
      }
    }
  }
  return image;
}
