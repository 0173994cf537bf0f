/**
 * Planning runs without training them: the resolved configurations of a file, their ids, and a
 * cost estimate. Epochs, steps and evaluated images come from the configuration and the data
 * set's published sizes (no data is read: a dry run works before the data is downloaded); time
 * comes from measuring, on synthetic data of the same shape, what a run repeats — an epoch's
 * training request per step, the evaluation after each epoch per image, the checkpoint written
 * after each epoch — at the thread count the run will have, plus a fixed cost per run and per
 * pool process measured by benchmarks/estimate.ts (docs/PERFORMANCE.md, "Estimates").
 */

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  augmentationFor,
  modelFor,
  normalizationFor,
  plannedWork,
  type PlannedWork,
} from '../config/build.js';
import { loadConfigFile, resolveRuns, runId } from '../config/resolve.js';
import { applyOverrides, type Override } from '../config/overrides.js';
import { isFileDatasetName, type RunConfig } from '../config/schema.js';
import { CONSTANT, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { NO_AUGMENTATION } from '../data/batches.js';
import { syntheticDataset } from '../data/dataset.js';
import type { Engine, EngineModel } from '../engine/engine.js';
import { initialValues } from '../models/init.js';
import { layerMacs, type ModelSpec } from '../models/spec.js';
import { writeState } from '../train/state-files.js';
import { Trainer } from '../train/trainer.js';
import { seconds } from '../text/format.js';

export interface PlannedRun {
  readonly id: string;
  readonly config: RunConfig;
  readonly epochs: number;
  readonly steps: number;
  /** What the run does besides its steps (from the configuration; no data read). */
  readonly work: PlannedWork;
  /** Estimated wall time in seconds; null before `estimateTime`. */
  readonly seconds: number | null;
  /** Why `seconds` is null after `estimateTime` (the step could not run on this backend). */
  readonly unmeasured?: string;
  /** What `seconds` was computed from (shared by the runs of one model, batch and engine). */
  readonly basis?: MeasuredCost;
}

/** The runs a file describes, with `key=value` overrides set in it first (config/overrides.ts). */
export function planFile(file: string, overrides: readonly Override[] = []): PlannedRun[] {
  return planConfigs(resolveRuns(applyOverrides(loadConfigFile(file), overrides, file), file));
}

export function planConfigs(configs: readonly RunConfig[]): PlannedRun[] {
  return configs.map((config) => {
    const work = plannedWork(config);
    return {
      id: runId(config),
      config,
      epochs: work.epochs,
      steps: work.steps,
      work,
      seconds: null,
    };
  });
}

/**
 * Fixed costs a step measurement cannot see, measured by benchmarks/estimate.ts as the measured
 * time less the modelled time over the mini suite (docs/PERFORMANCE.md): per run, its lock,
 * configuration, data subset, initial weights, metrics lines and result; per process that trains
 * runs, its start (module loading, the wasm module, the data set read and checked).
 */
export const RUN_OVERHEAD_SECONDS = 0;
export const PROCESS_START_SECONDS = 0;

/** Measured costs of one (model, batch, engine, threads). */
export interface MeasuredCost {
  readonly model: string;
  /** The input's height and width (the crop, on file data sets). */
  readonly imageSize?: number;
  readonly batchSize: number;
  readonly backend: string;
  /** PyTorch engine: the device as configured and its own name (`cuda (NVIDIA H100 …)`). */
  readonly device?: string;
  /** PyTorch engine: the arithmetic measured (fp32, tf32, bf16). */
  readonly precision?: string;
  /** Whether the device is a GPU (cuda, mps): runs sharing it share its time. */
  readonly gpu?: boolean;
  readonly threads: number;
  /**
   * The second (warm) step's milliseconds when it took longer than {@link SLOW_STEP_MS}: then
   * only the minimum was timed (a cold step, two timed steps of which that warm one is the
   * first, one evaluation batch, one checkpoint, none of the last two warmed up).
   */
  readonly slowStepMs?: number;
  /**
   * The batch the step was measured at when the run's `batchSize` did not fit this machine's
   * memory (halved until one did): `stepMs` is then scaled linearly from it ({@link scaledCost}).
   */
  readonly measuredBatch?: number;
  /**
   * The run reads image files (ImageNet, folder data): the steps were measured on synthetic
   * pixels of the crop's size, so decoding and resizing the files is not in the estimate.
   */
  readonly decodingExcluded?: boolean;
  /** Milliseconds per training step (median over timed epochs of `stepsTimed / epochs` steps). */
  readonly stepMs: number;
  readonly stepsTimed: number;
  /** Milliseconds per evaluated image (eval batch `evalBatch`). */
  readonly evalMsPerImage: number;
  readonly evalBatch: number;
  /** Milliseconds to read the network and its momentum and write them as a checkpoint. */
  readonly checkpointMs: number;
}

export interface MeasureOptions {
  /** Threads of the native kernels while measuring (default: what a run gets, `nativeThreads`). */
  readonly threads?: number;
  /** Seconds of timed training to aim for (default 1). */
  readonly budgetSeconds?: number;
}

/**
 * A warm step (the second: the first compiles kernels and allocates buffers, which a run pays
 * once) slower than this (ResNet-50 on 224×224 images on a CPU) makes the measurement the minimum: a dry run of a paper-scale suite must not itself take an hour.
 * CYCLESPARSE_SLOW_STEP_MS sets another limit (0: always the minimum, for a quick estimate).
 */
export const SLOW_STEP_MS = 5000;

function slowStepMs(): number {
  const fromEnv = Number(process.env.CYCLESPARSE_SLOW_STEP_MS);
  return process.env.CYCLESPARSE_SLOW_STEP_MS !== undefined && fromEnv >= 0
    ? fromEnv
    : SLOW_STEP_MS;
}

/**
 * Synthetic images made for a measurement, at most this many bytes (a few steps of ImageNet-size
 * batches rather than the 32 steps CIFAR batches get).
 */
const SYNTHETIC_BYTES = 256 * 2 ** 20;

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Synthetic images of the model's input shape. Their labels are 8-bit: a model of more classes
 * (ImageNet's 1,000) gets labels among its first 255, which costs a step the same.
 */
function synthetic(spec: ModelSpec, count: number, name: string) {
  return syntheticDataset({
    shape: spec.input,
    classes: Math.min(spec.classes, 255),
    count,
    stream: randomStream(0, `estimate/${name}`),
  });
}

/** A trainer over `steps` synthetic batches per epoch, as the run trains them (one request per epoch). */
function epochTrainer(model: EngineModel, spec: ModelSpec, config: RunConfig, steps: number) {
  const batchSize = config.training.batchSize;
  return new Trainer(
    model,
    {
      dataset: synthetic(spec, steps * batchSize, `train${steps}`),
      normalization: normalizationFor(config.data),
      // Synthetic pixels are already the crop's size: a file data set's crop (drawn per image,
      // applied while decoding) has no pixel counterpart, and is not measured.
      augmentation: isFileDatasetName(config.data.dataset)
        ? NO_AUGMENTATION
        : augmentationFor(config.data),
      batchSize,
    },
    new LrSchedule({
      peak: 0.01,
      shape: CONSTANT,
      granularity: 'step',
      stepsPerEpoch: steps,
      cycleEpochs: [1000],
    }),
    { seed: 0 },
  );
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

/**
 * Measures what a run of `config` repeats, on synthetic data of its image shape, on its engine:
 * a training step (warm-up, then whole epochs of several steps in one request each, as training
 * sends them, until about `budgetSeconds`; the median epoch per step), evaluation per image at
 * the run's eval batch, and a checkpoint write. A warm-up step slower than {@link SLOW_STEP_MS}
 * gets the minimum instead: two timed steps, one timed evaluation batch, one checkpoint.
 */
export async function measureCost(
  config: RunConfig,
  options: MeasureOptions = {},
): Promise<MeasuredCost> {
  // Imported here: they load TF.js (~1 s), which planning, the gate and reports do not need.
  const { nativeThreads } = await import('../engine/backend.js');
  const { loadNative } = await import('../engine/native.js');
  const { openEngine } = await import('../engine/open.js');
  const engine: Engine = await openEngine(config.training);
  const threads = options.threads ?? nativeThreads();
  const budget = (options.budgetSeconds ?? 1) * 1000;
  // The native kernels' threads are the process's: set for the measurement, put back after.
  const addon = engine.info.name === 'native' ? loadNative().addon : undefined;
  addon?.setThreads(threads);
  const spec = modelFor(config);
  const model = await engine.model(spec, initialValues(spec, 0));
  const dir = mkdtempSync(join(os.tmpdir(), 'cyclesparse-estimate-'));
  try {
    const work = plannedWork(config);
    const batchSize = config.training.batchSize;
    const stepsPerEpoch = Math.ceil(work.trainImages / batchSize);
    const imageBytes = spec.input[0] * spec.input[1] * spec.input[2];
    // A cold step (kernels compiled, buffers allocated: paid once per run, however slow), then
    // a warm one that decides whether the step is slow.
    const probe = epochTrainer(model, spec, config, 1);
    await probe.trainStep();
    const warm = await timed(() => probe.trainStep());
    const slow = warm > slowStepMs();
    // Each measurement: warm-ups first (not counted), then the timed repetitions.
    const repeats = slow ? { warm: 1, timed: 1 } : { warm: 1, timed: 3 };
    let perStep: number[] = [];
    let stepsTimed: number;
    if (slow) {
      perStep = [warm, await timed(() => probe.trainStep())];
      stepsTimed = 2;
    } else {
      const rough: number[] = [warm];
      for (let i = 0; i < 2; i++) rough.push(await timed(() => probe.trainStep()));
      // Epochs of a few steps each: long enough that a request's fixed cost is shared as in a
      // real epoch, no more steps than the real epoch has, about a fifth of the budget each, and
      // no more synthetic images than SYNTHETIC_BYTES.
      const steps = Math.max(
        1,
        Math.min(
          stepsPerEpoch,
          32,
          Math.floor(SYNTHETIC_BYTES / (imageBytes * batchSize)),
          Math.ceil(budget / 5 / Math.max(median(rough), 0.01)),
        ),
      );
      const trainer = epochTrainer(model, spec, config, steps);
      await trainer.run({ untilStep: steps }); // the first epoch of this size: a warm-up
      let spent = 0;
      while (perStep.length < 3 || (spent < budget && perStep.length < 15)) {
        const until = trainer.position.step + steps;
        const ms = await timed(() => trainer.run({ untilStep: until }));
        perStep.push(ms / steps);
        spent += ms;
      }
      stepsTimed = perStep.length * steps;
    }
    const evalBatch = Math.max(batchSize, 256);
    const evalImages = Math.min(
      work.testImages,
      (slow ? 1 : 4) * evalBatch,
      Math.max(1, Math.floor(SYNTHETIC_BYTES / imageBytes)),
    );
    const testSet = synthetic(spec, evalImages, 'test');
    const normalization = normalizationFor(config.data);
    const evals: number[] = [];
    // A slow step's forward pass has warmed the kernels evaluation uses: one timed batch.
    const evalsWarm = slow ? 0 : repeats.warm;
    for (let i = 0; i < evalsWarm + repeats.timed; i++) {
      const ms = await timed(() => model.evaluate(testSet, normalization, evalBatch));
      if (i >= evalsWarm) evals.push(ms / testSet.count);
    }
    const writes: number[] = [];
    // A checkpoint has nothing to compile: the minimum is one write, not warmed up.
    const writesWarm = slow ? 0 : repeats.warm;
    for (let i = 0; i < writesWarm + repeats.timed; i++) {
      const ms = await timed(async () => {
        const weights = await model.read();
        const momentum = await model.readMomentum();
        const tensors = new Map([
          ...[...weights].map(([k, v]) => [`param:${k}`, v] as const),
          ...[...momentum].map(([k, v]) => [`momentum:${k}`, v] as const),
        ]);
        writeState(join(dir, `state${i}`), { estimate: true }, tensors);
      });
      if (i >= writesWarm) writes.push(ms);
    }
    const torch = engine.info.torch;
    return {
      model: spec.name,
      imageSize: spec.input[0],
      batchSize,
      backend: engine.info.name,
      ...(torch === undefined
        ? {}
        : { device: `${torch.device} (${torch.deviceName})`, precision: torch.precision }),
      gpu: torch !== undefined && torch.device !== 'cpu',
      threads: engine.info.name === 'native' ? threads : engine.info.threads,
      ...(slow ? { slowStepMs: warm } : {}),
      decodingExcluded: isFileDatasetName(config.data.dataset),
      stepMs: median(perStep),
      stepsTimed,
      evalMsPerImage: median(evals),
      evalBatch,
      checkpointMs: median(writes),
    };
  } finally {
    await model.dispose();
    addon?.setThreads(engine.info.threads);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The smallest batch a measurement halves down to when the run's batch does not fit: below it a
 * step is mostly fixed cost, and scaling it linearly would say little.
 */
export const MIN_MEASURED_BATCH = 8;

/**
 * A measurement at a smaller batch scaled linearly to the run's `batchSize`: the step's time
 * grows with the batch (an overestimate where the device has parallelism to spare, as a GPU
 * does); evaluation per image and a checkpoint do not depend on the training batch.
 */
export function scaledCost(cost: MeasuredCost, batchSize: number): MeasuredCost {
  return {
    ...cost,
    batchSize,
    measuredBatch: cost.measuredBatch ?? cost.batchSize,
    // `stepMs` is always the step at `cost.batchSize` (already scaled, if it was).
    stepMs: (cost.stepMs * batchSize) / cost.batchSize,
  };
}

/** The engine process died for memory: the kernel's OOM killer (SIGKILL) or the device's own. */
function outOfMemory(error: unknown): boolean {
  return /SIGKILL|out of memory/i.test((error as Error).message ?? '');
}

/**
 * For tests only: the largest batch a measurement may try (a larger one is treated as not
 * fitting), so the fallback below can be exercised without filling a machine's memory.
 */
function batchCap(): number {
  const cap = Number(process.env.CYCLESPARSE_ESTIMATE_MAX_BATCH);
  return Number.isSafeInteger(cap) && cap >= 1 ? cap : Infinity;
}

/**
 * {@link measureCost} at the run's batch, or, when the engine process dies of memory there (a
 * ResNet-50 at 224 and batch 256 on a CPU machine of 23 GB), at half the batch, and half again
 * down to {@link MIN_MEASURED_BATCH}, scaled back to the run's batch ({@link scaledCost}): an
 * estimate that says how it was made beats no estimate. Only a PyTorch engine is retried: its
 * dead process is replaced, where an aborted wasm module cannot be used again.
 */
async function measureFitting(config: RunConfig, options: MeasureOptions): Promise<MeasuredCost> {
  const batchSize = config.training.batchSize;
  let tried = batchSize;
  for (;;) {
    if (tried <= batchCap()) {
      try {
        const cost = await measureCost(
          { ...config, training: { ...config.training, batchSize: tried } },
          options,
        );
        return tried === batchSize ? cost : scaledCost(cost, batchSize);
      } catch (error) {
        const retry =
          config.training.backend === 'torch' &&
          outOfMemory(error) &&
          tried / 2 >= MIN_MEASURED_BATCH;
        if (!retry) throw error;
      }
    } else if (tried / 2 < MIN_MEASURED_BATCH)
      throw new Error(
        `CYCLESPARSE_ESTIMATE_MAX_BATCH ${batchCap()} is below the smallest batch measured, ${MIN_MEASURED_BATCH}`,
      );
    tried = Math.floor(tried / 2);
  }
}

/** Seconds a run of `work` takes at `cost`, fixed overhead included, pool start excluded. */
export function runSeconds(work: PlannedWork, cost: MeasuredCost): number {
  const ms =
    work.steps * cost.stepMs +
    work.epochs * (work.testImages * cost.evalMsPerImage + cost.checkpointMs) +
    // Each cycle's network is stored; each prune scores about one batch and is checkpointed.
    work.cycles * cost.checkpointMs +
    work.prunes * (cost.stepMs + cost.checkpointMs);
  return RUN_OVERHEAD_SECONDS + ms / 1000;
}

export interface EstimateOptions {
  /**
   * Threads each run will have on the native backend: a sweep cell's share of the pool, or a
   * single run's default (`nativeThreads`, the default here).
   */
  readonly threads?: number;
  readonly budgetSeconds?: number;
}

/**
 * Fills `seconds` from one measurement per distinct (model, batch, engine), cheapest first: a
 * step that cannot run (the wasm heap is 4 GB) leaves its runs unmeasured with the reason, and
 * since an aborted wasm module cannot be used again, the costlier ones after it too.
 */
export async function estimateTime(
  plan: readonly PlannedRun[],
  options: EstimateOptions = {},
): Promise<PlannedRun[]> {
  const keyOf = (config: RunConfig) => {
    const t = config.training;
    return `${config.model.name}:${config.model.stem ?? ''}:${config.data.dataset}:${config.data.imageSize ?? ''}:${config.data.augmentation ?? ''}:${t.batchSize}:${t.backend}:${t.device ?? ''}:${t.precision ?? ''}`;
  };
  const representative = new Map<string, RunConfig>();
  for (const run of plan)
    if (!representative.has(keyOf(run.config))) representative.set(keyOf(run.config), run.config);
  const stepCost = (config: RunConfig) =>
    [...layerMacs(modelFor(config)).values()].reduce((a, b) => a + b, 0) *
    config.training.batchSize;
  const keys = [...representative.keys()].sort(
    (a, b) => stepCost(representative.get(a)!) - stepCost(representative.get(b)!),
  );
  const measured = new Map<string, MeasuredCost | string>();
  let failure: string | undefined;
  for (const key of keys) {
    if (failure !== undefined) {
      measured.set(key, `not measured: ${failure} on a cheaper step`);
      continue;
    }
    try {
      measured.set(key, await measureFitting(representative.get(key)!, options));
    } catch (error) {
      failure = ((error as Error).message.split('\n')[0] ?? '').slice(0, 200);
      // The kernel's out-of-memory killer sends SIGKILL: say what it most likely means.
      if (/SIGKILL/.test(failure))
        failure += ` (most likely out of memory: batch ${representative.get(key)!.training.batchSize} of ${modelFor(representative.get(key)!).name} does not fit this machine)`;
      measured.set(key, failure);
    }
  }
  return plan.map((run) => {
    const cost = measured.get(keyOf(run.config))!;
    return typeof cost === 'string'
      ? { ...run, seconds: null, unmeasured: cost }
      : { ...run, seconds: runSeconds(run.work, cost), basis: cost };
  });
}

/**
 * Wall seconds of running `plan` (estimated) `concurrency` at a time as the sweep pool does:
 * cells taken in order by the first free process, each process paying its start once. The step
 * was measured with `threads` threads beside the machine's load; running `concurrency` cells of
 * `threads` each beside the same load gives each thread a smaller share of the cores when they
 * are oversubscribed, and everything slows by the ratio of the two shares. Runs measured on a GPU
 * share that one device (the pool gives every cell the configured device): running them at once
 * does not finish them sooner, so their times add up. Null when no run was measured.
 */
export function wallSeconds(
  plan: readonly PlannedRun[],
  concurrency: number,
  machine: { cores?: number; load?: number; threads?: number } = {},
): number | null {
  const measured = plan.filter((r) => r.seconds !== null && r.basis?.gpu !== true);
  const onGpu = plan.filter((r) => r.seconds !== null && r.basis?.gpu === true);
  const gpuWall =
    onGpu.length === 0
      ? 0
      : PROCESS_START_SECONDS + onGpu.reduce((total, run) => total + run.seconds!, 0);
  if (measured.length === 0) return onGpu.length === 0 ? null : gpuWall;
  const workers = Math.max(1, Math.min(concurrency, measured.length));
  const free = new Array<number>(workers).fill(PROCESS_START_SECONDS);
  for (const run of measured) {
    const next = free.indexOf(Math.min(...free));
    free[next]! += run.seconds!;
  }
  const cores = machine.cores ?? os.availableParallelism();
  const load = machine.load ?? os.loadavg()[0] ?? 0;
  const threads = machine.threads ?? 1;
  const share = (demand: number) => Math.min(1, cores / demand);
  return Math.max(
    gpuWall,
    (Math.max(...free) * share(threads + load)) / share(workers * threads + load),
  );
}

/**
 * Runs trained at once when `--concurrency` is not given: the cores, except for runs on a GPU
 * (backend torch on cuda, cuda:N or mps; torch's default device is cuda), which get one process
 * per distinct device. Runs on one GPU gain nothing from running at once (wallSeconds), and a
 * PyTorch process per core on one device holds that many CUDA contexts and models (out of memory
 * at ImageNet scale). A suite mixing CPU and GPU runs gets the GPU's limit for all of them.
 */
export function defaultConcurrency(
  configs: Iterable<RunConfig>,
  cores = os.availableParallelism(),
): number {
  const gpus = new Set<string>();
  for (const { training } of configs) {
    if (training.backend !== 'torch') continue;
    const device = training.device ?? 'cuda';
    // `cuda` is the first visible device, the same one as `cuda:0`.
    if (device !== 'cpu') gpus.add(device === 'cuda' ? 'cuda:0' : device);
  }
  return gpus.size > 0 ? gpus.size : Math.max(1, cores);
}

/**
 * Threads of the native kernels in each of `concurrency` pool processes, as the sweep pool sets
 * them (harness/sweep.ts): CYCLESPARSE_THREADS, else an equal share of the cores.
 */
export function cellThreads(concurrency: number, cores = os.availableParallelism()): number {
  const fromEnv = Number(process.env.CYCLESPARSE_THREADS);
  return Number.isSafeInteger(fromEnv) && fromEnv >= 1
    ? fromEnv
    : Math.max(1, Math.floor(cores / Math.max(1, concurrency)));
}

/** `torch cuda (NVIDIA H100) bf16`, `wasm`: the engine a cost was measured on. */
export function engineLabel(cost: MeasuredCost): string {
  return [cost.backend, cost.device, cost.precision].filter((p) => p !== undefined).join(' ');
}

/** Hours for totals: `under 0.1`, `0.4`, `12.5`, `1,234`. */
export function hours(totalSeconds: number): string {
  const h = totalSeconds / 3600;
  if (h < 0.05) return 'under 0.1';
  return h < 100
    ? h.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 })
    : Math.round(h).toLocaleString('en-US');
}

/** How a step measured at a smaller batch was scaled, for the basis line. */
export function scaledNote(cost: MeasuredCost): string {
  const measured = cost.measuredBatch ?? cost.batchSize;
  const factor = cost.batchSize / measured;
  return (
    `scaled ×${Number.isInteger(factor) ? factor : factor.toFixed(2)} linearly to batch ${cost.batchSize} ` +
    `(batch ${Math.min(measured * 2, cost.batchSize)} did not fit this machine's memory; ` +
    `a GPU scales sub-linearly, so this overestimates a GPU's time)`
  );
}

/** The lines a dry run prints under its table: what the estimate rests on and the total. */
export function estimateBasis(
  plan: readonly PlannedRun[],
  options: { concurrency?: number; threads?: number } = {},
): string[] {
  const bases = new Map<
    string,
    { cost: MeasuredCost; steps: number; epochs: number; seconds: number }
  >();
  for (const run of plan) {
    if (run.basis === undefined) continue;
    const key = `${run.basis.model}:${run.basis.imageSize}:${run.basis.batchSize}:${engineLabel(run.basis)}`;
    const entry = bases.get(key) ?? { cost: run.basis, steps: 0, epochs: 0, seconds: 0 };
    entry.steps += run.steps;
    entry.epochs += run.epochs;
    entry.seconds += run.seconds ?? 0;
    bases.set(key, entry);
  }
  const lines = [...bases.values()].map(
    ({ cost, steps, epochs, seconds: total }) =>
      `measured: ${cost.stepsTimed} steps of ${cost.model} × batch ${cost.measuredBatch ?? cost.batchSize} on ${engineLabel(cost)}, ` +
      `${cost.threads} thread${cost.threads === 1 ? '' : 's'}` +
      (cost.measuredBatch === undefined ? '' : `, ${scaledNote(cost)}`) +
      `: ${cost.stepMs.toFixed(2)} ms/step × ${steps.toLocaleString('en-US')} steps; ` +
      `+ evaluation ${cost.evalMsPerImage.toFixed(4)} ms/image and a ${cost.checkpointMs.toFixed(0)} ms checkpoint × ${epochs} epochs; ` +
      `about ${hours(total)} ${cost.gpu === true ? 'GPU-' : ''}hours` +
      (cost.slowStepMs === undefined
        ? ''
        : ` (a warm step took ${(cost.slowStepMs / 1000).toFixed(1)} s: timed the minimum: a cold step and 2 timed steps, 1 evaluation batch, 1 checkpoint)`) +
      (cost.decodingExcluded === true
        ? `; image decoding and resizing not included (measured on synthetic ${cost.imageSize ?? '?'}×${cost.imageSize ?? '?'} pixels: with a loader slower than the device the runs take longer)`
        : ''),
  );
  const concurrency = options.concurrency ?? 1;
  const wall = wallSeconds(plan, concurrency, { threads: options.threads ?? 1 });
  if (wall !== null)
    lines.push(
      `+ ${RUN_OVERHEAD_SECONDS} s per run, ${PROCESS_START_SECONDS} s per process started (benchmarks/estimate.ts); ` +
        `about ${seconds(wall)} wall time with ${Math.min(concurrency, plan.length)} at a time` +
        (plan.some((r) => r.basis?.gpu === true)
          ? ' (runs on one GPU share it: their times add up)'
          : ''),
    );
  return lines;
}

/**
 * One line for a claims suite's dry run: its runs and their total compute in hours per engine,
 * and the wall time at `concurrency` at a time:
 * `suite cifar10-resnet20: 412 runs, about 1,234 GPU-hours on torch cuda (NVIDIA H100) bf16; …`.
 */
export function suiteTotalLine(
  suite: string,
  plan: readonly PlannedRun[],
  options: { concurrency?: number; threads?: number } = {},
): string {
  const engines = new Map<string, { seconds: number; gpu: boolean }>();
  for (const run of plan) {
    if (run.basis === undefined || run.seconds === null) continue;
    const label = engineLabel(run.basis);
    const entry = engines.get(label) ?? { seconds: 0, gpu: run.basis.gpu === true };
    entry.seconds += run.seconds;
    engines.set(label, entry);
  }
  const unmeasured = plan.filter((r) => r.seconds === null).length;
  const compute = [...engines].map(
    ([label, { seconds: total, gpu }]) =>
      `about ${hours(total)} ${gpu ? 'GPU-' : ''}hours on ${label}`,
  );
  const concurrency = options.concurrency ?? 1;
  const wall = wallSeconds(plan, concurrency, { threads: options.threads ?? 1 });
  return (
    `suite ${suite}: ${plan.length.toLocaleString('en-US')} run${plan.length === 1 ? '' : 's'}, ` +
    (compute.length === 0 ? 'none measured' : compute.join(', ')) +
    (wall === null
      ? ''
      : `; about ${hours(wall)} hours wall time at ${Math.min(concurrency, plan.length)} at a time`) +
    (unmeasured > 0 && compute.length > 0 ? ` (${unmeasured} runs not measured)` : '')
  );
}
