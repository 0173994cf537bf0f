/**
 * What a run's result records about how it was produced (`result.json`'s `provenance`): the
 * cyclesparse version, the git commit of the checkout it ran from, the host. Reading them never
 * fails a run: what cannot be found is `unknown` (version) or null (commit).
 */

import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: package.json sits two folders up from src/harness and dist/harness. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function cyclesparseVersion(root = PACKAGE_ROOT): string {
  try {
    const json = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof json.version === 'string' ? json.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const SHA = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The git directory of the checkout `root` is in (a `.git` folder, or a worktree's `.git` file). */
function gitDirOf(root: string): string | undefined {
  for (let at = resolve(root); ; at = dirname(at)) {
    const dotGit = join(at, '.git');
    try {
      if (statSync(dotGit).isDirectory()) return dotGit;
      const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1];
      if (pointer !== undefined) return isAbsolute(pointer) ? pointer : resolve(at, pointer);
    } catch {
      // no .git here: look further up
    }
    if (dirname(at) === at) return undefined;
  }
}

/**
 * The commit checked out where cyclesparse runs from, read from git's files (no git binary
 * needed): HEAD, the loose ref it names, or packed-refs. null for an installed package (no
 * checkout above it) or anything unexpected. Uncommitted changes are not detected.
 */
export function gitCommit(root = PACKAGE_ROOT): string | null {
  // An installed package (under node_modules) is not a checkout of cyclesparse, even when the
  // user's project around it is one: that project's commit says nothing about our code.
  if (resolve(root).split(sep).includes('node_modules')) return null;
  const gitDir = gitDirOf(root);
  if (gitDir === undefined) return null;
  const head = readTrimmed(join(gitDir, 'HEAD'));
  if (head === undefined) return null;
  if (SHA.test(head)) return head; // detached
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (ref === undefined) return null;
  // A worktree keeps HEAD in its own directory and refs in the common one.
  const common = readTrimmed(join(gitDir, 'commondir'));
  const dirs = [gitDir, ...(common === undefined ? [] : [resolve(gitDir, common)])];
  for (const dir of dirs) {
    const loose = readTrimmed(join(dir, ref));
    if (loose !== undefined && SHA.test(loose)) return loose;
    const packed = readTrimmed(join(dir, 'packed-refs'));
    const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
    const sha = line?.split(' ')[0];
    if (sha !== undefined && SHA.test(sha)) return sha;
  }
  return null;
}
