/**
 * The `--store` directory, checked before a command reads or writes it, so a bad path fails at
 * once with exit 2 naming it instead of a stack trace deep in the store: a path that exists must
 * be a directory; a store that will be written is created one missing directory at a time and
 * probed by creating (and removing) an entry in it.
 *
 * Node's recursive mkdir never returns where the parent exists but the child cannot be created
 * (procfs answers ENOENT, so `--store /proc/x` retried the parent forever at 100% CPU), and where
 * the store is a file, the failure surfaced as a runtime error (exit 3): neither reaches the store
 * from here.
 */

import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';

function fail(path: string, problem: string, name = '--store'): InvalidArgumentError {
  return new InvalidArgumentError(
    name,
    'a directory cyclesparse can write',
    path,
    `${name} ${path}: ${problem}`,
  );
}

const reason = (error: unknown) =>
  (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/** `statSync` of `path`, or undefined where nothing is there (an error for anything else). */
function statOf(path: string, shown: string) {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw fail(shown, `${dirname(path)} is not a directory`);
    throw fail(shown, `cannot be read (${reason(error)})`);
  }
}

/**
 * Checks the store directory `path`: with `write`, creates it if missing and checks an entry
 * can be created in it; without, only that it is a directory if it exists — and with
 * `mustExist`, that it does (a misspelt path read as an empty store would say "no runs" and
 * exit 0). `name` is how the command's line names it (default `--store`). Returns `path`.
 */
export function checkStoreDir(
  path: string,
  options: { readonly write: boolean; readonly mustExist?: boolean; readonly name?: string },
): string {
  const absolute = resolve(path);
  const stat = statOf(absolute, path);
  if (stat !== undefined && !stat.isDirectory())
    throw fail(path, 'expected a directory, got a file', options.name);
  if (stat === undefined && options.mustExist === true && !options.write)
    throw fail(path, 'no such directory (no store there)', options.name);
  if (!options.write) return path;
  if (stat === undefined) {
    // Create the missing directories from the first existing ancestor down, one at a time.
    const missing: string[] = [];
    let at = absolute;
    while (statOf(at, path) === undefined && dirname(at) !== at) {
      missing.unshift(at);
      at = dirname(at);
    }
    if (!statOf(at, path)!.isDirectory()) throw fail(path, `${at} is not a directory`);
    for (const dir of missing) {
      try {
        mkdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
          throw fail(path, `cannot create ${dir} (${reason(error)})`);
      }
    }
  }
  // Writable in fact, not only by its mode bits (root passes those everywhere, even in /proc).
  const probe = join(absolute, `.probe-${process.pid}`);
  try {
    try {
      mkdirSync(probe);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // left by a crash
    }
    rmdirSync(probe);
  } catch (error) {
    throw fail(path, `cannot write in it (${reason(error)})`);
  }
  return path;
}
