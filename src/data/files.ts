/**
 * Reading data set files with the checks that keep results honest: a missing directory, a
 * truncated file or a checksum mismatch is a {@link DatasetFileError} that names the file, what
 * was expected (size, hash) and how to obtain the data set.
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export class DatasetFileError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, howToObtain: string) {
    super(`${file}: ${problem}. ${howToObtain}`);
    this.name = 'DatasetFileError';
    this.file = file;
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

export interface ExpectedFile {
  /** Path without `.gz`; the gzipped form is read when only it exists. */
  readonly path: string;
  /** Size of the (decompressed) content in bytes; any size when absent. */
  readonly bytes?: number;
  /** sha256 of the decompressed content, when one is published. */
  readonly sha256?: string;
}

/** Reads a file (or its .gz), checking size and hash of the content. */
export function readChecked(expected: ExpectedFile, howToObtain: string): Buffer {
  const gz = `${expected.path}.gz`;
  const path = existsSync(expected.path) ? expected.path : existsSync(gz) ? gz : undefined;
  if (path === undefined)
    throw new DatasetFileError(expected.path, 'not found (nor its .gz)', howToObtain);
  if (statSync(path).isDirectory())
    throw new DatasetFileError(path, 'is a directory, expected a file', howToObtain);
  let content: Buffer;
  try {
    content = path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path);
  } catch (error) {
    throw new DatasetFileError(path, `unreadable (${(error as Error).message})`, howToObtain);
  }
  if (expected.bytes !== undefined && content.length !== expected.bytes) {
    throw new DatasetFileError(
      path,
      `${content.length} bytes, expected ${expected.bytes} (truncated or not this data set)`,
      howToObtain,
    );
  }
  if (expected.sha256 !== undefined) {
    const actual = sha256(content);
    if (actual !== expected.sha256) {
      throw new DatasetFileError(
        path,
        `sha256 ${actual}, expected ${expected.sha256}`,
        howToObtain,
      );
    }
  }
  return content;
}

/** Fails with a useful message when a data set directory is absent. */
export function requireDirectory(dir: string, howToObtain: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DatasetFileError(dir, 'no such directory', howToObtain);
  }
}
