/**
 * One handler per phase kind. A handler reads and changes the run through {@link PhaseRun} (the
 * model, mask, snapshots and records the runner keeps) and says whether the pipeline goes on.
 */

import { InvalidArgumentError } from '../core/errors.js';
import { cyclicEpochs, LrSchedule } from '../core/lr-schedule.js';
import type { LayerSpec, Mask } from '../core/mask.js';
import { randomStream } from '../core/random.js';
import { batchesPerEpoch, drawAugmentation } from '../data/batches.js';
import type { EngineModel, Samples } from '../engine/engine.js';
import { initialValues } from '../models/init.js';
import { weightName } from '../models/spec.js';
import { scorerNamed } from '../prune/registry.js';
import { selectMask, type ScoreContext } from '../prune/scorer.js';
import { Trainer, type TrainerPosition } from '../train/trainer.js';
import { addCost, summariseCycles, type Cost } from './cycle-summary.js';
import type {
  CycleRecord,
  EpochRecord,
  LevelRecord,
  Phase,
  PhaseEvent,
  PipelineSetup,
  RunHooks,
  Snapshot,
} from './types.js';

/** The run as a handler sees it. */
export interface PhaseRun {
  readonly setup: PipelineSetup;
  readonly hooks: RunHooks;
  readonly model: EngineModel;
  readonly layers: readonly LayerSpec[];
  readonly snapshots: Map<string, Snapshot>;
  readonly cycles: CycleRecord[];
  readonly levels: LevelRecord[];
  mask: Mask;
  cost: Cost;
  emitted: number;
  /** The position to continue a resumed train phase from (then cleared), with its epochs. */
  resumeAt: { readonly trainer: TrainerPosition | null; readonly partial: EpochRecord[] } | null;
  /** Tells observers about `phase` (index `index`). */
  event(when: 'start' | 'end', extra?: Partial<PhaseEvent>): Promise<void>;
  /** Saves the run's state for a later resume. */
  checkpoint(trainer: TrainerPosition | null, partial: readonly EpochRecord[]): Promise<void>;
  snapshotNow(): Promise<Snapshot>;
  snapshotOf(name: string): Snapshot;
}

export type Outcome = 'continue' | 'diverged';

type Handler<K extends Phase['kind']> = (
  phase: Extract<Phase, { kind: K }>,
  run: PhaseRun,
  index: number,
) => Promise<Outcome>;

const train: Handler<'train'> = async (phase, run, index) => {
  const { setup, model } = run;
  const schedule = new LrSchedule({
    ...setup.schedule,
    stepsPerEpoch: batchesPerEpoch(setup.train.count, setup.batchSize),
    cycleEpochs: cyclicEpochs(phase.epochsPerCycle, phase.cycles),
  });
  const trainer = new Trainer(
    model,
    {
      dataset: setup.train,
      normalization: setup.normalization,
      augmentation: setup.augmentation,
      batchSize: setup.batchSize,
    },
    schedule,
    {
      seed: setup.seed,
      resetMomentumEachCycle: phase.resetMomentumEachCycle,
      phase: `phase${index}`,
    },
  );
  const resumed = run.resumeAt;
  run.resumeAt = null;
  const partial: EpochRecord[] = resumed?.partial ?? [];
  const cyclesBefore = run.cycles.length;
  const cycleEnds = schedule.spec.cycleEpochs.map((_, c) =>
    schedule.spec.cycleEpochs.slice(0, c + 1).reduce((a, b) => a + b, 0),
  );
  if (resumed !== null && resumed.trainer !== null) {
    trainer.seek(resumed.trainer);
  } else {
    if (phase.startEpoch !== undefined && phase.startEpoch > 0)
      trainer.startAt(phase.startEpoch * trainer.batchesPerEpoch);
    await run.event('start', { firstLearningRate: schedule.learningRateAt(trainer.position.step) });
  }
  const testBatch = Math.max(setup.batchSize, 256);
  const outcome = await trainer.run({
    onEpoch: async (metrics) => {
      const test = await model.evaluate(setup.test, setup.normalization, testBatch);
      const record: EpochRecord = {
        phase: phase.label,
        level: phase.level,
        metrics,
        test: { loss: test.loss, accuracy: test.accuracy },
      };
      partial.push(record);
      if (phase.snapshotAfter !== undefined && metrics.epoch + 1 === phase.snapshotAfter.epochs)
        run.snapshots.set(phase.snapshotAfter.name, await run.snapshotNow());
      await run.hooks.onEpoch?.(record);
      run.emitted++;
      if (metrics.epoch + 1 === cycleEnds[metrics.cycle])
        await run.hooks.onCycleEnd?.({
          cycle: cyclesBefore + metrics.cycle + 1,
          phase: phase.label,
          level: phase.level,
          model,
          mask: run.mask,
        });
      await run.checkpoint(trainer.position, partial);
    },
  });
  const cycles = summariseCycles(partial, phase, run.mask, {
    spec: setup.spec,
    trainImages: setup.train.count,
  });
  run.cycles.push(...cycles);
  run.cost = addCost(run.cost, cycles);
  return outcome.status === 'diverged' ? 'diverged' : 'continue';
};

const prune: Handler<'prune'> = async (phase, run) => {
  await run.event('start');
  const { setup } = run;
  const { name, ...options } = phase.criterion;
  const scorer = scorerNamed(name);
  const parsed = scorer.options.safeParse(options);
  if (!parsed.success)
    throw new InvalidArgumentError(
      `criterion.${parsed.error.issues[0]!.path.join('.')}`,
      `an option of ${name} (${parsed.error.issues[0]!.message})`,
      options,
    );
  const stream = randomStream(setup.seed, `maskSampling/${phase.stream}`);
  const context: ScoreContext = {
    model: run.model,
    mask: run.mask,
    layers: run.layers,
    stream,
    target: phase.target,
    counting: phase.counting,
    layerCounts: phase.layerCounts,
    // The first batch of a permutation drawn for this prune, augmented as training is.
    trainingBatch: (): Samples => {
      const indices = stream
        .permutation(setup.train.count)
        .subarray(0, Math.min(setup.batchSize, setup.train.count));
      return {
        dataset: setup.train,
        normalization: setup.normalization,
        indices,
        augmentation: drawAugmentation(
          setup.augmentation,
          setup.train,
          indices,
          randomStream(setup.seed, `augmentation/${phase.stream}`),
        ),
      };
    },
  };
  run.mask = await selectMask(scorer, context, parsed.data);
  await run.model.setMask(run.mask);
  run.levels.push({
    level: phase.level,
    label: phase.label,
    sparsity: run.mask.sparsity(),
    mask: run.mask.toJSON(),
  });
  return 'continue';
};

const snapshot: Handler<'snapshot'> = async (phase, run) => {
  await run.event('start');
  run.snapshots.set(phase.name, await run.snapshotNow());
  return 'continue';
};

const rewind: Handler<'rewind'> = async (phase, run) => {
  await run.event('start');
  const saved = run.snapshotOf(phase.to);
  await run.model.write(saved.weights);
  if (phase.optimizer === 'snapshot') await run.model.writeMomentum(saved.momentum);
  else await run.model.resetMomentum();
  await run.model.setMask(run.mask);
  return 'continue';
};

const reinitialize: Handler<'reinitialize'> = async (phase, run) => {
  await run.event('start');
  const { model, setup } = run;
  await model.resetMomentum();
  let values: Map<string, Float32Array>;
  if (phase.weights === 'snapshot') {
    values = run.snapshotOf(phase.snapshot ?? 'init').weights;
  } else {
    values = initialValues(setup.spec, setup.seed, phase.stream ?? 'init/reinitialize');
    if (phase.weights === 'signs-only') {
      const signs = run.snapshotOf(phase.snapshot ?? 'warmup').weights;
      for (const layer of run.layers) {
        const name = weightName(layer.name);
        const reference = signs.get(name)!;
        values.set(
          name,
          values.get(name)!.map((v, i) => (reference[i]! < 0 ? -Math.abs(v) : Math.abs(v))),
        );
      }
    }
  }
  await model.write(values);
  await model.setMask(run.mask); // weights ⊙ mask, momentum ⊙ mask
  return 'continue';
};

const HANDLERS: { readonly [K in Phase['kind']]: Handler<K> } = {
  train,
  prune,
  snapshot,
  rewind,
  reinitialize,
};

export function runPhase(phase: Phase, run: PhaseRun, index: number): Promise<Outcome> {
  return (HANDLERS[phase.kind] as Handler<Phase['kind']>)(phase, run, index);
}
