/**
 * Reusable property contracts (`cyclesparse/contracts`): run them against any pruner, layer-density
 * function or learning-rate schedule from your own test file, e.g. with vitest:
 *
 *   for (const law of pruningContract(myPruner)) test(law.name, () => checkLaw(law));
 */
export { checkLaw, law, expectThat, type Law } from './law.js';
export { COUNTING_RULES, prunedCountBy, type CountingRule } from './counting.js';
export {
  layerListArbitrary,
  scoresArbitrary,
  shapeArbitrary,
  sparsityArbitrary,
  type LayerListConstraints,
} from './arbitraries.js';
export {
  pruneRequestArbitrary,
  pruningContract,
  type PruneRequest,
  type PrunedMask,
  type PrunerUnderTest,
  type PruningContractOptions,
} from './pruning.js';
export {
  distributionContract,
  distributionRequestArbitrary,
  type DistributionContractOptions,
  type DistributionRequest,
  type DistributionUnderTest,
  type KeptCounts,
} from './distribution.js';
export {
  budgetContract,
  cycleShapeArbitrary,
  scheduleContract,
  scheduleSpecArbitrary,
  type BudgetSplitter,
  type ScheduleFactory,
  type ScheduleUnderTest,
} from './schedule.js';
export {
  cyclesparseDensities,
  cyclesparseDensitiesWith,
  cyclesparsePruner,
  cyclesparsePrunerWith,
  cyclesparseSchedule,
} from './reference.js';
export {
  countingRulesMatching,
  maskValuesViolation,
  prunedIn,
  rankingUnits,
  revivalViolation,
  scoreOrderViolation,
  tieBreakViolation,
  tieResolution,
  type PruningStep,
  type TieResolution,
  type Violation,
} from './checks.js';
export { proportionalityViolation } from './distribution.js';
