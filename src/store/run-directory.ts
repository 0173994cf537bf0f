/**
 * One run's directory: the only code that knows its layout (docs/STORE.md).
 *
 *   config.json    the resolved configuration, its id and canonical form
 *   metrics.jsonl  one JSON line per trained epoch (run id, time, metrics and test evaluation)
 *   checkpoint/    the latest resumable state (`train/checkpoint.ts` format); for a finished run,
 *                  its final network
 *   cycles/<k>/    the network (and mask) at the end of cycle k
 *   result.json    the final result (status completed or diverged)
 *   failed.json    the error of a run that failed
 *   lock           {pid, host, started, token} while a process runs it
 *
 * Reads check every file against its schema (`records.ts`): an absent file reads as undefined
 * (or no lines), a present one that cannot be read throws a StoredFileError naming it — never
 * undefined, which would make a finished run look unfinished and train it again.
 *
 * Writes: every file but metrics.jsonl goes to a temporary name and is renamed (a state directory
 * as a whole), so a kill at any moment leaves the old file or the new one. Metric lines are
 * appended whole; a last line without its newline is a write in progress (or cut by a kill) and
 * is not an epoch yet. Files are fsynced before the rename that publishes them, and the
 * directory after it. The lock protocol is described at {@link RunDirectory.acquire}.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { StoredFileError } from '../core/errors.js';
import { canonicalJson, withoutDefaults } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { writeCheckpoint, type backendSchema } from '../train/checkpoint.js';
import { faultPoint } from '../train/faults.js';
import {
  discardPreviousState,
  hasPreviousState,
  parseJson,
  parseStored,
  readState,
  stateLocation,
  syncDirectory,
  syncFile,
  writeDurable,
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
  /** Set when the current checkpoint could not be read and the one before it was: why. */
  readonly recovered?: string;
}

function writeFileAtomic(file: string, text: string): void {
  const staging = `${file}.partial-${process.pid}`;
  writeDurable(staging, text);
  renameSync(staging, file);
  syncDirectory(dirname(file));
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
    // The checkpoint is now the final network; the state before it is not needed to resume.
    discardPreviousState(this.#file('checkpoint'));
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

  /** Appends an epoch's line, stamped with the run's id and the time (so lines stand alone). */
  appendEpoch(record: StoredEpoch): void {
    const line = { run: this.id, at: new Date().toISOString(), ...record };
    writeFileSync(this.#file('metrics.jsonl'), `${JSON.stringify(line)}\n`, { flag: 'a' });
  }

  /** Cuts the metrics back to the first `count` epochs (those a checkpoint accounts for). */
  keepEpochs(count: number): void {
    // Every kept line is read through its schema, and none may be missing: a resumed run never
    // goes on over lost or corrupt records of the epochs before its checkpoint.
    const valid = this.metrics().length;
    if (valid < count)
      throw new StoredFileError(
        { file: this.#file('metrics.jsonl') },
        undefined,
        `the ${count} epochs the checkpoint accounts for`,
        `${valid} complete line(s)`,
      );
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
    return stateLocation(this.#file('checkpoint')) !== undefined;
  }

  /**
   * The checkpoint, if any. With `recover` (resuming), a current checkpoint that cannot be read
   * gives way to the one it replaced, if kept (`recovered` says why); otherwise, and always
   * without `recover` (a finished run's final network), it is a StoredFileError naming the file.
   */
  checkpoint(options: { readonly recover?: boolean } = {}): StoredCheckpoint | undefined {
    if (!this.hasCheckpoint()) return undefined;
    const dir = this.#file('checkpoint');
    try {
      const { meta, tensors } = readState(dir, checkpointVersions);
      return { ...meta, tensors };
    } catch (error) {
      if (!(error instanceof StoredFileError) || !options.recover || !hasPreviousState(dir))
        throw error;
      try {
        const { meta, tensors } = readState(dir, checkpointVersions, 'previous');
        return { ...meta, tensors, recovered: error.message };
      } catch {
        throw error; // the newer problem is the one to report
      }
    }
  }

  /** Removes the checkpoint (the run then trains from the start). */
  discardCheckpoint(): void {
    const dir = this.#file('checkpoint');
    for (let at = stateLocation(dir); at !== undefined; at = stateLocation(dir))
      rmSync(at, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
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
    // The checkpoint accounts for `emitted` metric lines: they reach the disk before it does.
    syncFile(this.#file('metrics.jsonl'));
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

  /** The lock record, if any (undefined when there is none). */
  lock(): LockRecord | undefined {
    return readLockFile(this.#file('lock'))?.record;
  }

  /** Whether a process holds the lock (see {@link RunDirectory.acquire} for who counts as gone). */
  locked(): boolean {
    const seen = readLockFile(this.#file('lock'));
    return seen !== undefined && !stale(seen);
  }

  /** Whether this directory object holds the run's lock (and has not lost it to a takeover). */
  holds(): boolean {
    return this.#token !== undefined && this.lock()?.token === this.#token;
  }

  #token: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  /**
   * Takes the run's lock (false: another process holds it). The lock file is written whole under
   * a name of its own and hard-linked into place, which fails if a lock is there. A lock whose
   * holder is gone — on this host a dead process (or this process's pid on a lock taken before
   * this process started: a restarted container), on another host a lease not renewed for
   * `CYCLESPARSE_LOCK_LEASE` seconds — is taken over by {@link removeStale}, which removes exactly
   * that lock, however many processes try at once. While held, a heartbeat renews the lease (the
   * file's mtime) until {@link RunDirectory.release}.
   */
  acquire(): boolean {
    if (this.#token !== undefined) throw new Error(`${this.id}: the lock is already held here`);
    mkdirSync(this.path, { recursive: true });
    const file = this.#file('lock');
    const record = newRecord();
    const staging = stage(file, record);
    let taken = false;
    try {
      faultPoint('lock:staged');
      for (let attempt = 0; attempt < 16; attempt++) {
        if (linkExclusive(staging, file)) {
          taken = true;
          this.#hold(record.token);
          return true;
        }
        faultPoint('lock:exists');
        const seen = readLockFile(file);
        if (seen === undefined) continue; // released in between: try again
        if (!stale(seen)) return false;
        faultPoint('lock:stale');
        if (removeStale(file, seen.record) === 'busy') return false;
      }
      return false;
    } finally {
      rmSync(staging, { force: true });
      if (!taken) held.delete(record.token);
    }
  }

  #hold(token: string): void {
    this.#token = token;
    this.#lost = false;
    this.#heartbeat = setInterval(() => this.renew(), Math.max(1000, leaseMs() / 10));
    this.#heartbeat.unref();
    // Tickets and staging files of processes that died inside a takeover, now that no one else
    // is taking this lock over.
    for (const entry of readdirSync(this.path)) {
      const path = join(this.path, entry);
      if (!entry.startsWith('lock.')) continue;
      const seen = readLockFileQuietly(path);
      if (seen === undefined || !stale(seen)) continue;
      if (entry.startsWith('lock.break-')) removeStale(path, seen.record);
      else if (entry.startsWith('lock.partial-')) rmSync(path, { force: true });
    }
  }

  #lost = false;

  /**
   * Renews the lease of the lock this directory holds (touches it); false, and the heartbeat
   * stops, when the lock is no longer this directory's (taken over after a lease expired).
   */
  renew(): boolean {
    if (this.#token === undefined || this.#lost) return false;
    const file = this.#file('lock');
    try {
      if (readLockFile(file)?.record.token !== this.#token) {
        this.#lost = true;
        clearInterval(this.#heartbeat);
        return false;
      }
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // A passing I/O error (a network file system): the next beat tries again.
    }
    return true;
  }

  /** Throws {@link LockLostError} unless this directory still holds the lock (and renews it). */
  assertHeld(): void {
    if (!this.renew()) throw new LockLostError(this.#file('lock'));
  }

  release(): void {
    clearInterval(this.#heartbeat);
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    held.delete(token);
    const file = this.#file('lock');
    const seen = readLockFileQuietly(file);
    // Removed the same way as a stale lock: only the holder of its ticket may remove it.
    if (seen?.record.token === token) removeStale(file, seen.record);
  }
}

/** The run's lock was taken over (its lease had expired): this process must stop writing. */
export class LockLostError extends Error {
  constructor(file: string) {
    super(
      `${file}: the lock was taken over by another process (this one did not renew its lease in time); stopped without writing`,
    );
    this.name = 'LockLostError';
  }
}

// ---- the lock protocol ----

/**
 * Tokens of the lock files (locks, tickets, staging files) this thread has written and not yet
 * given up.
 */
const held = new Set<string>();

/** When this process started (ms, rounded down to what an ISO timestamp keeps). */
const PROCESS_STARTED = Math.floor(Date.now() - process.uptime() * 1000) - 1;

/** How long a lock of another host stays valid without renewal (CYCLESPARSE_LOCK_LEASE, seconds). */
export function leaseMs(): number {
  const seconds = Number(process.env.CYCLESPARSE_LOCK_LEASE ?? 600);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 600_000;
}

type LockSeen = { readonly record: LockRecord; readonly renewedMs: number };

/** A new lock record of this process; its token counts as live ({@link held}) until deleted. */
function newRecord(): LockRecord & { token: string } {
  const token = randomBytes(8).toString('hex');
  held.add(token);
  return { pid: process.pid, host: hostname(), started: new Date().toISOString(), token };
}

/** The record written whole under a staging name beside `file`. */
function stage(file: string, record: LockRecord & { token: string }): string {
  const staging = `${file}.partial-${record.token}`;
  writeDurable(staging, JSON.stringify(record));
  return staging;
}

function linkExclusive(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** A lock (or ticket) file and when it was last renewed; undefined when there is none. */
function readLockFile(file: string): LockSeen | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // One open file: the record and its mtime are of the same inode.
    const renewedMs = fstatSync(fd).mtimeMs;
    const text = readFileSync(fd, 'utf8');
    return {
      record: parseStored({ file }, parseJson({ file }, text), onlyVersion1(lockSchema)),
      renewedMs,
    };
  } finally {
    closeSync(fd);
  }
}

function readLockFileQuietly(file: string): LockSeen | undefined {
  try {
    return readLockFile(file);
  } catch {
    return undefined;
  }
}

/** Whether the holder of a lock (or ticket) is gone. */
function stale({ record, renewedMs }: LockSeen): boolean {
  if (record.host !== hostname()) return Date.now() - renewedMs > leaseMs();
  if (record.pid === process.pid) {
    if (record.token !== undefined && held.has(record.token)) return false;
    // Not this thread's: another thread's of this process (taken since it started) is live; one
    // taken before this process started was left by an earlier one with its pid (a restarted
    // container).
    return !(Date.parse(record.started) >= PROCESS_STARTED);
  }
  return !alive(record.pid);
}

/** What names one taking of a lock: its token, or for a lock written before tokens its fields. */
const idOf = (record: LockRecord): string =>
  record.token ?? `${record.host}-${record.pid}-${record.started}`.replace(/[^\w.-]/g, '_');

/**
 * Removes `file` if it still holds the lock `seen` — exactly that one, whoever else tries at the
 * same time. Only the process that creates the ticket `lock.break-<id of seen>` (hard-linked, so
 * one process can) may remove it, and it checks under the ticket that `file` still holds `seen`:
 * no one else can remove `seen` meanwhile, and once removed it never comes back (tokens are
 * unique), so a process that read `seen` long ago finds another lock there and leaves it. A
 * ticket left by a process that died holding it is stale like a lock and removed the same way.
 * `busy`: a live process holds the ticket (it is taking this lock over).
 */
function removeStale(file: string, seen: LockRecord, depth = 0): 'removed' | 'gone' | 'busy' {
  const ticket = join(dirname(file), `lock.break-${idOf(seen)}`);
  const mine = newRecord();
  try {
    return removeUnderTicket(file, seen, ticket, mine, depth);
  } finally {
    held.delete(mine.token);
  }
}

function removeUnderTicket(
  file: string,
  seen: LockRecord,
  ticket: string,
  mine: LockRecord & { token: string },
  depth: number,
): 'removed' | 'gone' | 'busy' {
  const staging = stage(join(dirname(file), 'lock'), mine);
  try {
    if (!linkExclusive(staging, ticket)) {
      const holder = readLockFileQuietly(ticket);
      if (holder === undefined) return 'gone'; // released in between: look again
      if (depth < 3 && stale(holder) && removeStale(ticket, holder.record, depth + 1) !== 'busy')
        return 'gone';
      return 'busy';
    }
  } finally {
    rmSync(staging, { force: true });
  }
  faultPoint('lock:ticket');
  const now = readLockFileQuietly(file);
  const same = now !== undefined && idOf(now.record) === idOf(seen);
  if (same) {
    rmSync(file, { force: true });
    faultPoint('lock:removed');
  }
  // The ticket is this process's (its holder is alive, so no one removes it): drop it.
  if (readLockFileQuietly(ticket)?.record.token === mine.token) rmSync(ticket, { force: true });
  return same ? 'removed' : 'gone';
}
