/**
 * Planning runs without training them: the resolved configurations of a file, their ids, and a
 * cost estimate — epochs and optimizer steps from the pipeline, time from a measured training
 * step of the same model and batch on the configured backend.
 */

import { buildExperiment, modelFor, plannedCost } from '../config/build.js';
import { loadConfigFile, resolveRuns, runId } from '../config/resolve.js';
import { applyOverrides, type Override } from '../config/overrides.js';
import type { RunConfig } from '../config/schema.js';
import { CONSTANT, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { NO_AUGMENTATION } from '../data/batches.js';
import { syntheticDataset } from '../data/dataset.js';
import { openEngine } from '../engine/open.js';
import { initialValues } from '../models/init.js';
import { layerMacs } from '../models/spec.js';
import { Trainer } from '../train/trainer.js';

export interface PlannedRun {
  readonly id: string;
  readonly config: RunConfig;
  readonly epochs: number;
  readonly steps: number;
  /** Estimated wall time in seconds (measured step time × steps); null before `estimateTime`. */
  readonly seconds: number | null;
  /** Why `seconds` is null after `estimateTime` (the step could not run on this backend). */
  readonly unmeasured?: string;
}

/** The runs a file describes, with `key=value` overrides set in it first (config/overrides.ts). */
export function planFile(file: string, overrides: readonly Override[] = []): PlannedRun[] {
  return planConfigs(resolveRuns(applyOverrides(loadConfigFile(file), overrides, file), file));
}

export function planConfigs(configs: readonly RunConfig[]): PlannedRun[] {
  return configs.map((config) => {
    const { setup, pipeline } = buildExperiment(config);
    return {
      id: runId(config),
      config,
      ...plannedCost(pipeline, setup.train.count, setup.batchSize),
      seconds: null,
    };
  });
}

/**
 * Median milliseconds of a training step of `config`'s model and batch on its engine (backend,
 * and device for PyTorch), over 3 steps after one to warm up.
 */
export async function measureStep(config: RunConfig): Promise<number> {
  const engine = await openEngine(config.training);
  const spec = modelFor(config);
  const model = await engine.model(spec, initialValues(spec, 0));
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: config.training.batchSize,
    stream: randomStream(0, 'estimate'),
  });
  const channels = spec.input[2];
  const trainer = new Trainer(
    model,
    {
      dataset: data,
      normalization: {
        mean: new Array<number>(channels).fill(0.5),
        std: new Array<number>(channels).fill(0.25),
      },
      augmentation: NO_AUGMENTATION,
      batchSize: config.training.batchSize,
    },
    new LrSchedule({
      peak: 0.01,
      shape: CONSTANT,
      granularity: 'step',
      stepsPerEpoch: 1,
      cycleEpochs: [4],
    }),
    { seed: 0 },
  );
  const times: number[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      await trainer.trainStep();
      if (i > 0) times.push(performance.now() - started);
    }
  } finally {
    await model.dispose();
  }
  return times.sort((a, b) => a - b)[1]!;
}

/**
 * Fills `seconds` from one measured step per distinct (model, batch, backend), cheapest first: a
 * step that cannot run (the wasm heap is 4 GB) leaves its runs unmeasured with the reason, and
 * since an aborted wasm module cannot be used again, the costlier ones after it too.
 */
export async function estimateTime(plan: readonly PlannedRun[]): Promise<PlannedRun[]> {
  const keyOf = (config: RunConfig) => {
    const t = config.training;
    return `${config.model.name}:${config.model.stem ?? ''}:${config.data.dataset}:${t.batchSize}:${t.backend}:${t.device ?? ''}:${t.precision ?? ''}`;
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
  const measured = new Map<string, number | string>();
  let failure: string | undefined;
  for (const key of keys) {
    if (failure !== undefined) {
      measured.set(key, `not measured: ${failure} on a cheaper step`);
      continue;
    }
    try {
      measured.set(key, await measureStep(representative.get(key)!));
    } catch (error) {
      failure = ((error as Error).message.split('\n')[0] ?? '').slice(0, 200);
      measured.set(key, failure);
    }
  }
  return plan.map((run) => {
    const step = measured.get(keyOf(run.config))!;
    return typeof step === 'number'
      ? { ...run, seconds: (run.steps * step) / 1000 }
      : { ...run, seconds: null, unmeasured: step };
  });
}
