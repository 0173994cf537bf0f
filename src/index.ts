/** cyclesparse: the library entry point. Contracts are at `cyclesparse/contracts`. */
export * from './core/index.js';
export * from './models/architectures.js';
export {
  SELF_CHECK_MODELS,
  runSelfCheck,
  type CheckResult,
  type SelfCheckModel,
  type SelfCheckOptions,
  type SelfCheckReport,
} from './self-check.js';
