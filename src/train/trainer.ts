/**
 * Training a network with masked SGD over a learning-rate schedule of one or more cycles.
 *
 * One step: a batch from the batcher (order from the `dataOrder` stream, augmentation from the
 * `augmentation` stream), a training-mode forward pass, cross-entropy, gradients of every
 * parameter, the SGD update at `schedule.learningRateAt(step)`, then the BatchNorm running
 * statistics. A loss that is NaN or infinite stops training with status `diverged`. At the first
 * step of every cycle the momentum is reset (a fresh optimizer per cycle, as in the authors'
 * cyclic harness); `resetMomentumEachCycle: false` keeps it.
 *
 * All the state needed to continue a run bit-identically on the same backend — step, position
 * in the epoch, the data-order stream at the start of the epoch, the augmentation stream — is in
 * {@link TrainerPosition}, which checkpoints store.
 */

import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../core/errors.js';
import type { LrSchedule } from '../core/lr-schedule.js';
import { RandomStream, randomStream } from '../core/random.js';
import type { Batcher } from '../data/batches.js';
import type { ImageDataset } from '../data/dataset.js';
import { activeBackend, type BackendInfo } from '../engine/backend.js';
import type { Network } from '../engine/network.js';
import type { MaskedSgd } from '../engine/sgd.js';

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

export interface Evaluation {
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
}

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
  readonly network: Network;
  readonly optimizer: MaskedSgd;
  readonly batcher: Batcher;
  readonly schedule: LrSchedule;
  readonly resetMomentumEachCycle: boolean;
  #step = 0;
  #epoch = 0;
  #batch = 0;
  #dataOrder: RandomStream;
  #dataOrderAtEpochStart: number[];
  #order: Uint32Array;
  #augmentation: RandomStream;

  constructor(
    network: Network,
    optimizer: MaskedSgd,
    batcher: Batcher,
    schedule: LrSchedule,
    options: TrainerOptions,
  ) {
    if (optimizer.network !== network)
      throw new InvalidArgumentError(
        'optimizer',
        'an optimizer of this network',
        'another network',
      );
    if (schedule.spec.stepsPerEpoch !== batcher.batchesPerEpoch) {
      throw new InvalidArgumentError(
        'schedule.stepsPerEpoch',
        `${batcher.batchesPerEpoch} (batches per epoch)`,
        schedule.spec.stepsPerEpoch,
      );
    }
    this.network = network;
    this.optimizer = optimizer;
    this.batcher = batcher;
    this.schedule = schedule;
    this.resetMomentumEachCycle = options.resetMomentumEachCycle ?? true;
    const suffix = options.phase === undefined ? '' : `/${options.phase}`;
    this.#dataOrder = randomStream(options.seed, `dataOrder${suffix}`);
    this.#augmentation = randomStream(options.seed, `augmentation${suffix}`);
    this.#dataOrderAtEpochStart = this.#dataOrder.state();
    this.#order = this.#dataOrder.permutation(batcher.dataset.count);
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

  /** Continues from a saved position (the network and optimizer are restored separately). */
  seek(position: TrainerPosition): void {
    const stepsPerEpoch = this.batcher.batchesPerEpoch;
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
    this.#order = this.#dataOrder.permutation(this.batcher.dataset.count);
    this.#augmentation = RandomStream.fromState(position.augmentation);
  }

  /**
   * Starts at `step` of the schedule instead of 0 (weight rewinding trains the rest of a cycle
   * from its rewind point), with this trainer's streams from their start.
   */
  startAt(step: number): void {
    const stepsPerEpoch = this.batcher.batchesPerEpoch;
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

  /** Runs one step; returns its loss, which may be NaN or infinite (the caller decides). */
  trainStep(): StepResult {
    if (this.done) throw new Error(`the schedule's ${this.schedule.totalSteps} steps are done`);
    const position = this.schedule.positionAt(this.#step);
    if (position.stepInCycle === 0 && this.resetMomentumEachCycle) this.optimizer.resetMomentum();
    const learningRate = this.schedule.learningRateAt(this.#step);
    const batch = this.batcher.fill(this.#batch, this.#order, this.#augmentation);
    const [h, w, c] = this.batcher.dataset.shape;
    const classes = this.network.spec.classes;
    const params = [...this.network.params];
    let statistics: ReturnType<Network['forward']>['statistics'] = [];
    const { loss, correct } = this.#guard(() =>
      tf.tidy(() => {
        const images = tf.tensor4d(batch.images, [batch.size, h, w, c]);
        const labels = tf.tensor1d(batch.labels, 'int32');
        const oneHot = tf.oneHot(labels, classes);
        let logits: tf.Tensor2D | undefined;
        const { value, grads } = tf.variableGrads(
          () => {
            const result = this.network.forward(images, 'train');
            statistics = result.statistics;
            logits = tf.keep(result.logits);
            return tf.losses.softmaxCrossEntropy(oneHot, result.logits);
          },
          params.map(([, v]) => v),
        );
        this.optimizer.step(
          Object.fromEntries(params.map(([name, v]) => [name, grads[v.name]!])),
          learningRate,
        );
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), labels), 'int32'));
        logits!.dispose(); // kept out of variableGrads' scope, so no tidy frees it
        return { loss: value.dataSync()[0]!, correct: hits.dataSync()[0]! };
      }),
    );
    this.network.updateRunningStatistics(statistics);
    const result = { step: this.#step, loss, correct, size: batch.size, learningRate };
    this.#advance();
    return result;
  }

  /**
   * Runs a step's computation, turning a failure inside the backend into an error that says which
   * step failed and, on wasm, the likely cause: the WebAssembly heap is at most 4 GB (wasm32),
   * and a large model at a large batch (ResNet-18/50 at batch 128) needs more.
   */
  #guard<T>(compute: () => T): T {
    try {
      return compute();
    } catch (error) {
      const hint =
        this.network.backend === 'wasm'
          ? '; if the model or batch is large, the wasm heap (at most 4 GB) may be exhausted: use a smaller batch'
          : '';
      throw new Error(
        `training step ${this.#step} failed on ${this.network.backend}: ${(error as Error).message}${hint}`,
        { cause: error },
      );
    }
  }

  #advance(): void {
    this.#step++;
    this.#batch++;
    if (this.#batch === this.batcher.batchesPerEpoch) {
      this.#batch = 0;
      this.#epoch++;
      this.#dataOrderAtEpochStart = this.#dataOrder.state();
      this.#order = this.#dataOrder.permutation(this.batcher.dataset.count);
    }
  }

  /**
   * Trains to the end of the schedule (or `untilStep`), calling `onEpoch` after each completed
   * epoch; stops at the first non-finite loss.
   */
  run(
    options: { untilStep?: number; onEpoch?: (metrics: EpochMetrics) => void } = {},
  ): TrainingOutcome {
    const backend = activeBackend();
    const until = Math.min(options.untilStep ?? this.schedule.totalSteps, this.schedule.totalSteps);
    const epochs: EpochMetrics[] = [];
    let loss = 0;
    let correct = 0;
    let seen = 0;
    let steps = 0;
    let started = performance.now();
    while (this.#step < until) {
      const epoch = this.#epoch;
      const result = this.trainStep();
      if (!Number.isFinite(result.loss))
        return { status: 'diverged', backend, epochs, step: result.step, loss: result.loss };
      loss += result.loss * result.size;
      correct += result.correct;
      seen += result.size;
      steps++;
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
        options.onEpoch?.(metrics);
        loss = correct = seen = steps = 0;
        started = performance.now();
      }
    }
    return { status: 'completed', backend, epochs };
  }
}

/** Loss and top-1 accuracy of `network` (eval mode) on `dataset`, in batches. */
export function evaluate(network: Network, dataset: ImageDataset, batcher: Batcher): Evaluation {
  if (batcher.dataset !== dataset)
    throw new InvalidArgumentError(
      'batcher',
      `a batcher over ${dataset.name}`,
      batcher.dataset.name,
    );
  const [h, w, c] = dataset.shape;
  let loss = 0;
  let correct = 0;
  for (let index = 0; index < batcher.batchesPerEpoch; index++) {
    const batch = batcher.fill(index, undefined);
    const [batchLoss, hits] = tf.tidy(() => {
      const labels = tf.tensor1d(batch.labels, 'int32');
      const { logits } = network.forward(tf.tensor4d(batch.images, [batch.size, h, w, c]), 'eval');
      const sum = tf.losses.softmaxCrossEntropy(
        tf.oneHot(labels, network.spec.classes),
        logits,
        undefined,
        0,
        tf.Reduction.SUM,
      );
      const right = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'));
      return [sum.dataSync()[0]!, right.dataSync()[0]!];
    });
    loss += batchLoss;
    correct += hits;
  }
  return { loss: loss / dataset.count, accuracy: correct / dataset.count, count: dataset.count };
}
