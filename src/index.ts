/** cyclesparse: the library entry point. Contracts are at `cyclesparse/contracts`. */
export * from './core/index.js';
export * from './models/spec.js';
export * from './models/zoo.js';
export * from './data/dataset.js';
export * from './data/batches.js';
export * from './data/files.js';
export * from './data/mnist.js';
export * from './data/cifar.js';
export * from './models/init.js';
export * from './engine/engine.js';
export * from './engine/backend.js';
export * from './engine/open.js';
export { TfjsEngine, TfjsModel } from './engine/tfjs-engine.js';
export { TorchEngine, TorchModel, torchLayouts } from './engine/torch/engine.js';
export {
  TORCH_SCRIPT,
  TorchProcessError,
  TorchWorkerError,
  WORKER_SCRIPT,
} from './engine/torch/python-process.js';
export { replacedKernels, stockKernel } from './engine/kernels.js';
export * from './engine/network.js';
export * from './engine/sgd.js';
export * from './train/trainer.js';
export * from './train/checkpoint.js';
export { magnitudeScores } from './prune/magnitude.js';
export { SAMPLINGS, randomMask, randomScores, type Sampling } from './prune/random.js';
export { snipScores } from './prune/snip.js';
export { synflowMask, synflowScores, type SynflowOptions } from './prune/synflow.js';
export * from './prune/scorer.js';
export * from './prune/registry.js';
export * from './methods/runner.js';
export * from './methods/method.js';
export * from './methods/registry.js';
export { COUPLING_INITS } from './methods/catalog/coupling.js';
export { warmupEpochs } from './methods/catalog/levels.js';
export { trainingFlops, type TrainingFlops } from './methods/cost.js';
export {
  runSelfCheck,
  type CheckResult,
  type SelfCheckOptions,
  type SelfCheckReport,
} from './self-check.js';
export * from './config/schema.js';
export * from './config/presets.js';
export * from './config/resolve.js';
export * from './config/build.js';
export * from './config/overrides.js';
export * from './store/store.js';
export * from './harness/execute.js';
export * from './sinks/sink.js';
export { checkSinks, createSinks, sinksFromOptions, type SinkOptions } from './sinks/open.js';
export { TensorBoardSink } from './sinks/tensorboard.js';
export { MlflowSink, MlflowClient, mlflowSettings } from './sinks/mlflow.js';
export * from './stats/inference.js';
export * from './claims/baselines.js';
export * from './claims/claims.js';
export * from './claims/gate.js';
export * from './claims/run-source.js';
export { fileSource, readResultsFile, writeResultsFile } from './claims/results-file.js';
export { measuredBaseline } from './claims/write-baseline.js';
export * from './stats/power.js';
export { junitXml, writeJunit, type JunitSuite } from './claims/junit.js';
export { writeReport, renderSvg, svgToPng } from './report/report.js';
export * from './analysis/eigen.js';
export * from './analysis/hessian.js';
export * from './analysis/lmc.js';
export * from './analysis/overlap.js';
export * from './analysis/signs.js';
export * from './analysis/stored.js';
export * from './analysis/hooks.js';
export * from './verify/tensors.js';
export * from './verify/manifest.js';
export * from './verify/verify.js';
export { encodeNpy, encodeNpz } from './verify/write.js';
export { verifyText } from './verify/report.js';
export * from './queue/connection.js';
export * from './queue/queue.js';
export { loadNative, type NativeAddon } from './engine/native.js';
