/**
 * Planning runs without training them: the resolved configurations of a file, their ids, and a
 * cost estimate — epochs and optimizer steps from the pipeline, time from a measured training
 * step of the same model and batch on the configured backend.
 */

import { buildExperiment, modelFor, plannedCost } from '../config/build.js';
import { loadConfigFile, resolveRuns, runId } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { CONSTANT, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { Batcher } from '../data/batches.js';
import { layerMacs } from '../models/spec.js';
import { syntheticDataset } from '../data/dataset.js';
import { useBackend } from '../engine/backend.js';
import { Network } from '../engine/network.js';
import { MaskedSgd } from '../engine/sgd.js';
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

export function planFile(file: string): PlannedRun[] {
  return planConfigs(resolveRuns(loadConfigFile(file), file));
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

/** Median milliseconds of a training step of `config`'s model and batch on its backend. */
export async function measureStep(config: RunConfig): Promise<number> {
  await useBackend(config.training.backend);
  const spec = modelFor(config);
  const network = Network.initialize(spec, 0);
  const sgd = new MaskedSgd(network);
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: config.training.batchSize,
    stream: randomStream(0, 'estimate'),
  });
  const channels = spec.input[2];
  const batcher = new Batcher(data, config.training.batchSize, {
    mean: new Array<number>(channels).fill(0.5),
    std: new Array<number>(channels).fill(0.25),
  });
  const trainer = new Trainer(
    network,
    sgd,
    batcher,
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
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    trainer.trainStep();
    if (i > 0) times.push(performance.now() - started);
  }
  sgd.dispose();
  network.dispose();
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
    return `${config.model.name}:${config.model.stem ?? ''}:${config.data.dataset}:${t.batchSize}:${t.backend}`;
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
