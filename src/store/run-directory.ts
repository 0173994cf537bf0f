/**
 * One run's directory: the only code that knows its layout (docs/STORE.md).
 *
 *   config.json    the resolved configuration, its id and canonical form
 *   metrics.jsonl  one JSON line per trained epoch (metrics and test evaluation)
 *   checkpoint/    the latest resumable state (`train/checkpoint.ts` format); for a finished run,
 *                  its final network
 *   cycles/<k>/    the network (and mask) at the end of cycle k
 *   result.json    the final result (status completed or diverged)
 *   failed.json    the error of a run that failed
 *   lock           {pid, host, started} while a process runs it
 *
 * Reads check every file against its schema (`records.ts`): an absent file reads as undefined
 * (or no lines), a present one that cannot be read throws a StoredFileError naming it — never
 * undefined, which would make a finished run look unfinished and train it again.
 *
 * Writes: every file but metrics.jsonl goes to a temporary name and is renamed (a state directory
 * as a whole), so a kill at any moment leaves the old file or the new one. Metric lines are
 * appended whole; a last line without its newline is a write in progress (or cut by a kill) and
 * is not an epoch yet. The lock is written completely under a temporary name and linked into
 * place, which fails if a lock exists: whoever links it runs the run.
 */

import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoredFileError } from '../core/errors.js';
import { canonicalJson, withoutDefaults } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { writeCheckpoint, type backendSchema } from '../train/checkpoint.js';
import {
  parseJson,
  parseStored,
  readState,
  writeState,
  type StateFile,
  type Versions,
} from '../train/state-files.js';
import type { z } from 'zod';
import {
  checkpointVersions,
  CYCLE_NETWORK_VERSION,
  cycleNetworkSchema,
  epochSchema,
  failureSchema,
  lockSchema,
  onlyVersion1,
  resultSchema,
  storedConfigSchema,
  type CycleNetworkMeta,
  type LockRecord,
  type StoredConfig,
  type StoredEpoch,
  type StoredFailure,
  type StoredProgress,
  type StoredResult,
} from './records.js';

/** A run's checkpoint: where the pipeline stands, the engine that wrote it, and its tensors. */
export interface StoredCheckpoint {
  readonly progress: StoredProgress;
  /** The name of the engine's backend that wrote it. */
  readonly backend: string;
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

function writeFileAtomic(file: string, text: string): void {
  const staging = `${file}.partial-${process.pid}`;
  writeFileSync(staging, text);
  renameSync(staging, file);
}

const jsonText = (value: unknown): string => `${JSON.stringify(value, null, 1)}\n`;

/** The text of `file`, or undefined when there is none. */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function readJson<T>(file: string, versions: Versions<T>): T | undefined {
  const text = readText(file);
  return text === undefined
    ? undefined
    : parseStored({ file }, parseJson({ file }, text), versions);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class RunDirectory {
  readonly id: string;
  /** The directory: `<store root>/<id>`. */
  readonly path: string;

  constructor(root: string, id: string) {
    this.id = id;
    this.path = join(root, id);
  }

  #file(name: string): string {
    return join(this.path, name);
  }

  // ---- the configuration ----

  config(): StoredConfig | undefined {
    return readJson(this.#file('config.json'), onlyVersion1(storedConfigSchema));
  }

  /**
   * Writes config.json for `config` (whose id this directory is named by), or checks that the one
   * there describes the same run: a different one is an id collision or an edited file, and
   * mixing the two runs' results would be silent corruption.
   */
  ensureConfig(config: RunConfig): void {
    const canonical = canonicalJson(withoutDefaults(config));
    const stored = this.config();
    if (stored === undefined) {
      mkdirSync(this.path, { recursive: true });
      writeFileAtomic(this.#file('config.json'), jsonText({ id: this.id, canonical, config }));
    } else if (stored.canonical !== canonical) {
      throw new StoredFileError(
        { file: this.#file('config.json') },
        'canonical',
        `the configuration of ${this.id}, ${canonical} (another run's here: an id collision or an edited file; refusing to mix results)`,
        stored.canonical,
      );
    }
  }

  // ---- result and failure ----

  result(): StoredResult | undefined {
    return readJson(this.#file('result.json'), onlyVersion1(resultSchema));
  }

  writeResult(result: StoredResult): void {
    writeFileAtomic(this.#file('result.json'), jsonText(result));
  }

  failure(): StoredFailure | undefined {
    return readJson(this.#file('failed.json'), onlyVersion1(failureSchema));
  }

  writeFailure(error: Error): void {
    const failure: StoredFailure = {
      message: error.message,
      stack: error.stack ?? null,
      at: new Date().toISOString(),
    };
    writeFileAtomic(this.#file('failed.json'), jsonText(failure));
  }

  clearFailure(): void {
    rmSync(this.#file('failed.json'), { force: true });
  }

  // ---- metrics.jsonl ----

  /** The complete lines (each ends with its newline), blank ones skipped, with their numbers. */
  #metricLines(): { text: string; line: number }[] {
    const lines = (readText(this.#file('metrics.jsonl')) ?? '').split('\n').slice(0, -1);
    return lines.map((text, i) => ({ text, line: i + 1 })).filter((l) => l.text.length > 0);
  }

  /** Epochs recorded so far (lines counted, not read: cheap enough to poll). */
  epochs(): number {
    return this.#metricLines().length;
  }

  metrics(): StoredEpoch[] {
    const file = this.#file('metrics.jsonl');
    return this.#metricLines().map(({ text, line }) =>
      parseStored({ file, line }, parseJson({ file, line }, text), onlyVersion1(epochSchema)),
    );
  }

  appendEpoch(record: StoredEpoch): void {
    writeFileSync(this.#file('metrics.jsonl'), `${JSON.stringify(record)}\n`, { flag: 'a' });
  }

  /** Cuts the metrics back to the first `count` epochs (those a checkpoint accounts for). */
  keepEpochs(count: number): void {
    const kept = this.#metricLines().slice(0, count);
    writeFileAtomic(this.#file('metrics.jsonl'), kept.map((l) => `${l.text}\n`).join(''));
  }

  writeMetrics(records: readonly StoredEpoch[]): void {
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    writeFileAtomic(this.#file('metrics.jsonl'), text);
  }

  clearMetrics(): void {
    rmSync(this.#file('metrics.jsonl'), { force: true });
  }

  // ---- checkpoint/ ----

  hasCheckpoint(): boolean {
    return existsSync(join(this.#file('checkpoint'), 'state.json'));
  }

  checkpoint(): StoredCheckpoint | undefined {
    if (!this.hasCheckpoint()) return undefined;
    const { meta, tensors } = readState(this.#file('checkpoint'), checkpointVersions);
    return { ...meta, tensors };
  }

  writeCheckpoint(checkpoint: {
    /** The model spec's name. */
    readonly model: string;
    readonly backend: z.input<typeof backendSchema>;
    readonly progress: StoredProgress;
    readonly tensors: ReadonlyMap<string, Float32Array>;
  }): void {
    const { trainer, mask, phase, partial, snapshots, cycles, levels, cost, emitted } =
      checkpoint.progress;
    writeCheckpoint(
      this.#file('checkpoint'),
      {
        model: checkpoint.model,
        backend: checkpoint.backend,
        position: trainer,
        mask,
        pipeline: { phase, partial, snapshots, cycles, levels, cost, emitted },
      },
      checkpoint.tensors,
    );
  }

  // ---- cycles/<k>/ ----

  #cycleDir(cycle: number): string {
    return join(this.#file('cycles'), String(cycle));
  }

  /** Cycles whose networks are stored (1-based), in order. */
  cycles(): number[] {
    const dir = this.#file('cycles');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => /^\d+$/.test(n) && existsSync(join(dir, n, 'state.json')))
      .map(Number)
      .sort((a, b) => a - b);
  }

  cycleNetwork(cycle: number): StateFile<CycleNetworkMeta> | undefined {
    const dir = this.#cycleDir(cycle);
    if (!existsSync(join(dir, 'state.json'))) return undefined;
    return readState(dir, onlyVersion1(cycleNetworkSchema));
  }

  writeCycleNetwork(
    meta: Omit<CycleNetworkMeta, 'version'>,
    tensors: ReadonlyMap<string, Float32Array>,
  ): void {
    writeState(this.#cycleDir(meta.cycle), { version: CYCLE_NETWORK_VERSION, ...meta }, tensors);
  }

  // ---- lock ----

  lock(): LockRecord | undefined {
    return readJson(this.#file('lock'), onlyVersion1(lockSchema));
  }

  /** Whether a process holds the lock: a live one here, or any on another host (cannot tell). */
  locked(): boolean {
    const lock = this.lock();
    return lock !== undefined && (lock.host !== hostname() || alive(lock.pid));
  }

  /** Takes the run's lock (false: another process holds it). A lock left by a dead process is taken over. */
  acquire(): boolean {
    mkdirSync(this.path, { recursive: true });
    const file = this.#file('lock');
    const staging = `${file}.partial-${process.pid}`;
    const record: LockRecord = {
      pid: process.pid,
      host: hostname(),
      started: new Date().toISOString(),
    };
    writeFileSync(staging, JSON.stringify(record));
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(staging, file);
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        if (this.locked()) return false;
        rmSync(file, { force: true }); // stale: its process is gone
      }
      return false;
    } finally {
      rmSync(staging, { force: true });
    }
  }

  release(): void {
    const lock = this.lock();
    if (lock?.pid === process.pid && lock.host === hostname())
      rmSync(this.#file('lock'), { force: true });
  }
}
