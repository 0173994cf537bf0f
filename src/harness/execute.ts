/**
 * Executing one run against a store: the only place that joins the store to training. It opens
 * the engine the configuration names, builds the experiment, resumes from the run's checkpoint,
 * runs the pipeline with hooks that write through the store (metrics, checkpoints, cycle
 * networks, the result) and says how the run ended, errors classified as input or runtime.
 * A local pool process (`pool-task.ts`), the queue's cell process and `cyclesparse run` call it.
 */

import { buildExperiment } from '../config/build.js';
import type { RunConfig } from '../config/schema.js';
import { CyclesparseError, StoredFileError } from '../core/errors.js';
import { DatasetFileError } from '../data/files.js';
import { BackendUnavailableError } from '../engine/engine.js';
import { openEngine } from '../engine/open.js';
import {
  runPipeline,
  type EpochRecord,
  type PipelineResult,
  type ResumeState,
} from '../methods/runner.js';
import { LockLostError, type RunDirectory } from '../store/run-directory.js';
import type { Store } from '../store/store.js';
import { epochEvent, type MetricSink } from '../sinks/sink.js';
import { warnOnBackendChange } from '../train/checkpoint.js';
import { hostname } from 'node:os';
import { cyclesparseVersion, gitCommit } from './provenance.js';

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
       * `input`: the configuration, data, backend or a stored file is wrong — running it again
       * fails the same way (a queue must not retry it). `runtime`: anything else.
       */
      readonly kind: 'input' | 'runtime';
    };

/** Whether `error` is the input's fault (configuration, data, backend, a stored file). */
export function isInputError(error: unknown): boolean {
  return (
    error instanceof CyclesparseError || // StoredFileError included
    error instanceof DatasetFileError ||
    error instanceof BackendUnavailableError
  );
}

const finished = (result: PipelineResult) =>
  result.status === 'diverged' ? ('diverged' as const) : ('finished' as const);

export interface ExecuteOptions {
  /**
   * Delete the run's checkpoint first and train it from the start: the way forward when the
   * checkpoint cannot be read (the CLI's `--discard-checkpoint`). A finished run is not touched.
   */
  readonly discardCheckpoint?: boolean;
  /**
   * Where the run's metrics stream besides the store (`--log`): started when training starts
   * (not for a run skipped as finished), told every stored epoch, ended with the run's status.
   * Built by `createSinks` (sinks/open.ts), which keeps a failing sink from stopping the run.
   */
  readonly sinks?: MetricSink;
}

/** What a corrupt checkpoint's error adds: how to go on. */
export const DISCARD_CHECKPOINT_HINT =
  'the checkpoint cannot be read; to discard it and train the run from the start, run it again with --discard-checkpoint';

/** Runs `config` unless it is finished (skipped) or running elsewhere; resumes if interrupted. */
export async function executeRun(
  store: Store,
  config: RunConfig,
  log?: (line: string) => void,
  options: ExecuteOptions = {},
): Promise<ExecuteOutcome> {
  const run = store.runOf(config);
  const { id } = run;
  if (!run.acquire()) return { state: 'running-elsewhere', id };
  try {
    // A result.json that cannot be read throws here: the run is not trained again over it.
    const existing: PipelineResult | undefined = run.result();
    if (existing !== undefined)
      return { state: finished(existing), id, result: existing, resumed: false, skipped: true };
    run.ensureConfig(config);
    run.clearFailure();
    if (options.discardCheckpoint === true && run.hasCheckpoint()) {
      run.discardCheckpoint();
      log?.(`${id}: checkpoint discarded; training from the start`);
    }
    const started = new Date().toISOString();
    const { resumedAfter, ...result } = await train(run, config, log, options.sinks);
    run.assertHeld(); // a process that lost its lock writes nothing more
    const { backend } = result.result;
    run.writeResult({
      ...result.result,
      provenance: {
        started,
        finished: new Date().toISOString(),
        resumedAfter,
        version: cyclesparseVersion(),
        commit: gitCommit(),
        host: hostname(),
        backend: backend.name,
        threads: backend.threads,
      },
    });
    await options.sinks?.end({ status: finished(result.result) });
    return { state: finished(result.result), id, ...result, skipped: false };
  } catch (error) {
    // Lost the lock (its lease expired and another process took the run over): not ours to mark.
    if (!(error instanceof LockLostError)) run.writeFailure(error as Error);
    await options.sinks?.end({ status: 'failed' });
    const kind = isInputError(error) ? 'input' : 'runtime';
    return { state: 'failed', id, error: (error as Error).message, kind };
  } finally {
    run.release();
  }
}

/** `read()`, with a stored file it cannot read named together with the way forward. */
function withDiscardHint<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof StoredFileError)) throw error;
    throw new StoredFileError(
      { file: error.file, ...(error.line === undefined ? {} : { line: error.line }) },
      undefined,
      error.allowed,
      error.received,
      `${error.message} (${DISCARD_CHECKPOINT_HINT})`,
    );
  }
}

/** The run's checkpoint to resume from, falling back to the one before a corrupt one. */
function resumable(run: RunDirectory, log?: (line: string) => void) {
  return withDiscardHint(() => {
    const checkpoint = run.checkpoint({ recover: true });
    if (checkpoint?.recovered !== undefined)
      (log ?? console.warn)(
        `${run.id}: ${checkpoint.recovered}; resuming from the checkpoint before it`,
      );
    return checkpoint;
  });
}

/** Trains the run from its checkpoint (or from the start), writing as it goes. */
async function train(
  run: RunDirectory,
  config: RunConfig,
  log?: (line: string) => void,
  sinks?: MetricSink,
): Promise<{ result: PipelineResult; resumed: boolean; resumedAfter: number }> {
  const engine = await openEngine(config.training);
  const { setup, pipeline } = buildExperiment(config);
  const checkpoint = resumable(run, log);
  let resume: ResumeState | undefined;
  if (checkpoint !== undefined) {
    warnOnBackendChange(checkpoint.backend, engine.info);
    resume = { progress: checkpoint.progress, tensors: checkpoint.tensors };
    // Metrics lost or corrupt before the checkpoint: refused, never resumed over.
    withDiscardHint(() => run.keepEpochs(resume!.progress.emitted));
    log?.(
      `${run.id}: resuming at phase ${resume.progress.phase + 1}/${pipeline.phases.length} after ${resume.progress.emitted} epochs`,
    );
  } else {
    run.clearMetrics();
  }
  // Steps are lines of metrics.jsonl: a resumed run goes on after the epochs kept.
  let step = resume?.progress.emitted ?? 0;
  await sinks?.start({
    id: run.id,
    config,
    backend: engine.info.name,
    firstStep: step,
    version: cyclesparseVersion(),
  });
  const result = await runPipeline(engine, setup, pipeline, {
    ...(resume === undefined ? {} : { resume }),
    onEpoch: async (record: EpochRecord) => {
      run.assertHeld();
      run.appendEpoch(record);
      await sinks?.epoch(epochEvent(record, step++));
      log?.(
        `${run.id}: ${record.phase} epoch ${record.metrics.epoch + 1} loss ${record.metrics.trainLoss.toFixed(4)} test acc ${(100 * record.test.accuracy).toFixed(2)}%`,
      );
      // Training never gives the event loop a turn (TF.js kernels run synchronously): one turn
      // per epoch lets a signal handler (`cyclesparse run` on Ctrl-C or SIGTERM) stop the run here.
      await new Promise((resolve) => setImmediate(resolve));
    },
    checkpoint: ({ progress, tensors }) => {
      run.assertHeld();
      run.writeCheckpoint({ model: setup.spec.name, backend: engine.info, progress, tensors });
    },
    // Every cycle's network, for analyses between cycles (linear mode connectivity, sharpness).
    onCycleEnd: async (event) => {
      const values = await event.model.read();
      run.assertHeld();
      run.writeCycleNetwork(
        {
          cycle: event.cycle,
          phase: event.phase,
          level: event.level,
          mask: event.mask.toJSON(),
          backend: engine.info.name,
        },
        values,
      );
    },
  });
  return { result, resumed: resume !== undefined, resumedAfter: resume?.progress.emitted ?? 0 };
}
