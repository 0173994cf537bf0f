/** cyclesparse: the library entry point. Contracts are at `cyclesparse/contracts`. */
export * from './core/index.js';
export * from './models/spec.js';
export * from './models/zoo.js';
export {
  runSelfCheck,
  type CheckResult,
  type SelfCheckOptions,
  type SelfCheckReport,
} from './self-check.js';
