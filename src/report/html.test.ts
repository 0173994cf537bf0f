import { describe, expect, test } from 'vitest';
import type { Spec } from './plots.js';
import { reportHtml, reportPage, scriptJson } from './html.js';

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>';

describe('the HTML page', () => {
  test('verdict words in bold get their colour class; other bold text stays plain', () => {
    const html = reportHtml(
      [
        '| claim | verdict |',
        '|---|---|',
        '| a | **holds** |',
        '| b | **contradicted** (not gating) |',
        '| c | **inconclusive** |',
        '| d | **run-failed** |',
        '',
        '**Gate passed**: **holds-not**',
      ].join('\n'),
    );
    expect(html).toContain('<strong class="verdict verdict-holds">holds</strong>');
    expect(html).toContain(
      '<strong class="verdict verdict-contradicted">contradicted</strong> (not gating)',
    );
    expect(html).toContain('<strong class="verdict verdict-inconclusive">inconclusive</strong>');
    expect(html).toContain('<strong class="verdict verdict-run-failed">run-failed</strong>');
    expect(html).toContain('<strong>Gate passed</strong>');
    expect(html).toContain('<strong>holds-not</strong>');
    // The page's style sheet colours each class.
    const page = reportPage('x', []);
    for (const verdict of ['holds', 'contradicted', 'inconclusive', 'missing', 'run-failed'])
      expect(page).toMatch(new RegExp(`\\.verdict-${verdict}[,{]`));
  });

  test('right-aligned Markdown columns are right-aligned cells', () => {
    const html = reportHtml('| method | acc. |\n|---|---:|\n| lrr | 95.10 |');
    expect(html).toContain('<td align="right">95.10</td>');
    expect(html).toContain('<td>lrr</td>');
  });

  test('a spec cannot end its <script>: JSON is escaped and reads back unchanged', () => {
    const hostile = 'a </script><script>alert(1)</script> <!-- & \u2028 end';
    const json = scriptJson({ description: hostile });
    expect(json).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(json)).toEqual({ description: hostile });
    const page = reportPage('# r', [
      { name: 'p', spec: { description: hostile, mark: 'point' } as Spec, svg: SVG },
    ]);
    // Three inlined libraries, the specs' JSON and the embedding script: each closes once.
    expect(page.match(/<\/script/gi)).toHaveLength(5);
    expect(page).not.toContain('alert(1)</script>');
  });

  test('the page is self-contained: libraries and font inline, nothing fetched', () => {
    const page = reportPage('# r', [{ name: 'p', spec: { mark: 'point' } as Spec, svg: SVG }]);
    expect(page).toMatch(/vegaEmbed/);
    expect(page).toContain('src:url(data:font/ttf;base64,');
    expect(page).not.toMatch(/<script[^>]*\ssrc=|<link[^>]*\shref=|https?:\/\/cdn/i);
    // The static SVG is the no-JavaScript fallback.
    expect(page).toContain(`<noscript>${SVG}</noscript>`);
  });

  test('plot names that could break out of an id, and SVGs that would end <noscript>, are refused', () => {
    expect(() =>
      reportPage('', [{ name: 'a"><b', spec: { mark: 'point' } as Spec, svg: SVG }]),
    ).toThrow(/not a file stem/);
    expect(() =>
      reportPage('', [{ name: 'a', spec: { mark: 'point' } as Spec, svg: '</noscript><b>' }]),
    ).toThrow(/noscript/);
  });
});
