/**
 * The report as HTML: its Markdown rendered with user text escaped, and the plots.
 */

import { Marked } from 'marked';

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

/** Links and images may go to http(s), mailto or a relative path; never a script or an entity trick. */
const safeHref = (href: string) =>
  !href.includes('&') && (/^(https?|mailto):/i.test(href) || !href.includes(':'));

/**
 * Markdown to HTML for reports. Claims files supply text that reaches the HTML (descriptions,
 * claim ids, paper references), and a report's own Markdown holds no HTML, so every `<` is made
 * an entity before parsing: no tag, raw HTML block or raw-text element can start (an HTML token
 * would be escaped anyway). A link or image to anything but http(s), mailto or a relative path
 * is rendered as its text.
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
      return safeHref(token.href) ? false : escapeHtml(token.text);
    },
  },
});

/** A report's Markdown as HTML, with user text escaped ({@link reportMarked}). */
export function reportHtml(markdown: string): string {
  return reportMarked.parse(markdown, { async: false });
}

/** The HTML page: the report's tables, then each plot's SVG inline. */
export function reportPage(markdown: string, svgs: Readonly<Record<string, string>>): string {
  return [
    '<!doctype html><html><head><meta charset="utf-8"><title>cyclesparse report</title>',
    '<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head><body>',
    reportHtml(markdown),
    ...Object.values(svgs),
    '</body></html>',
  ].join('\n');
}
