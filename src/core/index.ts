/** The framework-free core: masks, prune-k-of-n, layer densities, schedules, seeded streams. */
export * from './errors.js';
export {
  COUNTING_RULE,
  TIE_BREAK,
  keptCount,
  prunedCount,
  roundHalfUp,
  selectToPrune,
  selectToPruneReference,
  type ScoreSegment,
  type SelectionTuning,
} from './selection.js';
export { apportion, apportionReference } from './apportion.js';
export {
  Mask,
  channels,
  intersectionOverUnion,
  layerOverlap,
  layerSize,
  validateLayers,
  type LayerOverlap,
  type LayerSparsity,
  type LayerSpec,
  type MaskJson,
  type WeightLayout,
} from './mask.js';
export {
  SCOPES,
  prune,
  pruneToKeptCounts,
  type LayerScores,
  type PruneOptions,
  type Scope,
} from './prune.js';
export {
  DISTRIBUTIONS,
  distributionWeight,
  layerDensities,
  type DensityOptions,
  type Distribution,
  type LayerDensity,
} from './densities.js';
export {
  levelSparsity,
  levelsToReach,
  pruningLevels,
  type LevelPlan,
  type PruningLevel,
} from './density-schedule.js';
export * from './lr-schedule.js';
export {
  RandomStream,
  STREAM_NAMES,
  SeedStreams,
  randomStream,
  streamState,
  type StreamName,
} from './random.js';
