/**
 * The vocabulary of pipelines: phases, a method instantiated, what a run needs and what it
 * records, and the hooks a caller (the store, analyses, tests) sees. `runner.ts` runs them.
 */

import type { BoundaryRule, LayerCountRule } from '../core/conventions.js';
import type { CycleShape, Granularity } from '../core/lr-schedule.js';
import type { LayerSparsity, Mask, MaskJson } from '../core/mask.js';
import type { PruneTarget } from '../core/prune.js';
import type { CountingRule } from '../core/selection.js';
import type { Augmentation, Normalization } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { BackendInfo, EngineModel, SgdOptions } from '../engine/engine.js';
import type { ModelSpec, PrunableOptions } from '../models/spec.js';
import type { EpochMetrics, TrainerPosition } from '../train/trainer.js';

/**
 * A scorer of `prune/registry.ts` and its own options (validated against its schema when the
 * phase runs): `{ name: 'synflow', scope: 'global', synflowIterations: 100 }`.
 */
export type CriterionChoice = { readonly name: string } & Readonly<Record<string, unknown>>;

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
      /**
       * The key of this prune's random streams (`maskSampling/<key>`, `augmentation/<key>`):
       * frozen per method, since another key draws other masks. Labels are free to change.
       */
      readonly stream: string;
      readonly criterion: CriterionChoice;
      /** A sparsity, or (levels that compound, `core/conventions.ts`) a fraction of what is kept. */
      readonly target: PruneTarget;
      /** How sparsities become counts, network-wide and per layer (`core/conventions.ts`). */
      readonly counting: CountingRule;
      readonly layerCounts: LayerCountRule;
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
  readonly train: Dataset;
  readonly test: Dataset;
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

/** Weights and momentum saved under a name. */
export interface Snapshot {
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
