/**
 * Networks of queue runs travel through the workers' store, not through Redis: a ResNet-18
 * network is 45 MB, one per cycle. A worker reports the SHA-256 of every file of the run's
 * final network (`checkpoint/`) and cycle networks (`cycles/<k>/`) in its signed result; a
 * coordinator that can read the workers' store (`--worker-store`, e.g. the shared NFS directory
 * the workers use) copies them into its own store, each file checked against its signed digest,
 * so `analyze` and the barrier and sharpness claims work on queue sweeps. Without that store the
 * results are imported without networks.
 */

import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** `checkpoint/<file>` or `cycles/<k>/<file>` → SHA-256 (hex). */
export type NetworkDigests = Record<string, string>;

/** Staging files and directories of a write in progress are not part of a network. */
const STAGING = /\.partial-|\.previous-|\.tmp/;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** The network directories of a run directory: `checkpoint`, then `cycles/<k>` in order. */
function networkDirs(runDir: string): string[] {
  const dirs = existsSync(join(runDir, 'checkpoint')) ? ['checkpoint'] : [];
  const cycles = join(runDir, 'cycles');
  if (existsSync(cycles))
    dirs.push(
      ...readdirSync(cycles)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(a) - Number(b))
        .map((name) => `cycles/${name}`),
    );
  return dirs;
}

/** The digest of every file of the run's networks in `runDir` (a worker's store). */
export function networkDigests(runDir: string): NetworkDigests {
  const digests: NetworkDigests = {};
  for (const dir of networkDirs(runDir)) {
    for (const entry of readdirSync(join(runDir, dir), { withFileTypes: true })) {
      if (!entry.isFile() || STAGING.test(entry.name)) continue;
      digests[`${dir}/${entry.name}`] = sha256(readFileSync(join(runDir, dir, entry.name)));
    }
  }
  return digests;
}

/**
 * Copies the networks `digests` names from `from` (the run's directory in the workers' store)
 * to `to` (in the coordinator's), each file checked against its digest; a network directory
 * already at `to` is kept. Throws, naming the file, when one is missing or differs.
 */
export function copyNetworks(from: string, to: string, digests: NetworkDigests): void {
  const byDir = new Map<string, string[]>();
  for (const path of Object.keys(digests)) {
    const match = /^(checkpoint|cycles\/\d+)\/([^/]+)$/.exec(path);
    if (match === null || STAGING.test(match[2]!) || match[2]!.startsWith('.'))
      throw new Error(`not a network file: ${path}`);
    byDir.set(match[1]!, [...(byDir.get(match[1]!) ?? []), match[2]!]);
  }
  for (const [dir, files] of byDir) {
    const target = join(to, dir);
    if (existsSync(target)) continue;
    const staging = `${target}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      for (const file of files) {
        const source = join(from, dir, file);
        let data: Buffer;
        try {
          data = readFileSync(source);
        } catch (error) {
          throw new Error(
            `${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
          );
        }
        if (sha256(data) !== digests[`${dir}/${file}`])
          throw new Error(`${source} is not the file the worker signed (changed since)`);
        writeFileSync(join(staging, file), data);
      }
      mkdirSync(join(target, '..'), { recursive: true });
      try {
        renameSync(staging, target);
      } catch (error) {
        if (!existsSync(target)) throw error; // else another collector copied it first
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
}
