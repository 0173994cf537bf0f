/**
 * Rendering a vega-lite spec without a browser: SVG by vega (renderer 'none', seeded random
 * source, so the same spec gives the same file), PNG from the SVG by resvg. Text is set in DejaVu
 * Sans, which we bundle (dejavu-fonts-ttf) and hand to resvg with the system's fonts off: a PNG is
 * the same on every machine, and has text even where no font is installed.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { Spec } from './plots.js';

/** The family every plot's text is set in, in the SVG/PNG and in the HTML page alike. */
export const PLOT_FONT = 'DejaVu Sans';

/** vega-lite config giving every text mark, title, axis and legend the bundled font. */
export const FONT_CONFIG = { font: PLOT_FONT } as const;

const fontDir = join(
  dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')),
  'ttf',
);

/** The bundled font files: regular for labels, bold for titles (vega draws titles bold). */
export const PLOT_FONT_FILES = {
  regular: join(fontDir, 'DejaVuSans.ttf'),
  bold: join(fontDir, 'DejaVuSans-Bold.ttf'),
} as const;

/** The spec with the bundled font as its default; the spec's own config still wins. */
export function withPlotFont(spec: Spec): Spec {
  return { ...spec, config: { ...FONT_CONFIG, ...spec.config } };
}

/** SVG of a vega-lite spec, rendered without a browser; deterministic. */
export async function renderSvg(spec: Spec): Promise<string> {
  // vega's typings omit its seeded random source (present at run time since vega 5).
  const seeded = vega as unknown as {
    setRandom(random: () => number): void;
    randomLCG(seed: number): () => number;
  };
  seeded.setRandom(seeded.randomLCG(0));
  const view = new vega.View(vega.parse(vegaLite.compile(withPlotFont(spec)).spec), {
    renderer: 'none',
  });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** resvg's font options: the bundled files only, so no system font can change a pixel. */
export const PNG_FONT_OPTIONS: NonNullable<ResvgRenderOptions['font']> = {
  fontFiles: [PLOT_FONT_FILES.regular, PLOT_FONT_FILES.bold],
  loadSystemFonts: false,
  defaultFontFamily: PLOT_FONT,
  sansSerifFamily: PLOT_FONT,
};

/** PNG of a plot's SVG, 1200 px wide on white, text in the bundled font. */
export function svgToPng(svg: string): Buffer {
  return Buffer.from(
    new Resvg(svg, {
      fitTo: { mode: 'width', value: 1200 },
      background: 'white',
      font: PNG_FONT_OPTIONS,
    })
      .render()
      .asPng(),
  );
}
