/** cyclesparse: the library entry point. Contracts are at `cyclesparse/contracts`. */
export * from './core/index.js';
export * from './models/spec.js';
export * from './models/zoo.js';
export * from './data/dataset.js';
export * from './data/batches.js';
export * from './data/files.js';
export * from './data/mnist.js';
export * from './data/cifar.js';
export * from './engine/backend.js';
export { replacedKernels, stockKernel } from './engine/kernels.js';
export * from './engine/network.js';
export * from './engine/sgd.js';
export * from './train/trainer.js';
export * from './train/checkpoint.js';
export {
  runSelfCheck,
  type CheckResult,
  type SelfCheckOptions,
  type SelfCheckReport,
} from './self-check.js';
