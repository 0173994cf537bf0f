/**
 * The results store: one directory per run under a root (default `./runs`), plain files any tool
 * can read (the format is documented in docs/STORE.md; the layout, checked reads and atomic writes
 * are `run-directory.ts`). The store keeps runs; it does not train them — executing a
 * configuration against the store is the harness's (`harness/execute.ts`).
 *
 * A run is written only by the process holding its lock, so two processes sharing a store never
 * run or import the same cell at once; a lock whose process is gone is taken over.
 */

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runId } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { InvalidArgumentError, StoredFileError } from '../core/errors.js';
import { Mask } from '../core/mask.js';
import { splitTrainingTensors } from '../train/checkpoint.js';
import type { StoredConfig, StoredEpoch, StoredResult } from './records.js';
import { RunDirectory } from './run-directory.js';

export type { StoredConfig, StoredEpoch, StoredProgress, StoredResult } from './records.js';
export { RunDirectory, type StoredCheckpoint } from './run-directory.js';

export const RUN_STATES = [
  'pending',
  'running',
  'interrupted',
  'finished',
  'diverged',
  'failed',
  /** A file of the run is corrupt or of an unknown version: `error` names it. */
  'unreadable',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface RunStatus {
  readonly id: string;
  readonly state: RunState;
  readonly config?: RunConfig;
  readonly result?: StoredResult;
  readonly error?: string;
  /** Epochs recorded so far in metrics.jsonl. */
  readonly epochs: number;
}

/** How {@link Store.importRun} ended. */
export type ImportOutcome = 'imported' | 'already-finished' | 'busy';

export interface StoredNetwork {
  /** `<id>@final` or `<id>@<cycle>`. */
  readonly ref: string;
  readonly id: string;
  readonly cycle: number | null;
  readonly config: RunConfig;
  /** Parameters and BatchNorm buffers by name. */
  readonly values: ReadonlyMap<string, Float32Array>;
  readonly mask: Mask;
}

/** `read()`, or undefined when it throws. */
function quietly<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export class Store {
  readonly root: string;

  constructor(root = 'runs') {
    this.root = root;
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  run(id: string): RunDirectory {
    return new RunDirectory(this.root, id);
  }

  /** The directory of `config`'s run (named by its id). */
  runOf(config: RunConfig): RunDirectory {
    return this.run(runId(config));
  }

  /**
   * Stores a run finished elsewhere (a queue worker on another machine): config, metrics and
   * result, result.json last, under the run's lock. Exactly once: a run already finished here is
   * left untouched, and a concurrent import or execution of the same run gets `busy`.
   */
  importRun(
    config: RunConfig,
    result: StoredResult,
    metrics: readonly StoredEpoch[],
  ): ImportOutcome {
    const run = this.runOf(config);
    if (!run.acquire()) return 'busy';
    try {
      if (run.result() !== undefined) return 'already-finished';
      run.ensureConfig(config);
      run.writeMetrics(metrics);
      run.clearFailure();
      run.writeResult(result);
      return 'imported';
    } finally {
      run.release();
    }
  }

  /** Where `id` stands; a run with a corrupt file is `unreadable`, the error naming the file. */
  status(id: string): RunStatus {
    try {
      return this.#status(id);
    } catch (error) {
      if (!(error instanceof StoredFileError)) throw error;
      // What can still be read is shown beside the error (which configuration, how far).
      const run = this.run(id);
      const config = quietly(() => run.config()?.config);
      const epochs = quietly(() => run.epochs()) ?? 0;
      return {
        id,
        state: 'unreadable',
        error: error.message,
        epochs,
        ...(config === undefined ? {} : { config }),
      };
    }
  }

  #status(id: string): RunStatus {
    const run = this.run(id);
    const stored = run.config();
    const result = run.result();
    const epochs = run.epochs();
    const base = { id, epochs, ...(stored ? { config: stored.config } : {}) };
    if (result !== undefined)
      return { ...base, state: result.status === 'diverged' ? 'diverged' : 'finished', result };
    if (run.locked()) return { ...base, state: 'running' };
    const failed = run.failure();
    if (failed !== undefined) return { ...base, state: 'failed', error: failed.message };
    if (run.hasCheckpoint() || epochs > 0) return { ...base, state: 'interrupted' };
    return { ...base, state: 'pending' };
  }

  /** Every run directory of the store, by id. */
  list(): RunStatus[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root, { withFileTypes: true })
      .filter(
        (entry) => entry.isDirectory() && existsSync(join(this.root, entry.name, 'config.json')),
      )
      .map((entry) => this.status(entry.name))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * A stored network: `<id>` (or `<id>@final`) is a finished run's final network, `<id>@<k>` the
   * network at the end of its k-th cycle (1-based, as in result.cycles).
   */
  network(ref: string): StoredNetwork {
    const match = /^([a-z0-9-]+?)(?:@(final|\d+))?$/.exec(ref);
    if (match === null)
      throw new InvalidArgumentError('run', 'a run id, optionally @final or @<cycle>', ref);
    const id = match[1]!;
    const which = match[2] ?? 'final';
    const run = this.run(id);
    const stored: StoredConfig | undefined = run.config();
    if (stored === undefined)
      throw new InvalidArgumentError(
        'run',
        `a run of the store ${this.root} (see \`cyclesparse status\`)`,
        id,
      );
    if (which === 'final') {
      const checkpoint = run.result() === undefined ? undefined : run.checkpoint();
      if (checkpoint === undefined)
        throw new InvalidArgumentError(
          'run',
          'a finished run (its final network)',
          `${id} (${this.status(id).state})`,
        );
      return {
        ref: `${id}@final`,
        id,
        cycle: null,
        config: stored.config,
        values: splitTrainingTensors(checkpoint.tensors).params,
        mask: Mask.fromJSON(checkpoint.progress.mask),
      };
    }
    const cycle = Number(which);
    const network = run.cycleNetwork(cycle);
    if (network === undefined) {
      const kept = run.cycles();
      throw new InvalidArgumentError(
        'run',
        kept.length > 0
          ? `a stored cycle of ${id}: ${kept.map((k) => `@${k}`).join(', ')}`
          : `a stored cycle, but ${id} kept no cycle networks (trained before they were kept): compare its final network (@final) or train it again`,
        ref,
      );
    }
    return {
      ref: `${id}@${cycle}`,
      id,
      cycle,
      config: stored.config,
      values: network.tensors,
      mask: Mask.fromJSON(network.meta.mask),
    };
  }

  /** Cycles whose networks are stored for `id` (1-based), in order. */
  storedCycles(id: string): number[] {
    return this.run(id).cycles();
  }

  result(id: string): StoredResult | undefined {
    return this.run(id).result();
  }

  metrics(id: string): StoredEpoch[] {
    return this.run(id).metrics();
  }
}
