/**
 * One end-to-end run for `npm run bench:peer`'s sparse-kernels table, in a process of its own
 * (the sparse mode is the process's CYCLESPARSE_SPARSE: auto, on or off):
 *
 *   tsx benchmarks/sparse-run.ts lrr-lenet [--epochs 2] [--train-per-class 5000] [--test-per-class 500]
 *   tsx benchmarks/sparse-run.ts erk-resnet [--epochs 4] [--cycles 4] [--train 3000] [--test 1000]
 *   (both: [--batch 128] [--seed 0])
 *
 * - `lrr-lenet`: LRR to 95% (rate 0.2: 14 prunes, 15 cycles, the dense first one included) on
 *   LeNet-300-100, MNIST, the `mini-mnist-lenet300` preset's training with `--epochs` per cycle
 *   and the per-class subsets given.
 * - `erk-resnet`: the cyclic method at 95% from a random ERK mask (`pai`, criterion random,
 *   distribution erk) on ResNet-20, `cifar10-resnet20-paper`'s training (crop + flip, peak 0.1,
 *   the step-warm-up cycle) at `--batch`, `--cycles` cycles of `--epochs` epochs, on the real
 *   4,000-image CIFAR-10 subset in ../shared/data: `--test` images held out (class-stratified,
 *   seeded), `--train` of the rest trained on.
 *
 * The run goes the library's way, as `cyclesparse run` does (resolveRun with the preset and the
 * method, the model and pipeline the configuration builds, runPipeline on the `native` engine),
 * without a store: no checkpoints or metrics files, so the wall time is training, pruning and
 * evaluation. Prints one JSON line: the run's wall time (runPipeline, from building the model to
 * the last evaluation; not the process's start or the data's loading), each cycle's time,
 * sparsity, final test accuracy and the sparse kernels' choices in it, and the final accuracy.
 */

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomStream } from '../src/core/random.js';
import {
  augmentationFor,
  buildExperiment,
  modelFor,
  normalizationFor,
  pipelineFor,
} from '../src/config/build.js';
import { cycleShapeOf } from '../src/config/lr-shape.js';
import { resolveRun } from '../src/config/resolve.js';
import type { RunConfig } from '../src/config/schema.js';
import { loadCifar10File } from '../src/data/cifar.js';
import { select, splitValidation } from '../src/data/dataset.js';
import { closeEngines, openEngine } from '../src/engine/open.js';
import { sparseMode } from '../src/engine/sparse.js';
import { TfjsModel } from '../src/engine/tfjs-engine.js';
import { runPipeline, type PipelineSetup } from '../src/methods/runner.js';

/** The real CIFAR-10 subset beside the checkout (../shared/data/cifar10-subset/README.md). */
const CIFAR_SUBSET = new URL(
  '../../shared/data/cifar10-subset/data_batch_1_first4000.bin',
  import.meta.url,
).pathname;

const [which, ...rest] = process.argv.slice(2);
const { values } = parseArgs({
  args: rest,
  options: {
    epochs: { type: 'string' },
    cycles: { type: 'string', default: '4' },
    'train-per-class': { type: 'string', default: '5000' },
    'test-per-class': { type: 'string', default: '500' },
    train: { type: 'string', default: '3000' },
    test: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '128' },
    seed: { type: 'string', default: '0' },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function integer(flag: string, text: string, min = 1): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    fail(`--${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return value;
}

const batch = integer('batch', values.batch);
const seed = integer('seed', values.seed, 0);
const training = { backend: 'native', batchSize: batch } as const;

let config: RunConfig;
let setup: PipelineSetup;
let scale: Record<string, number | string>;
if (which === 'lrr-lenet') {
  const epochs = integer('epochs', values.epochs ?? '2');
  const trainPerClass = integer('train-per-class', values['train-per-class']);
  const testPerClass = integer('test-per-class', values['test-per-class']);
  config = resolveRun({
    extends: 'mini-mnist-lenet300',
    data: { trainPerClass, testPerClass },
    training: { ...training, epochsPerCycle: epochs },
    method: { name: 'lrr', targetSparsity: 0.95 },
    seed,
  });
  setup = buildExperiment(config).setup;
  scale = { epochsPerCycle: epochs, trainPerClass, testPerClass };
} else if (which === 'erk-resnet') {
  if (!existsSync(CIFAR_SUBSET)) fail(`the CIFAR-10 subset is missing: ${CIFAR_SUBSET}`);
  const epochs = integer('epochs', values.epochs ?? '4');
  const cycles = integer('cycles', values.cycles);
  const train = integer('train', values.train);
  const test = integer('test', values.test);
  // The subset is one file, not CIFAR-10's six: the setup is built here from the resolved
  // configuration the way buildExperiment builds it, with the subset's split as the data.
  config = resolveRun({
    extends: 'cifar10-resnet20-paper',
    data: { dir: CIFAR_SUBSET },
    training: { ...training, epochsPerCycle: epochs },
    method: { name: 'pai', criterion: 'random', distribution: 'erk', sparsity: 0.95, cycles },
    seed,
  });
  const all = loadCifar10File(CIFAR_SUBSET);
  if (train + test > all.count) fail(`--train + --test: at most ${all.count} images`);
  const split = splitValidation(all, test, randomStream(0, 'subset/test'));
  const spec = modelFor(config);
  const t = config.training;
  setup = {
    spec,
    prunable: config.model.prunable,
    train: select(
      split.train,
      Array.from({ length: train }, (_, i) => i),
      `first ${train} images`,
    ),
    test: split.validation,
    normalization: normalizationFor(config.data),
    augmentation: augmentationFor(config.data),
    batchSize: t.batchSize,
    schedule: { peak: t.peak, shape: cycleShapeOf(t.shape), granularity: t.granularity },
    sgd: { momentum: t.momentum, nesterov: t.nesterov, weightDecay: t.weightDecay },
    seed: config.seed,
  };
  scale = { epochsPerCycle: epochs, cycles, trainImages: train, testImages: test };
} else {
  fail('usage: sparse-run.ts lrr-lenet|erk-resnet [options]');
}

const engine = await openEngine({ backend: 'native' });
const pipeline = pipelineFor(config, setup.spec);

interface CycleTime {
  readonly cycle: number;
  /** From the train phase's start (first cycle) or the previous cycle's end. */
  readonly ms: number;
  /** Products on the sparse kernels / products decided (0/0: no layer sparse enough). */
  readonly sparseProducts: number;
  readonly decidedProducts: number;
  readonly sparseChoices: string[];
}

const cycleTimes: CycleTime[] = [];
let since = 0;
const start = performance.now();
const result = await runPipeline(engine, setup, pipeline, {
  observe: ({ phase, when }) => {
    if (phase.kind === 'train' && when === 'start') since = performance.now();
  },
  onCycleEnd: ({ cycle, model }) => {
    const now = performance.now();
    const decisions = model instanceof TfjsModel ? (model.sparseLayers?.decisions() ?? []) : [];
    const sparse = decisions.filter((d) => d.choice === 'sparse');
    cycleTimes.push({
      cycle,
      ms: now - since,
      sparseProducts: sparse.length,
      decidedProducts: decisions.length,
      sparseChoices: sparse.map((d) => `${d.layer} ${d.product} (batch ${d.input[0]})`),
    });
    since = now;
  },
});
const wallMs = performance.now() - start;
await closeEngines();

const cycles = result.cycles;
const last = cycles.at(-1);
console.log(
  JSON.stringify({
    run: which,
    model: setup.spec.name,
    method: config.method,
    sparseMode: sparseMode(),
    seed,
    batch,
    scale,
    status: result.status,
    wallSeconds: wallMs / 1000,
    // The cycles: training and each epoch's evaluation, without pruning and model set-up.
    cyclesSeconds: cycleTimes.reduce((n, c) => n + c.ms, 0) / 1000,
    steps: cycles.reduce((n, c) => n + c.steps, 0),
    finalSparsity: last?.sparsity ?? null,
    finalTestAccuracy: last?.testAccuracy.final ?? null,
    bestTestAccuracy: last?.testAccuracy.best ?? null,
    cycles: cycles.map((c, i) => ({
      level: c.level,
      cycle: c.cycle,
      sparsity: c.sparsity,
      steps: c.steps,
      testAccuracy: c.testAccuracy.final,
      ms: cycleTimes[i]?.ms ?? null,
      sparseProducts: cycleTimes[i]?.sparseProducts ?? null,
      decidedProducts: cycleTimes[i]?.decidedProducts ?? null,
      sparseChoices: cycleTimes[i]?.sparseChoices ?? [],
    })),
  }),
);
