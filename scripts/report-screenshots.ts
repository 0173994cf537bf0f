/**
 * `npm run report:screenshots -- <report dir>`: opens a written report's index.html in headless
 * chromium (as src/report/browser.test.ts does: file://, every other request blocked), checks
 * that every plot rendered with no console error, and saves `<dir>/screenshots/<plot>.png` and
 * `<dir>/screenshots/index.png`. Exits 1 if a plot failed, the page logged an error or asked for
 * anything but itself; 2 on bad arguments or no chromium (set CHROMIUM_PATH).
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  chromiumPath,
  launchChromium,
  openReport,
  saveScreenshots,
} from '../src/report/browser-testing.js';

async function main(): Promise<number> {
  const [dir, ...rest] = process.argv.slice(2);
  if (dir === undefined || rest.length > 0) {
    console.error('usage: npm run report:screenshots -- <report dir>');
    return 2;
  }
  const page = join(dir, 'index.html');
  if (!existsSync(page)) {
    console.error(`${page} does not exist: write the report first (cyclesparse report)`);
    return 2;
  }
  const chromium = chromiumPath();
  if (chromium === undefined) {
    console.error("no chromium: install Debian's chromium, or set CHROMIUM_PATH to a Chromium");
    return 2;
  }
  const browser = await launchChromium(chromium);
  try {
    const opened = await openReport(browser, page);
    const failed = opened.plots.filter((plot) => !plot.ok);
    for (const plot of failed) console.error(`plot ${plot.name} did not render: ${plot.error}`);
    for (const url of opened.blocked) console.error(`blocked a request for ${url}`);
    for (const error of opened.errors) console.error(`console: ${error}`);
    for (const file of await saveScreenshots(opened, dir)) console.log(file);
    return failed.length + opened.blocked.length + opened.errors.length === 0 ? 0 : 1;
  } finally {
    await browser.close();
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  return 1;
});
