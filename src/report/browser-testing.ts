/**
 * Opening a written report's index.html in headless Chromium (puppeteer-core, a devDependency:
 * this module is for tests and scripts/report-screenshots.ts only, and is left out of dist/ by its
 * `-testing` name). The page is loaded from file:// with every other request blocked and
 * recorded, so a report that reached for the network (or for a file beside it) is caught.
 */

import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/**
 * The browser to drive: CHROMIUM_PATH when set (and only it, so a run can point elsewhere or at
 * nothing), else Debian's chromium; undefined when that file does not exist.
 */
export function chromiumPath(): string | undefined {
  const candidates =
    process.env.CHROMIUM_PATH === undefined
      ? ['/usr/bin/chromium', '/usr/bin/chromium-browser']
      : [process.env.CHROMIUM_PATH];
  return candidates.find((path) => existsSync(path));
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    // The sandbox needs user namespaces, which containers running as root (CI) do not grant.
    args: ['--no-sandbox', '--disable-gpu', '--font-render-hinting=none'],
    defaultViewport: { width: 1280, height: 900, deviceScaleFactor: 1 },
  });
}

/** What the page's embedding script reports for each plot (html.ts EMBED_SCRIPT). */
export interface PlotOutcome {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface OpenedReport {
  readonly page: Page;
  /** Every plot's outcome, once all have been embedded (or fell back to their SVG). */
  readonly plots: readonly PlotOutcome[];
  /** Requests other than for the page itself: the network and any other file (all refused). */
  readonly blocked: readonly string[];
  /** console.error messages and uncaught page errors, in order. */
  readonly errors: readonly string[];
}

/** Opens an HTML file by file:// and waits until every plot has been embedded or fell back. */
export async function openReport(browser: Browser, htmlFile: string): Promise<OpenedReport> {
  const url = pathToFileURL(resolve(htmlFile)).href;
  const page = await browser.newPage();
  const blocked: string[] = [];
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`page error: ${String(error)}`));
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const target = request.url();
    // The page itself, and data: URLs it holds (the inlined font), are all it may load.
    if (target === url || target.startsWith('data:')) void request.continue();
    else {
      blocked.push(target);
      void request.abort('blockedbyclient');
    }
  });
  await page.goto(url, { waitUntil: 'load' });
  const plots = (await page.evaluate('window.cyclesparseReport')) as PlotOutcome[] | undefined;
  if (!Array.isArray(plots))
    throw new Error(
      `${htmlFile} embeds no plots: not an interactive cyclesparse report (rewrite it)` +
        errors.map((error) => `\n  ${error}`).join(''),
    );
  return { page, plots, blocked, errors };
}

/** Number of drawn mark items (SVG elements inside vega's mark groups) in one plot. */
export async function markCount(page: Page, plot: string): Promise<number> {
  return page.$$eval(
    `#plot-${plot} .plot-target svg .role-mark > *`,
    (elements) => elements.length,
  );
}

/** Waits two animation frames: vega re-renders asynchronously after a signal changes. */
export async function nextFrames(page: Page): Promise<void> {
  // Strings run in the page: this project's TypeScript has no DOM types.
  await page.evaluate(
    'new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))',
  );
}

/**
 * Hovers the plot's point marks one by one until a tooltip appears whose text passes `accept`;
 * returns that text, or undefined if none did.
 */
export async function hoverForTooltip(
  page: Page,
  plot: string,
  accept: (text: string) => boolean,
): Promise<string | undefined> {
  const points = await page.$$(`#plot-${plot} .plot-target svg g.mark-symbol.role-mark > path`);
  for (const point of points) {
    const box = await point.boundingBox();
    if (!box || box.width === 0) continue;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await nextFrames(page);
    const text = (await page.evaluate(
      "document.querySelector('#vg-tooltip-element.visible')?.textContent ?? null",
    )) as string | null;
    if (text !== null && accept(text)) return text;
  }
  return undefined;
}

/**
 * Screenshots beside the report: `<dir>/screenshots/<plot>.png` for each plot's figure and
 * `<dir>/screenshots/index.png` for the whole page. Returns the files written.
 */
export async function saveScreenshots(opened: OpenedReport, dir: string): Promise<string[]> {
  const out = join(dir, 'screenshots');
  mkdirSync(out, { recursive: true });
  const { page } = opened;
  // A tooltip or hover highlight left from a check would show in the pictures.
  await page.mouse.move(0, 0);
  await nextFrames(page);
  const files: string[] = [];
  for (const { name } of opened.plots) {
    const figure = await page.$(`#plot-${name}`);
    if (!figure) throw new Error(`the page has no figure for plot ${name}`);
    const file = join(out, `${name}.png`);
    await figure.screenshot({ path: file });
    files.push(file);
  }
  const whole = join(out, 'index.png');
  await page.screenshot({ path: whole, fullPage: true });
  files.push(whole);
  return files;
}
