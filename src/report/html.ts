/**
 * The report as one self-contained HTML page: its Markdown rendered with user text escaped and
 * verdicts coloured, and each plot embedded interactively with vega-embed (tooltips, the
 * checkboxes the specs bind). vega, vega-lite and vega-embed's browser builds and the bundled font
 * are inlined, so the page works from file:// with no network; the static SVG is the fallback
 * without JavaScript (<noscript>) and for a plot that fails to embed.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Marked } from 'marked';
import type { Spec } from './plots.js';
import { PLOT_FONT, PLOT_FONT_FILES, withPlotFont } from './render.js';

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

/** Links may go to http(s), mailto or a relative path; never a script or an entity trick. */
const safeHref = (href: string) =>
  !href.includes('&') && (/^(https?|mailto):/i.test(href) || !href.includes(':'));

/**
 * Images only from a relative path (a file beside the report; not `//host/…` or `/…`): the page
 * is read offline, and a remote image would be a request elsewhere each time it is opened.
 */
const safeImage = (href: string) => !/[&:]/.test(href) && !/^[/\\]/.test(href.trim());

/** The verdict words the report's tables write in bold (ClaimVerdict.verdict); each has a colour. */
export const VERDICT_WORDS = [
  'holds',
  'contradicted',
  'inconclusive',
  'missing',
  'run-failed',
  'diverged',
] as const;

/**
 * Markdown to HTML for reports. Claims files supply text that reaches the HTML (descriptions,
 * claim ids, paper references), and a report's own Markdown holds no HTML, so every `<` is made
 * an entity before parsing: no tag, raw HTML block or raw-text element can start (an HTML token
 * would be escaped anyway). A link to anything but http(s), mailto or a relative path, and an
 * image anywhere but a relative path, is rendered as its text. A bold verdict word gets a class its colour hangs on.
 */
const reportMarked = new Marked({
  async: false,
  hooks: { preprocess: (markdown) => markdown.replaceAll('<', '&lt;') },
  renderer: {
    html: ({ text }) => escapeHtml(text),
    link(token) {
      return safeHref(token.href) ? false : this.parser.parseInline(token.tokens);
    },
    image(token) {
      return safeImage(token.href) ? false : escapeHtml(token.text);
    },
    strong({ text }) {
      return (VERDICT_WORDS as readonly string[]).includes(text)
        ? `<strong class="verdict verdict-${text}">${text}</strong>`
        : false;
    },
  },
});

/** A report's Markdown as HTML, with user text escaped ({@link reportMarked}). */
export function reportHtml(markdown: string): string {
  return reportMarked.parse(markdown, { async: false });
}

/** One plot of the page: its name (file stem), vega-lite spec, and static SVG rendering. */
export interface ReportPlot {
  readonly name: string;
  readonly spec: Spec;
  readonly svg: string;
}

/**
 * JSON that can sit inside a <script> element: `<`, `>` and `&` as \u escapes (so a description
 * holding `</script>` or `<!--` cannot end or confuse the element), and U+2028/9 likewise.
 * JSON.parse reads it back unchanged.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const requireHere = createRequire(import.meta.url);

/** A browser build beside a package's entry point (all three ship them in build/). */
const browserBuild = (pkg: string, file: string) => join(dirname(requireHere.resolve(pkg)), file);

/** Read once per process: ~830 kB of JavaScript and ~1.5 MB of font that every page inlines. */
let inlined: { scripts: string[]; fontFaces: string } | undefined;

function inlinedAssets() {
  if (inlined) return inlined;
  const scripts = [
    browserBuild('vega', 'vega.min.js'),
    browserBuild('vega-lite', 'vega-lite.min.js'),
    browserBuild('vega-embed', 'vega-embed.min.js'),
  ].map((path) => {
    const code = readFileSync(path, 'utf8');
    // Inlined code must not end its own <script> element; none of these builds does today.
    if (/<\/script|<!--/i.test(code)) throw new Error(`${path} cannot be inlined in <script>`);
    return code;
  });
  const face = (path: string, weight: number) =>
    `@font-face{font-family:"${PLOT_FONT}";font-weight:${weight};font-style:normal;src:url(data:font/ttf;base64,${readFileSync(path).toString('base64')}) format("truetype")}`;
  inlined = {
    scripts,
    fontFaces: face(PLOT_FONT_FILES.regular, 400) + face(PLOT_FONT_FILES.bold, 700),
  };
  return inlined;
}

const STYLE = `
body{font-family:"${PLOT_FONT}",system-ui,sans-serif;font-size:15px;line-height:1.45;color:#1f2328;max-width:1200px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
code{font-size:.9em;background:#f3f4f6;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;margin:1em 0;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #d0d7de;padding:4px 8px;font-size:13px;vertical-align:top}
th{background:#f6f8fa;text-align:left}tbody tr:nth-child(even){background:#fafbfc}
td[align=right],th[align=right]{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{padding:1px 6px;border-radius:10px;white-space:nowrap}
.verdict-holds{color:#116329;background:#dafbe1}
.verdict-contradicted{color:#a40e26;background:#ffebe9}
.verdict-inconclusive{color:#7d4e00;background:#fff8c5}
.verdict-missing{color:#424a53;background:#eaeef2}
.verdict-run-failed,.verdict-diverged{color:#fff;background:#a40e26}
figure.plot{margin:2em 0}figure.plot figcaption{font-weight:bold;margin-bottom:.4em}
.vega-bindings{margin:.4em 0;font-size:13px}.vega-bind{display:inline-block;margin-right:1.5em}
`;

/**
 * Embeds every plot once the bundled font has loaded (vega measures text when it lays a plot
 * out). A plot that fails shows its static SVG (the <noscript> text, which is raw text when
 * scripts run) and logs why. `window.cyclesparseReport` resolves to each plot's outcome; the
 * browser test waits on it.
 */
const EMBED_SCRIPT = `
window.cyclesparseReport = (async () => {
  const plots = JSON.parse(document.getElementById('cyclesparse-plots').textContent);
  await Promise.all(['400', '700'].map((w) => document.fonts.load(w + ' 12px "${PLOT_FONT}"').catch(() => [])));
  return Promise.all(plots.map(async ({ name, spec }) => {
    const figure = document.getElementById('plot-' + name);
    const target = figure.querySelector('.plot-target');
    try {
      await vegaEmbed(target, spec, {
        renderer: 'svg',
        tooltip: true,
        actions: { export: true, source: true, compiled: false, editor: false },
      });
      return { name, ok: true };
    } catch (error) {
      console.error('plot ' + name + ' could not be embedded; showing its static SVG:', error);
      target.innerHTML = figure.querySelector('noscript').textContent;
      return { name, ok: false, error: String(error) };
    }
  }));
})();
`;

/**
 * The page's text, section by section (report.ts builds them): Markdown the report wrote, except
 * the description, which is the claims file's text and is shown as escaped text (paragraphs at
 * blank lines), never parsed.
 */
export interface ReportSections {
  /** The title line (Markdown). */
  readonly title: string;
  /** The suite's description: plain text. */
  readonly description: string;
  /** Headline, header, claims and cells tables (Markdown). */
  readonly summary: string;
  /** What else is beside the plots (Markdown), after them. */
  readonly plotFiles: string;
  /** The runs of each cell (Markdown), last. */
  readonly runs: string;
}

const paragraphs = (text: string) =>
  text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => `<p class="description">${escapeHtml(p)}</p>`);

/**
 * The HTML page: the report's tables, then each plot interactive (its static SVG as fallback),
 * then its runs. Markdown alone (a string) is a page of that text before the plots.
 */
export function reportPage(content: ReportSections | string, plots: readonly ReportPlot[]): string {
  const sections =
    typeof content === 'string'
      ? { title: '', description: '', summary: content, plotFiles: '', runs: '' }
      : content;
  const { scripts, fontFaces } = inlinedAssets();
  const figures = plots.map(({ name, svg }) => {
    if (!/^[\w.-]+$/.test(name))
      throw new Error(`plot name ${JSON.stringify(name)} is not a file stem`);
    // Raw text when scripts run: an SVG holding `</noscript` would end it early.
    if (/<\/noscript/i.test(svg)) throw new Error(`plot ${name}: its SVG cannot sit in <noscript>`);
    return `<figure class="plot" id="plot-${name}"><figcaption>${name}</figcaption><div class="plot-target"></div><noscript>${svg}</noscript></figure>`;
  });
  // Re-laid out on every update: ticking per-seed points can widen an axis's labels, which
  // vega's default layout (computed once) would clip. 'pad' is vega-lite's default type.
  const specs = plots.map(({ name, spec }) => ({
    name,
    spec: { autosize: { type: 'pad', resize: true }, ...withPlotFont(spec) },
  }));
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>cyclesparse report</title>',
    `<style>${fontFaces}${STYLE}</style>`,
    ...scripts.map((code) => `<script>${code}</script>`),
    '</head><body>',
    reportHtml(sections.title),
    ...paragraphs(sections.description),
    reportHtml(sections.summary),
    plots.length > 0 ? '<h2>Plots</h2>' : '',
    ...figures,
    reportHtml(sections.plotFiles),
    reportHtml(sections.runs),
    `<script type="application/json" id="cyclesparse-plots">${scriptJson(specs)}</script>`,
    `<script>${EMBED_SCRIPT}</script>`,
    '</body></html>',
  ].join('\n');
}
