/**
 * Rendering a vega-lite spec without a browser: SVG by vega (renderer 'none', seeded random
 * source, so the same spec gives the same file), PNG from the SVG by resvg.
 */

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { Spec } from './plots.js';

/** SVG of a vega-lite spec, rendered without a browser; deterministic. */
export async function renderSvg(spec: Spec): Promise<string> {
  // vega's typings omit its seeded random source (present at run time since vega 5).
  const seeded = vega as unknown as {
    setRandom(random: () => number): void;
    randomLCG(seed: number): () => number;
  };
  seeded.setRandom(seeded.randomLCG(0));
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function svgToPng(svg: string): Buffer {
  return Buffer.from(
    new Resvg(svg, { fitTo: { mode: 'width', value: 1200 }, background: 'white' }).render().asPng(),
  );
}
