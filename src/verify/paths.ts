/**
 * Confining the files an artifact's manifest names to the artifact's directory: `verify` reads
 * only what is really inside it — no absolute paths, no `..` out of it, no symlinks leading out
 * — unless reading outside was allowed (`verifyArtifact(path, { allowOutside: true })`,
 * `cyclesparse verify --allow-outside`). Non-regular files (devices, FIFOs) are refused anyway,
 * when opened (tensors.ts).
 */

import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';

const escapes = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
};

/**
 * Why `path` is not really inside the directory `realRoot` (a real path, symlinks resolved), or
 * undefined when it is (or does not exist: reading it then fails on its own).
 */
export function outsideOf(realRoot: string, path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const real = realpathSync(path);
  if (!escapes(realRoot, real)) return undefined;
  return real === resolve(path)
    ? 'outside the artifact'
    : `a link to ${real}, outside the artifact`;
}

/**
 * Why `declared` (a manifest's path, relative to the artifact's directory `root`) may not be read
 * unless reading outside the artifact was allowed, or undefined when it may.
 */
export function refusedPath(root: string, declared: string): string | undefined {
  if (isAbsolute(declared)) return 'is an absolute path';
  if (escapes(root, resolve(root, declared))) return 'leads out of the artifact with ..';
  const outside = outsideOf(realpathSync(root), resolve(root, declared));
  return outside === undefined ? undefined : `is ${outside}`;
}
