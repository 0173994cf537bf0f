/**
 * Training a model with masked SGD over a learning-rate schedule of one or more cycles, on any
 * engine.
 *
 * The trainer plans, the engine computes. For every step the trainer decides the batch (order
 * from the `dataOrder` stream, augmentation choices from the `augmentation` stream), the learning
 * rate `schedule.learningRateAt(step)`, and whether the momentum restarts (at the first step of
 * every cycle: a fresh optimizer per cycle, as in the authors' cyclic harness;
 * `resetMomentumEachCycle: false` keeps it). The engine runs an epoch's steps in one request —
 * forward, cross-entropy, gradients, the masked SGD update, the BatchNorm running statistics —
 * and returns each step's loss and correct count. A loss that is NaN or infinite stops training
 * with status `diverged` at that step.
 *
 * All the state needed to continue a run bit-identically on the same engine — step, position in
 * the epoch, the data-order stream at the start of the epoch, the augmentation stream — is in
 * {@link TrainerPosition}, which checkpoints store.
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { LrSchedule } from '../core/lr-schedule.js';
import { RandomStream, randomStream } from '../core/random.js';
import {
  batchesPerEpoch,
  checkAugmentation,
  drawAugmentation,
  type Augmentation,
  type Normalization,
} from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { BackendInfo, EngineModel, TrainPlan } from '../engine/engine.js';

export interface TrainerPosition {
  /** Global step: index of the next step to run. */
  readonly step: number;
  /** Epoch of the next step, and the batch inside it. */
  readonly epoch: number;
  readonly batch: number;
  /** `dataOrder` stream state when the current epoch's permutation was drawn. */
  readonly dataOrderAtEpochStart: readonly number[];
  readonly augmentation: readonly number[];
}

export interface StepResult {
  readonly step: number;
  readonly loss: number;
  readonly correct: number;
  readonly size: number;
  readonly learningRate: number;
}

export interface EpochMetrics {
  readonly epoch: number;
  readonly cycle: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  /** Learning rate of the epoch's last step. */
  readonly learningRate: number;
  readonly steps: number;
  readonly seconds: number;
}

export type { Evaluation } from '../engine/engine.js';

export type TrainingOutcome =
  | {
      readonly status: 'completed';
      readonly backend: BackendInfo;
      readonly epochs: readonly EpochMetrics[];
    }
  | {
      readonly status: 'diverged';
      readonly backend: BackendInfo;
      readonly epochs: readonly EpochMetrics[];
      readonly step: number;
      readonly loss: number;
    };

/** The training data: images, their normalisation and augmentation, and the batch size. */
export interface TrainingData {
  /** Pixels in memory or image files (decoded per batch by the engine). */
  readonly dataset: Dataset;
  readonly normalization: Normalization;
  readonly augmentation: Augmentation;
  readonly batchSize: number;
}

export interface TrainerOptions {
  readonly seed: number;
  readonly resetMomentumEachCycle?: boolean;
  /**
   * Distinguishes the streams of several trainings in one experiment (the levels of IMP, say):
   * the trainer draws from `dataOrder/<phase>` and `augmentation/<phase>` instead of `dataOrder`
   * and `augmentation`.
   */
  readonly phase?: string;
}

export class Trainer {
  readonly model: EngineModel;
  readonly data: TrainingData;
  readonly schedule: LrSchedule;
  readonly resetMomentumEachCycle: boolean;
  readonly batchesPerEpoch: number;
  #step = 0;
  #epoch = 0;
  #batch = 0;
  #dataOrder: RandomStream;
  #dataOrderAtEpochStart: number[];
  #order: Uint32Array;
  #augmentation: RandomStream;

  constructor(
    model: EngineModel,
    data: TrainingData,
    schedule: LrSchedule,
    options: TrainerOptions,
  ) {
    this.batchesPerEpoch = batchesPerEpoch(data.dataset.count, data.batchSize);
    if (schedule.spec.stepsPerEpoch !== this.batchesPerEpoch) {
      throw new InvalidArgumentError(
        'schedule.stepsPerEpoch',
        `${this.batchesPerEpoch} (batches per epoch)`,
        schedule.spec.stepsPerEpoch,
      );
    }
    checkAugmentation(data.augmentation, data.dataset);
    this.model = model;
    this.data = data;
    this.schedule = schedule;
    this.resetMomentumEachCycle = options.resetMomentumEachCycle ?? true;
    const suffix = options.phase === undefined ? '' : `/${options.phase}`;
    this.#dataOrder = randomStream(options.seed, `dataOrder${suffix}`);
    this.#augmentation = randomStream(options.seed, `augmentation${suffix}`);
    this.#dataOrderAtEpochStart = this.#dataOrder.state();
    this.#order = this.#dataOrder.permutation(data.dataset.count);
  }

  get position(): TrainerPosition {
    return {
      step: this.#step,
      epoch: this.#epoch,
      batch: this.#batch,
      dataOrderAtEpochStart: [...this.#dataOrderAtEpochStart],
      augmentation: this.#augmentation.state(),
    };
  }

  /** Continues from a saved position (the model's state is restored separately). */
  seek(position: TrainerPosition): void {
    const stepsPerEpoch = this.batchesPerEpoch;
    if (
      position.step !== position.epoch * stepsPerEpoch + position.batch ||
      position.batch >= stepsPerEpoch ||
      position.step > this.schedule.totalSteps
    ) {
      throw new InvalidArgumentError(
        'position',
        `a step of this schedule (${stepsPerEpoch} batches per epoch)`,
        position,
      );
    }
    this.#step = position.step;
    this.#epoch = position.epoch;
    this.#batch = position.batch;
    this.#dataOrderAtEpochStart = [...position.dataOrderAtEpochStart];
    this.#dataOrder = RandomStream.fromState(position.dataOrderAtEpochStart);
    this.#order = this.#dataOrder.permutation(this.data.dataset.count);
    this.#augmentation = RandomStream.fromState(position.augmentation);
  }

  /**
   * Starts at `step` of the schedule instead of 0 (weight rewinding trains the rest of a cycle
   * from its rewind point), with this trainer's streams from their start.
   */
  startAt(step: number): void {
    const stepsPerEpoch = this.batchesPerEpoch;
    if (
      !Number.isSafeInteger(step) ||
      step < 0 ||
      step % stepsPerEpoch !== 0 ||
      step >= this.schedule.totalSteps
    ) {
      throw new InvalidArgumentError(
        'step',
        `the first step of an epoch of this schedule (a multiple of ${stepsPerEpoch} below ${this.schedule.totalSteps})`,
        step,
      );
    }
    this.#step = step;
    this.#epoch = step / stepsPerEpoch;
    this.#batch = 0;
  }

  get done(): boolean {
    return this.#step >= this.schedule.totalSteps;
  }

  /**
   * The next `count` steps (inside the current epoch), drawing their augmentation: what the
   * engine runs in one request.
   */
  #plan(count: number): TrainPlan {
    const { batchSize, dataset } = this.data;
    const first = this.#batch * batchSize;
    const last = Math.min(dataset.count, (this.#batch + count) * batchSize);
    const indices = this.#order.subarray(first, last);
    const offsets = Uint32Array.from({ length: count + 1 }, (_, k) =>
      Math.min(k * batchSize, last - first),
    );
    const learningRates = new Float64Array(count);
    const resetMomentum = new Uint8Array(count);
    for (let k = 0; k < count; k++) {
      const step = this.#step + k;
      learningRates[k] = this.schedule.learningRateAt(step);
      resetMomentum[k] =
        this.resetMomentumEachCycle && this.schedule.positionAt(step).stepInCycle === 0 ? 1 : 0;
    }
    return {
      dataset,
      normalization: this.data.normalization,
      firstStep: this.#step,
      indices,
      offsets,
      augmentation: drawAugmentation(this.data.augmentation, dataset, indices, this.#augmentation),
      learningRates,
      resetMomentum,
    };
  }

  /** Runs steps up to `until` but not past the end of the current epoch. */
  async #runSteps(until: number): Promise<StepResult[]> {
    const count = Math.min(until - this.#step, this.batchesPerEpoch - this.#batch);
    const plan = this.#plan(count);
    const trained = await this.model.train(plan);
    const results: StepResult[] = [];
    for (let k = 0; k < count; k++) {
      results.push({
        step: plan.firstStep + k,
        loss: trained.losses[k]!,
        correct: trained.correct[k]!,
        size: plan.offsets[k + 1]! - plan.offsets[k]!,
        learningRate: plan.learningRates[k]!,
      });
    }
    return results;
  }

  /** Runs one step; returns its loss, which may be NaN or infinite (the caller decides). */
  async trainStep(): Promise<StepResult> {
    if (this.done) throw new Error(`the schedule's ${this.schedule.totalSteps} steps are done`);
    const [result] = await this.#runSteps(this.#step + 1);
    this.#advance();
    return result!;
  }

  #advance(): void {
    this.#step++;
    this.#batch++;
    if (this.#batch === this.batchesPerEpoch) {
      this.#batch = 0;
      this.#epoch++;
      this.#dataOrderAtEpochStart = this.#dataOrder.state();
      this.#order = this.#dataOrder.permutation(this.data.dataset.count);
    }
  }

  /**
   * Trains to the end of the schedule (or `untilStep`), calling `onEpoch` after each completed
   * epoch (and waiting for it); stops at the first non-finite loss. An epoch is one request to
   * the engine.
   */
  async run(
    options: {
      untilStep?: number;
      onEpoch?: (metrics: EpochMetrics) => unknown;
    } = {},
  ): Promise<TrainingOutcome> {
    const backend = this.model.engine.info;
    const until = Math.min(options.untilStep ?? this.schedule.totalSteps, this.schedule.totalSteps);
    const epochs: EpochMetrics[] = [];
    let loss = 0;
    let correct = 0;
    let seen = 0;
    let steps = 0;
    let started = performance.now();
    while (this.#step < until) {
      for (const result of await this.#runSteps(until)) {
        const epoch = this.#epoch;
        if (!Number.isFinite(result.loss))
          return { status: 'diverged', backend, epochs, step: result.step, loss: result.loss };
        loss += result.loss * result.size;
        correct += result.correct;
        seen += result.size;
        steps++;
        this.#advance();
        if (this.#epoch !== epoch) {
          const metrics: EpochMetrics = {
            epoch,
            cycle: this.schedule.positionAt(result.step).cycle,
            trainLoss: loss / seen,
            trainAccuracy: correct / seen,
            learningRate: result.learningRate,
            steps,
            seconds: (performance.now() - started) / 1000,
          };
          epochs.push(metrics);
          await options.onEpoch?.(metrics);
          loss = correct = seen = steps = 0;
          started = performance.now();
        }
      }
    }
    return { status: 'completed', backend, epochs };
  }
}
