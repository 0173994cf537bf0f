/**
 * Test helper (excluded from the build by its name): the command line for tests' child
 * processes. Under tsx every start of the CLI paid ~1.5 s of CPU for the loader alone (its
 * module hooks run in a second thread and see each of the ~900 modules a `gate` or `report`
 * loads), about half of what most CLI tests spend. Here src/ is compiled once per source state,
 * by the esbuild that tsx itself transforms with and with tsx's options, into a folder laid out
 * as the checkout (src/ beside links to package.json, node_modules, build, python, baselines and
 * .git, so every path the CLI finds from its own location is the checkout's), and the child is a
 * plain `node …/src/cli/main.js`: the same code, a real process with its own exit code, output
 * and signals. The tsx path itself stays tested: the launcher's test (main.test.ts) starts
 * bin/cyclesparse.js, which runs src/ through tsx.
 */

import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const source = join(root, 'src');
/** What the CLI reads relative to its own files, linked beside the compiled src/. */
const LINKED = ['package.json', 'node_modules', 'build', 'python', 'baselines', '.git'];
const PREFIX = 'cyclesparse-cli-';

/** The part of esbuild's API used here (esbuild is tsx's dependency, not ours: no types). */
interface Esbuild {
  readonly version: string;
  build(options: Record<string, unknown>): Promise<unknown>;
}
const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'))(
  'esbuild',
) as Esbuild;

const files = readdirSync(source, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.endsWith('.d.ts'))
  .sort();

/**
 * A folder per checkout and source state: the checkout's path (its links point there), the
 * files' paths and contents, tsconfig.json, esbuild and node.
 */
function stateHash(): string {
  const hash = createHash('sha256');
  hash.update(`${root}\0${esbuild.version}\0${process.version}\0`);
  hash.update(readFileSync(join(root, 'tsconfig.json')));
  for (const file of files) hash.update(`\0${file}\0`).update(readFileSync(join(source, file)));
  return hash.digest('hex').slice(0, 16);
}

async function compiled(): Promise<string> {
  const dir = join(tmpdir(), `${PREFIX}${stateHash()}`);
  if (existsSync(dir)) {
    const now = new Date();
    utimesSync(dir, now, now); // in use: not stale (removeStale)
    return dir;
  }
  // Built aside and renamed into place whole, so a folder that exists is complete; test files
  // running at once may both build it, and the second rename fails harmlessly (same contents).
  const staging = mkdtempSync(join(tmpdir(), `${PREFIX}building-`));
  try {
    await build(staging);
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(dir)) throw error; // a build that failed, not a rename that lost the race
  }
  removeStale(dir);
  return dir;
}

async function build(staging: string): Promise<void> {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: files.map((file) => join(source, file)),
    outdir: join(staging, 'src'),
    outbase: source,
    format: 'esm',
    platform: 'node',
    // As tsx transforms (its defaults): this node's syntax, names kept.
    target: `node${process.versions.node}`,
    keepNames: true,
    logLevel: 'error',
  });
  for (const name of LINKED) symlinkSync(join(root, name), join(staging, name));
  writeFileSync(join(staging, 'README'), `src/ of ${root} compiled for its CLI tests\n`);
}

/** Earlier source states' folders, unused for a day (a run of the tests takes minutes). */
function removeStale(current: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of readdirSync(tmpdir())) {
    const dir = join(tmpdir(), name);
    if (!name.startsWith(PREFIX) || dir === current) continue;
    try {
      if (statSync(dir).mtimeMs < dayAgo) rmSync(dir, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another test process
    }
  }
}

/** The compiled src/cli/main.js: `spawn(process.execPath, [CLI_MAIN, ...args])`. */
export const CLI_MAIN = join(await compiled(), 'src', 'cli', 'main.js');
