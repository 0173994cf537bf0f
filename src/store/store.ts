/**
 * The results store: one directory per run under a root (default `./runs`), plain files any tool
 * can read (the format is documented in docs/STORE.md):
 *
 *   <root>/<run id>/config.json    the resolved configuration, its id and canonical form
 *                   metrics.jsonl  one JSON line per trained epoch (metrics and test evaluation)
 *                   checkpoint/    the latest resumable state (state.json + tensors.bin); for a
 *                                  finished run, its final network
 *                   cycles/<k>/    the network (and mask) at the end of cycle k
 *                   result.json    the final result (status completed or diverged)
 *                   failed.json    the error of a run that failed
 *                   lock           {pid, host, started} while a process runs it
 *
 * Safety: every file but metrics.jsonl is written to a temporary name and renamed; metrics lines
 * are appended whole, and on resume the file is cut back to the lines the checkpoint accounts
 * for. A run is executed by whoever creates its lock file (O_EXCL), so two processes sharing a
 * store never run the same cell at once; a lock whose process is gone is taken over. A finished
 * run is skipped; an interrupted one resumes from its checkpoint and ends exactly as an
 * uninterrupted run would on the same backend.
 */

import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, runId, withoutDefaults } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { buildExperiment } from '../config/build.js';
import { BackendUnavailableError } from '../engine/engine.js';
import { openEngine } from '../engine/open.js';
import {
  runPipeline,
  type EpochRecord,
  type PipelineProgress,
  type PipelineResult,
} from '../methods/runner.js';
import { splitTrainingTensors, warnOnBackendChange } from '../train/checkpoint.js';
import { CyclesparseError, InvalidArgumentError } from '../core/errors.js';
import { DatasetFileError } from '../data/files.js';
import { Mask } from '../core/mask.js';
import { readState, writeState } from './state-files.js';

export const RUN_STATES = [
  'pending',
  'running',
  'interrupted',
  'finished',
  'diverged',
  'failed',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface RunStatus {
  readonly id: string;
  readonly state: RunState;
  readonly config?: RunConfig;
  readonly result?: PipelineResult;
  readonly error?: string;
  /** Epochs recorded so far in metrics.jsonl. */
  readonly epochs: number;
}

export type ExecuteOutcome =
  | {
      readonly state: 'finished' | 'diverged';
      readonly id: string;
      readonly result: PipelineResult;
      readonly resumed: boolean;
      readonly skipped: boolean;
    }
  | { readonly state: 'running-elsewhere'; readonly id: string }
  | {
      readonly state: 'failed';
      readonly id: string;
      readonly error: string;
      /**
       * `input`: the configuration, data or backend is wrong — running it again fails the same
       * way (a queue must not retry it). `runtime`: anything else.
       */
      readonly kind: 'input' | 'runtime';
    };

/** How {@link Store.importRun} ended. */
export type ImportOutcome = 'imported' | 'already-finished' | 'busy';

interface Lock {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const staging = `${file}.partial-${process.pid}`;
  writeFileSync(staging, `${JSON.stringify(value, null, 1)}\n`);
  renameSync(staging, file);
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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

export interface StoredConfig {
  readonly id: string;
  readonly canonical: string;
  readonly config: RunConfig;
}

export class Store {
  readonly root: string;

  constructor(root = 'runs') {
    this.root = root;
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  #lockFile(id: string): string {
    return join(this.dir(id), 'lock');
  }

  /** Takes the run's lock, or says who holds it. A lock left by a dead process is taken over. */
  #acquire(id: string): boolean {
    const file = this.#lockFile(id);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(
          fd,
          JSON.stringify({
            pid: process.pid,
            host: hostname(),
            started: new Date().toISOString(),
          } satisfies Lock),
        );
        closeSync(fd);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const lock = readJson<Lock>(file);
        if (lock !== undefined && lock.host === hostname() && alive(lock.pid)) return false;
        if (lock !== undefined && lock.host !== hostname()) return false; // cannot tell: leave it
        rmSync(file, { force: true }); // stale: its process is gone
      }
    }
    return false;
  }

  #release(id: string): void {
    const lock = readJson<Lock>(this.#lockFile(id));
    if (lock?.pid === process.pid && lock.host === hostname())
      rmSync(this.#lockFile(id), { force: true });
  }

  /** Runs `config` unless it is finished (skipped) or running elsewhere; resumes if interrupted. */
  async execute(config: RunConfig, log?: (line: string) => void): Promise<ExecuteOutcome> {
    const id = runId(config);
    const dir = this.dir(id);
    mkdirSync(dir, { recursive: true });
    if (!this.#acquire(id)) return { state: 'running-elsewhere', id };
    try {
      const existing = readJson<PipelineResult>(join(dir, 'result.json'));
      if (existing !== undefined)
        return {
          state: existing.status === 'diverged' ? 'diverged' : 'finished',
          id,
          result: existing,
          resumed: false,
          skipped: true,
        };
      const canonical = canonicalJson(withoutDefaults(config));
      const stored = readJson<StoredConfig>(join(dir, 'config.json'));
      if (stored !== undefined && stored.canonical !== canonical) {
        throw new Error(
          `${dir}/config.json describes another run (id collision or edited file): refusing to mix results`,
        );
      }
      if (stored === undefined)
        writeJsonAtomic(join(dir, 'config.json'), { id, canonical, config } satisfies StoredConfig);
      rmSync(join(dir, 'failed.json'), { force: true });

      const engine = await openEngine(config.training);
      const { setup, pipeline } = buildExperiment(config);
      const checkpointDir = join(dir, 'checkpoint');
      const metricsFile = join(dir, 'metrics.jsonl');
      let resume:
        { progress: PipelineProgress; tensors: ReadonlyMap<string, Float32Array> } | undefined;
      if (existsSync(join(checkpointDir, 'state.json'))) {
        const state = readState(
          checkpointDir,
          (meta) => meta as { progress: PipelineProgress; backend: string },
        );
        warnOnBackendChange(state.meta.backend, engine.info);
        resume = { progress: state.meta.progress, tensors: state.tensors };
        const lines = existsSync(metricsFile)
          ? readFileSync(metricsFile, 'utf8')
              .split('\n')
              .filter((l) => l.length > 0)
          : [];
        writeFileSync(
          `${metricsFile}.partial-${process.pid}`,
          lines
            .slice(0, resume.progress.emitted)
            .map((l) => `${l}\n`)
            .join(''),
        );
        renameSync(`${metricsFile}.partial-${process.pid}`, metricsFile);
        log?.(
          `${id}: resuming at phase ${resume.progress.phase + 1}/${pipeline.phases.length} after ${resume.progress.emitted} epochs`,
        );
      } else {
        rmSync(metricsFile, { force: true });
      }
      const backend = engine.info.name;
      const result = await runPipeline(engine, setup, pipeline, {
        ...(resume === undefined ? {} : { resume }),
        onEpoch: (record: EpochRecord) => {
          writeFileSync(metricsFile, `${JSON.stringify(record)}\n`, { flag: 'a' });
          log?.(
            `${id}: ${record.phase} epoch ${record.metrics.epoch + 1} loss ${record.metrics.trainLoss.toFixed(4)} test acc ${(100 * record.test.accuracy).toFixed(2)}%`,
          );
        },
        checkpoint: (state) =>
          writeState(checkpointDir, { progress: state.progress, backend }, state.tensors),
        // Every cycle's network, for analyses between cycles (linear mode connectivity, sharpness).
        onCycleEnd: async (event) =>
          writeState(
            join(dir, 'cycles', String(event.cycle)),
            {
              cycle: event.cycle,
              phase: event.phase,
              level: event.level,
              mask: event.mask.toJSON(),
              backend,
            },
            await event.model.read(),
          ),
      });
      writeJsonAtomic(join(dir, 'result.json'), result);
      return {
        state: result.status === 'diverged' ? 'diverged' : 'finished',
        id,
        result,
        resumed: resume !== undefined,
        skipped: false,
      };
    } catch (error) {
      const message = (error as Error).message;
      writeJsonAtomic(join(dir, 'failed.json'), {
        message,
        stack: (error as Error).stack ?? null,
        at: new Date().toISOString(),
      });
      const input =
        error instanceof CyclesparseError ||
        error instanceof DatasetFileError ||
        error instanceof BackendUnavailableError;
      return { state: 'failed', id, error: message, kind: input ? 'input' : 'runtime' };
    } finally {
      this.#release(id);
    }
  }

  /**
   * Stores a run finished elsewhere (a queue worker on another machine): config, metrics and
   * result, result.json last, under the run's lock. Exactly once: a run already finished here is
   * left untouched, and a concurrent import or execution of the same run gets `busy`.
   */
  importRun(
    config: RunConfig,
    result: PipelineResult,
    metrics: readonly EpochRecord[],
  ): ImportOutcome {
    const id = runId(config);
    const dir = this.dir(id);
    mkdirSync(dir, { recursive: true });
    if (!this.#acquire(id)) return 'busy';
    try {
      if (existsSync(join(dir, 'result.json'))) return 'already-finished';
      const canonical = canonicalJson(withoutDefaults(config));
      const stored = readJson<StoredConfig>(join(dir, 'config.json'));
      if (stored !== undefined && stored.canonical !== canonical) {
        throw new Error(
          `${dir}/config.json describes another run: refusing to import ${id} over it`,
        );
      }
      if (stored === undefined)
        writeJsonAtomic(join(dir, 'config.json'), { id, canonical, config } satisfies StoredConfig);
      const staging = join(dir, `metrics.jsonl.partial-${process.pid}`);
      writeFileSync(staging, metrics.map((record) => `${JSON.stringify(record)}\n`).join(''));
      renameSync(staging, join(dir, 'metrics.jsonl'));
      rmSync(join(dir, 'failed.json'), { force: true });
      writeJsonAtomic(join(dir, 'result.json'), result);
      return 'imported';
    } finally {
      this.#release(id);
    }
  }

  status(id: string): RunStatus {
    const dir = this.dir(id);
    const stored = readJson<StoredConfig>(join(dir, 'config.json'));
    const result = readJson<PipelineResult>(join(dir, 'result.json'));
    const failed = readJson<{ message: string }>(join(dir, 'failed.json'));
    const lock = readJson<Lock>(this.#lockFile(id));
    const metrics = join(dir, 'metrics.jsonl');
    const epochs = existsSync(metrics)
      ? readFileSync(metrics, 'utf8')
          .split('\n')
          .filter((l) => l.length > 0).length
      : 0;
    const base = { id, epochs, ...(stored ? { config: stored.config } : {}) };
    if (result !== undefined)
      return { ...base, state: result.status === 'diverged' ? 'diverged' : 'finished', result };
    if (lock !== undefined && (lock.host !== hostname() || alive(lock.pid)))
      return { ...base, state: 'running' };
    if (failed !== undefined) return { ...base, state: 'failed', error: failed.message };
    if (existsSync(join(dir, 'checkpoint', 'state.json')) || epochs > 0)
      return { ...base, state: 'interrupted' };
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
    const stored = readJson<StoredConfig>(join(this.dir(id), 'config.json'));
    if (stored === undefined)
      throw new InvalidArgumentError(
        'run',
        `a run of the store ${this.root} (see \`cyclesparse status\`)`,
        id,
      );
    if (which === 'final') {
      if (this.result(id) === undefined)
        throw new InvalidArgumentError(
          'run',
          'a finished run (its final network)',
          `${id} (${this.status(id).state})`,
        );
      const state = readState(
        join(this.dir(id), 'checkpoint'),
        (meta) => meta as { progress: PipelineProgress },
      );
      return {
        ref: `${id}@final`,
        id,
        cycle: null,
        config: stored.config,
        values: splitTrainingTensors(state.tensors).params,
        mask: Mask.fromJSON(state.meta.progress.mask),
      };
    }
    const cycle = Number(which);
    const cycleDir = join(this.dir(id), 'cycles', String(cycle));
    if (!existsSync(join(cycleDir, 'state.json'))) {
      const kept = existsSync(join(this.dir(id), 'cycles'))
        ? readdirSync(join(this.dir(id), 'cycles'))
            .filter((n) => /^\d+$/.test(n))
            .sort((a, b) => Number(a) - Number(b))
        : [];
      throw new InvalidArgumentError(
        'run',
        kept.length > 0
          ? `a stored cycle of ${id}: ${kept.map((k) => `@${k}`).join(', ')}`
          : `a stored cycle, but ${id} kept no cycle networks (trained before they were kept): compare its final network (@final) or train it again`,
        ref,
      );
    }
    const state = readState(cycleDir, (meta) => meta as { mask: unknown });
    return {
      ref: `${id}@${cycle}`,
      id,
      cycle,
      config: stored.config,
      values: state.tensors,
      mask: Mask.fromJSON(state.meta.mask),
    };
  }

  /** Cycles whose networks are stored for `id` (1-based), in order. */
  storedCycles(id: string): number[] {
    const dir = join(this.dir(id), 'cycles');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => /^\d+$/.test(n) && existsSync(join(dir, n, 'state.json')))
      .map(Number)
      .sort((a, b) => a - b);
  }

  result(id: string): PipelineResult | undefined {
    return readJson<PipelineResult>(join(this.dir(id), 'result.json'));
  }

  metrics(id: string): EpochRecord[] {
    const file = join(this.dir(id), 'metrics.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as EpochRecord);
  }
}
