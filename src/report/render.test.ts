import { createHash } from 'node:crypto';
import { Resvg } from '@resvg/resvg-js';
import { unzlibSync } from 'fflate';
import { describe, expect, test } from 'vitest';
import type { Spec } from './plots.js';
import { renderSvg, svgToPng } from './render.js';

/**
 * An RGBA PNG decoded by hand (chunks, zlib, the five row filters of the PNG specification), so
 * the pixels checked come from the bytes svgToPng wrote, not from resvg's own buffer.
 */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  expect([png[24], png[25]]).toEqual([8, 6]); // 8-bit RGBA, what resvg writes
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT')
      idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = unzlibSync(Buffer.concat(idat));
  const stride = width * 4;
  const rgba = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x]!;
      const left = x >= 4 ? rgba[y * stride + x - 4]! : 0;
      const up = y > 0 ? rgba[(y - 1) * stride + x]! : 0;
      const upLeft = x >= 4 && y > 0 ? rgba[(y - 1) * stride + x - 4]! : 0;
      const paeth = () => {
        const p = left + up - upLeft;
        const [a, b, c] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        return a <= b && a <= c ? left : b <= c ? up : upLeft;
      };
      const predicted = [0, left, up, (left + up) >> 1, paeth()][filter]!;
      rgba[y * stride + x] = (value + predicted) & 0xff;
    }
  }
  return { width, height, rgba };
}

/** Pixels darker than mid-grey: the plot's black text (the spec below draws nothing else dark). */
function darkPixels({ rgba }: { rgba: Uint8Array }): number {
  let dark = 0;
  for (let i = 0; i < rgba.length; i += 4)
    if (rgba[i]! + rgba[i + 1]! + rgba[i + 2]! < 3 * 100 && rgba[i + 3]! > 128) dark++;
  return dark;
}

/** A plot that is only a title, in black: every dark pixel is text. */
const TITLE_ONLY = {
  title: { text: 'Reproducible text', fontSize: 32, color: '#000' },
  data: { values: [] },
  mark: 'point',
  width: 300,
  height: 20,
  config: { view: { stroke: null } },
} as Spec;

describe('PNG text in the bundled font', () => {
  test('every text element of the SVG asks for DejaVu Sans', async () => {
    const svg = await renderSvg(TITLE_ONLY);
    const families = [...svg.matchAll(/font-family="([^"]*)"/g)].map((m) => m[1]);
    expect(families.length).toBeGreaterThan(0);
    expect(new Set(families)).toEqual(new Set(['DejaVu Sans']));
  });

  test('a title renders as dark pixels, which it would not without the bundled fonts', async () => {
    const svg = await renderSvg(TITLE_ONLY);
    const png = decodePng(svgToPng(svg));
    expect(png.width).toBe(1200);
    const withFonts = darkPixels(png);
    // Rendering the same SVG with no font files and the system's fonts off draws no text at all:
    // the dark pixels above come from the fonts svgToPng hands resvg, not from this machine.
    const noFonts = new Resvg(svg, {
      fitTo: { mode: 'width', value: 1200 },
      background: 'white',
      font: { loadSystemFonts: false },
    }).render();
    expect(darkPixels({ rgba: noFonts.pixels })).toBe(0);
    // 17 glyphs at 32 px scaled ~3.8×: thousands of pixels (a box of one glyph alone is ~10,000).
    expect(withFonts).toBeGreaterThan(5000);
  });

  test('the PNG bytes are pinned: the same on every machine, whatever fonts it has', async () => {
    // Computed once on the development machine; CI (another machine, other system fonts) must
    // produce the same bytes. A resvg or vega upgrade may change it: look at the PNG, then update.
    const svg = await renderSvg(TITLE_ONLY);
    const digest = createHash('sha256').update(svgToPng(svg)).digest('hex');
    expect(digest).toBe('2019c142cb5e6fa1deafe6999350accf16c4143a30b2146a05d1e5cedcb0c39a');
  });
});
