/**
 * Pipelines as data. Every method of the paper is a list of phases over one network, one
 * optimizer and one mask:
 * - `train`: C cycles of the cycle shape (momentum reset at each cycle unless told otherwise),
 *   optionally starting mid-cycle (weight rewinding) and saving a snapshot after some epochs;
 * - `prune`: a new mask from a criterion (magnitude, random, SNIP, SynFlow) at a sparsity —
 *   counting and ties from the core, masks only shrink;
 * - `snapshot`: remember the weights and momentum under a name;
 * - `rewind`: weights (and optionally momentum) from a snapshot, under the current mask;
 * - `reinitialize`: fresh weights, a snapshot's, or fresh magnitudes with a snapshot's signs,
 *   under the current mask (the mask/initialisation coupling experiments).
 * The runner keeps, per cycle, losses and accuracies (final and best), sparsity overall and per
 * layer and cost; per level, the mask; and the resolved options of the method.
 */

import type { Distribution } from '../core/densities.js';
import { InvalidArgumentError } from '../core/errors.js';
import {
  cyclicEpochs,
  LrSchedule,
  type CycleShape,
  type Granularity,
} from '../core/lr-schedule.js';
import { Mask, type LayerSparsity, type MaskJson } from '../core/mask.js';
import type { BoundaryRule, LayerCountRule } from '../core/conventions.js';
import { prune, targetOf, type PruneTarget, type Scope } from '../core/prune.js';
import type { CountingRule } from '../core/selection.js';
import { randomStream } from '../core/random.js';
import {
  batchesPerEpoch,
  drawAugmentation,
  type Augmentation,
  type Normalization,
} from '../data/batches.js';
import type { ImageDataset } from '../data/dataset.js';
import type { BackendInfo, Engine, EngineModel, SgdOptions } from '../engine/engine.js';
import { initialValues } from '../models/init.js';
import { prunableLayers, type ModelSpec, type PrunableOptions } from '../models/spec.js';
import { magnitudeScores } from '../prune/magnitude.js';
import { randomMask, randomScores, type Sampling } from '../prune/random.js';
import { snipScores } from '../prune/snip.js';
import { synflowMask } from '../prune/synflow.js';
import { splitTrainingTensors, trainingTensors } from '../train/checkpoint.js';
import { Trainer, type EpochMetrics, type TrainerPosition } from '../train/trainer.js';
import { trainingFlops } from './cost.js';

export const CRITERIA = ['magnitude', 'random', 'snip', 'synflow'] as const;
export type Criterion = (typeof CRITERIA)[number];

export type Phase =
  | {
      readonly kind: 'train';
      readonly label: string;
      readonly level: number;
      readonly cycles: number;
      readonly epochsPerCycle: number;
      /** Start this many epochs into the first cycle (weight rewinding resumes there). */
      readonly startEpoch?: number;
      /** Save a snapshot after this many epochs of the first cycle (WR's rewind point). */
      readonly snapshotAfter?: { readonly epochs: number; readonly name: string };
      readonly resetMomentumEachCycle: boolean;
    }
  | {
      readonly kind: 'prune';
      readonly label: string;
      readonly level: number;
      readonly criterion: Criterion;
      /** A sparsity, or (levels that compound, `core/conventions.ts`) a fraction of what is kept. */
      readonly target: PruneTarget;
      readonly scope: Scope;
      /** How sparsities become counts, network-wide and per layer (`core/conventions.ts`). */
      readonly counting: CountingRule;
      readonly layerCounts: LayerCountRule;
      /** Random masks from a dense start: layer densities and sampling. */
      readonly distribution: Distribution;
      readonly sampling: Sampling;
      readonly synflowIterations: number;
    }
  | { readonly kind: 'snapshot'; readonly name: string }
  | { readonly kind: 'rewind'; readonly to: string; readonly optimizer: 'reset' | 'snapshot' }
  | {
      readonly kind: 'reinitialize';
      readonly weights: 'fresh' | 'snapshot' | 'signs-only';
      /** The snapshot to take weights (or signs) from. */
      readonly snapshot?: string;
      /** The stream fresh weights come from (another stream than `init` is another init). */
      readonly stream?: string;
    };

/** A method instantiated: its resolved options (defaults included) and its phases. */
export interface Pipeline {
  readonly method: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly phases: readonly Phase[];
}

export interface PipelineSetup {
  readonly spec: ModelSpec;
  readonly prunable?: PrunableOptions;
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly normalization: Normalization;
  readonly augmentation: Augmentation;
  readonly batchSize: number;
  readonly schedule: {
    readonly peak: number;
    readonly shape: CycleShape;
    readonly granularity: Granularity;
    /** Where a cycle's fractions start (`core/conventions.ts`; absent: round-half-up). */
    readonly boundaries?: BoundaryRule;
  };
  readonly sgd: SgdOptions;
  readonly seed: number;
}

export interface Summary {
  readonly final: number;
  readonly best: number;
}

export interface CycleRecord {
  readonly phase: string;
  readonly level: number;
  readonly cycle: number;
  readonly epochs: number;
  readonly steps: number;
  readonly sparsity: number;
  readonly layers: readonly LayerSparsity[];
  /** Best: highest accuracy, lowest loss over the cycle's epochs. */
  readonly trainLoss: Summary;
  readonly trainAccuracy: Summary;
  readonly testLoss: Summary;
  readonly testAccuracy: Summary;
  readonly flopsDense: number;
  readonly flopsSparse: number;
}

export interface LevelRecord {
  readonly level: number;
  readonly label: string;
  readonly sparsity: number;
  readonly mask: MaskJson;
}

export interface PipelineResult {
  readonly method: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly setup: {
    readonly model: string;
    readonly train: readonly string[];
    readonly test: readonly string[];
    readonly batchSize: number;
    readonly schedule: PipelineSetup['schedule'];
    readonly sgd: SgdOptions;
    readonly seed: number;
    readonly prunable: PrunableOptions;
  };
  readonly backend: BackendInfo;
  readonly status: 'completed' | 'diverged';
  readonly cycles: readonly CycleRecord[];
  readonly levels: readonly LevelRecord[];
  readonly cost: {
    readonly epochs: number;
    readonly steps: number;
    readonly flopsDense: number;
    readonly flopsSparse: number;
  };
}

/** What an observer sees at the start and end of every phase (tests check invariants here). */
export interface PhaseEvent {
  readonly index: number;
  readonly phase: Phase;
  readonly when: 'start' | 'end';
  /** The model being trained (read it; do not change it). */
  readonly model: EngineModel;
  readonly mask: Mask;
  /** The learning rate of the first step, for `train` phases at their start. */
  readonly firstLearningRate?: number;
  /** Weights saved so far by name (snapshot phases, WR's rewind point, warm-up weights). */
  readonly snapshots: ReadonlyMap<
    string,
    {
      readonly weights: ReadonlyMap<string, Float32Array>;
      readonly momentum: ReadonlyMap<string, Float32Array>;
    }
  >;
}

interface Snapshot {
  readonly weights: Map<string, Float32Array>;
  readonly momentum: Map<string, Float32Array>;
}

/** One epoch as it happened: the trainer's metrics and the test evaluation after it. */
export interface EpochRecord {
  readonly phase: string;
  readonly level: number;
  readonly metrics: EpochMetrics;
  readonly test: { readonly loss: number; readonly accuracy: number };
}

/**
 * Where a pipeline stands, in plain JSON: with the tensors saved beside it (network, momentum,
 * snapshots), enough to continue exactly where it was.
 */
export interface PipelineProgress {
  /** The phase in progress, or the next one to run. */
  readonly phase: number;
  /** Inside a `train` phase: the trainer's position; null between phases. */
  readonly trainer: TrainerPosition | null;
  /** The epochs of the train phase in progress, recorded so far. */
  readonly partial: readonly EpochRecord[];
  readonly mask: MaskJson;
  readonly snapshots: readonly string[];
  readonly cycles: readonly CycleRecord[];
  readonly levels: readonly LevelRecord[];
  readonly cost: PipelineResult['cost'];
  /** Epoch records emitted so far (stores keep exactly this many lines of metrics). */
  readonly emitted: number;
}

export interface ResumeState {
  readonly progress: PipelineProgress;
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

export interface RunHooks {
  /** Sees every phase boundary (awaited). */
  readonly observe?: (event: PhaseEvent) => unknown;
  /** Every epoch, as it finishes (stores append it to their metrics). */
  readonly onEpoch?: (record: EpochRecord) => unknown;
  /** After every epoch and every phase: the state to save for a later `resume`. */
  readonly checkpoint?: (state: ResumeState) => unknown;
  /** Continue from a saved state (same setup and pipeline; bit-identical on the same backend). */
  readonly resume?: ResumeState;
  /**
   * At the end of every training cycle, before that epoch's checkpoint (so a crash in between
   * repeats it with the same network): stores keep the cycle's weights, analyses compare
   * consecutive cycles. Must not change the model or mask.
   */
  readonly onCycleEnd?: (event: CycleEndEvent) => unknown;
}

export interface CycleEndEvent {
  /** 1-based over the whole pipeline, the index of the cycle's entry in `result.cycles` + 1. */
  readonly cycle: number;
  readonly phase: string;
  readonly level: number;
  readonly model: EngineModel;
  readonly mask: Mask;
}

function summarise(values: readonly number[], better: 'higher' | 'lower'): Summary {
  return {
    final: values.at(-1)!,
    best: better === 'higher' ? Math.max(...values) : Math.min(...values),
  };
}

/** Runs `pipeline` on `setup` on `engine`. */
export async function runPipeline(
  engine: Engine,
  setup: PipelineSetup,
  pipeline: Pipeline,
  hooks: RunHooks = {},
): Promise<PipelineResult> {
  const backend = engine.info;
  const prunable = setup.prunable ?? {};
  const layers = prunableLayers(setup.spec, prunable);
  const model = await engine.model(setup.spec, initialValues(setup.spec, setup.seed), setup.sgd);
  let mask = Mask.dense(layers);
  const trainData = {
    dataset: setup.train,
    normalization: setup.normalization,
    augmentation: setup.augmentation,
    batchSize: setup.batchSize,
  };
  const testBatch = Math.max(setup.batchSize, 256);
  const snapshots = new Map<string, Snapshot>();
  let cycles: CycleRecord[] = [];
  let levels: LevelRecord[] = [];
  let status: PipelineResult['status'] = 'completed';
  let cost = { epochs: 0, steps: 0, flopsDense: 0, flopsSparse: 0 };
  let emitted = 0;
  let first = 0;
  let resumeTrainer: TrainerPosition | null = null;
  let resumePartial: EpochRecord[] = [];

  const snapshotNow = async (): Promise<Snapshot> => ({
    weights: await model.read(),
    momentum: await model.readMomentum(),
  });
  const checkpoint = async (
    phase: number,
    trainer: TrainerPosition | null,
    partial: readonly EpochRecord[],
  ) => {
    if (hooks.checkpoint === undefined) return;
    const tensors = await trainingTensors(model);
    for (const [name, snapshot] of snapshots) {
      for (const [k, v] of snapshot.weights) tensors.set(`snapshot:${name}:param:${k}`, v);
      for (const [k, v] of snapshot.momentum) tensors.set(`snapshot:${name}:momentum:${k}`, v);
    }
    await hooks.checkpoint({
      progress: {
        phase,
        trainer,
        partial,
        mask: mask.toJSON(),
        snapshots: [...snapshots.keys()],
        cycles,
        levels,
        cost,
        emitted,
      },
      tensors,
    });
  };
  const snapshotOf = (name: string): Snapshot => {
    const found = snapshots.get(name);
    if (found === undefined) {
      throw new InvalidArgumentError(
        'snapshot',
        `a snapshot taken earlier (${[...snapshots.keys()].join(', ') || 'none'})`,
        name,
      );
    }
    return found;
  };
  const setWeights = async (values: ReadonlyMap<string, Float32Array>) => {
    await model.write(values);
    await model.setMask(mask); // weights ⊙ mask, momentum ⊙ mask
  };

  try {
    await model.setMask(mask);
    if (hooks.resume !== undefined) {
      const { progress, tensors } = hooks.resume;
      const { params, momentum } = splitTrainingTensors(tensors);
      await model.write(params);
      await model.writeMomentum(momentum);
      mask = Mask.fromJSON(progress.mask);
      await model.setMask(mask);
      for (const name of progress.snapshots) {
        const prefix = `snapshot:${name}:`;
        const part = new Map(
          [...tensors]
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v] as const),
        );
        const split = splitTrainingTensors(part);
        snapshots.set(name, { weights: split.params, momentum: split.momentum });
      }
      cycles = [...progress.cycles];
      levels = [...progress.levels];
      cost = { ...progress.cost };
      emitted = progress.emitted;
      first = progress.phase;
      resumeTrainer = progress.trainer;
      resumePartial = [...progress.partial];
    }

    for (let index = first; index < pipeline.phases.length; index++) {
      const phase = pipeline.phases[index]!;
      const event = async (when: 'start' | 'end', extra: Partial<PhaseEvent> = {}) => {
        await hooks.observe?.({ index, phase, when, model, mask, snapshots, ...extra });
      };
      switch (phase.kind) {
        case 'train': {
          const schedule = new LrSchedule({
            ...setup.schedule,
            stepsPerEpoch: batchesPerEpoch(setup.train.count, setup.batchSize),
            cycleEpochs: cyclicEpochs(phase.epochsPerCycle, phase.cycles),
          });
          const trainer = new Trainer(model, trainData, schedule, {
            seed: setup.seed,
            resetMomentumEachCycle: phase.resetMomentumEachCycle,
            phase: `phase${index}`,
          });
          const partial: EpochRecord[] = index === first ? resumePartial : [];
          const cyclesBefore = cycles.length;
          const cycleEnds = schedule.spec.cycleEpochs.map((_, c) =>
            schedule.spec.cycleEpochs.slice(0, c + 1).reduce((a, b) => a + b, 0),
          );
          if (index === first && resumeTrainer !== null) {
            trainer.seek(resumeTrainer);
          } else {
            if (phase.startEpoch !== undefined && phase.startEpoch > 0)
              trainer.startAt(phase.startEpoch * trainer.batchesPerEpoch);
            await event('start', {
              firstLearningRate: schedule.learningRateAt(trainer.position.step),
            });
          }
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
              if (
                phase.snapshotAfter !== undefined &&
                metrics.epoch + 1 === phase.snapshotAfter.epochs
              ) {
                snapshots.set(phase.snapshotAfter.name, await snapshotNow());
              }
              await hooks.onEpoch?.(record);
              emitted++;
              if (metrics.epoch + 1 === cycleEnds[metrics.cycle])
                await hooks.onCycleEnd?.({
                  cycle: cyclesBefore + metrics.cycle + 1,
                  phase: phase.label,
                  level: phase.level,
                  model,
                  mask,
                });
              await checkpoint(index, trainer.position, partial);
            },
          });
          const byCycle = new Map<number, EpochRecord[]>();
          for (const record of partial)
            byCycle.set(record.metrics.cycle, [
              ...(byCycle.get(record.metrics.cycle) ?? []),
              record,
            ]);
          for (const [cycle, records] of byCycle) {
            const images = records.length * setup.train.count;
            const flops = trainingFlops(setup.spec, mask, images);
            const cycleSteps = records.reduce((n, r) => n + r.metrics.steps, 0);
            cycles.push({
              phase: phase.label,
              level: phase.level,
              cycle,
              epochs: records.length,
              steps: cycleSteps,
              sparsity: mask.sparsity(),
              layers: mask.perLayer(),
              trainLoss: summarise(
                records.map((r) => r.metrics.trainLoss),
                'lower',
              ),
              trainAccuracy: summarise(
                records.map((r) => r.metrics.trainAccuracy),
                'higher',
              ),
              testLoss: summarise(
                records.map((r) => r.test.loss),
                'lower',
              ),
              testAccuracy: summarise(
                records.map((r) => r.test.accuracy),
                'higher',
              ),
              flopsDense: flops.dense,
              flopsSparse: flops.sparse,
            });
            cost = {
              epochs: cost.epochs + records.length,
              steps: cost.steps + cycleSteps,
              flopsDense: cost.flopsDense + flops.dense,
              flopsSparse: cost.flopsSparse + flops.sparse,
            };
          }
          if (outcome.status === 'diverged') {
            status = 'diverged';
            await event('end');
            return finish();
          }
          break;
        }
        case 'prune': {
          await event('start');
          mask = await nextMask(phase);
          await model.setMask(mask);
          levels.push({
            level: phase.level,
            label: phase.label,
            sparsity: mask.sparsity(),
            mask: mask.toJSON(),
          });
          break;
        }
        case 'snapshot':
          await event('start');
          snapshots.set(phase.name, await snapshotNow());
          break;
        case 'rewind': {
          await event('start');
          const snapshot = snapshotOf(phase.to);
          await model.write(snapshot.weights);
          if (phase.optimizer === 'snapshot') await model.writeMomentum(snapshot.momentum);
          else await model.resetMomentum();
          await model.setMask(mask);
          break;
        }
        case 'reinitialize': {
          await event('start');
          await model.resetMomentum();
          if (phase.weights === 'snapshot') {
            await setWeights(snapshotOf(phase.snapshot ?? 'init').weights);
            break;
          }
          const values = initialValues(setup.spec, setup.seed, phase.stream ?? 'init/reinitialize');
          if (phase.weights === 'signs-only') {
            const signs = snapshotOf(phase.snapshot ?? 'warmup').weights;
            for (const layer of layers) {
              const name = `${layer.name}.weight`;
              const magnitudes = values.get(name)!;
              const reference = signs.get(name)!;
              values.set(
                name,
                magnitudes.map((v, i) => (reference[i]! < 0 ? -Math.abs(v) : Math.abs(v))),
              );
            }
          }
          await setWeights(values);
          break;
        }
      }
      await event('end');
      await checkpoint(index + 1, null, []);
    }
    return finish();
  } finally {
    await model.dispose();
  }

  async function nextMask(phase: Extract<Phase, { kind: 'prune' }>): Promise<Mask> {
    const stream = randomStream(setup.seed, `maskSampling/${phase.label}`);
    const by = { ...phase.target, scope: phase.scope, counting: phase.counting };
    // Random masks and SynFlow take a sparsity; from a dense start a fraction of the remaining
    // weights is that sparsity.
    const sparsity = (): number => {
      const target = targetOf(phase.target);
      if (target.kind === 'sparsity' || mask.totalKept === mask.totalSize) return target.value;
      throw new InvalidArgumentError(
        'target',
        `a sparsity for criterion ${phase.criterion} on a pruned mask`,
        phase.target,
      );
    };
    switch (phase.criterion) {
      case 'magnitude':
        return prune(mask, magnitudeScores(await model.read(), mask), by);
      case 'random':
        return mask.totalKept === mask.totalSize
          ? randomMask(
              layers,
              {
                distribution: phase.distribution,
                sparsity: sparsity(),
                sampling: phase.sampling,
                counting: phase.counting,
                layerCounts: phase.layerCounts,
              },
              stream,
            )
          : prune(mask, randomScores(layers, stream), by);
      case 'snip': {
        // The first batch of a permutation drawn for this prune, augmented as training is.
        const indices = stream
          .permutation(setup.train.count)
          .subarray(0, Math.min(setup.batchSize, setup.train.count));
        const augmentation = drawAugmentation(
          setup.augmentation,
          setup.train,
          indices.length,
          randomStream(setup.seed, `augmentation/${phase.label}`),
        );
        const batch = {
          dataset: setup.train,
          normalization: setup.normalization,
          indices,
          augmentation,
        };
        return prune(mask, await snipScores(model, mask, batch), by);
      }
      case 'synflow':
        return synflowMask(model, mask, {
          sparsity: sparsity(),
          iterations: phase.synflowIterations,
          scope: phase.scope,
          counting: phase.counting,
        });
    }
  }

  function finish(): PipelineResult {
    return {
      method: pipeline.method,
      options: pipeline.options,
      setup: {
        model: setup.spec.name,
        train: setup.train.provenance,
        test: setup.test.provenance,
        batchSize: setup.batchSize,
        schedule: setup.schedule,
        sgd: setup.sgd,
        seed: setup.seed,
        prunable,
      },
      backend,
      status,
      cycles,
      levels,
      cost,
    };
  }
}
