/**
 * One run of every method on an MNIST subset with LeNet-300-100, printed as a Markdown table:
 *
 *   npx tsx examples/mnist-methods.ts [--per-class 500] [--epochs 4] [--cycles 3] [--sparsity 0.9] [--seed 0]
 *
 * A small-scale tour, not a reproduction: one seed, a few epochs per cycle (the CIFAR
 * step-warmup shape scaled down), test accuracy on the full MNIST test set.
 */

import { parseArgs } from 'node:util';
import { CIFAR_STEP_WARMUP } from '../src/core/lr-schedule.js';
import { randomStream } from '../src/core/random.js';
import { NORMALIZATIONS, NO_AUGMENTATION } from '../src/data/batches.js';
import { subsetPerClass } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { openEngine } from '../src/engine/open.js';
import { prunableLayers } from '../src/models/spec.js';
import { modelSpec } from '../src/models/zoo.js';
import { pipelineOf } from '../src/methods/registry.js';
import { COUPLING_INITS } from '../src/methods/catalog/coupling.js';
import { runPipeline, type Pipeline, type PipelineSetup } from '../src/methods/runner.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '500' },
    epochs: { type: 'string', default: '4' },
    cycles: { type: 'string', default: '3' },
    sparsity: { type: 'string', default: '0.9' },
    seed: { type: 'string', default: '0' },
  },
});
const number = (name: keyof typeof values) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value)) throw new Error(`--${name}: expected a number, got ${values[name]}`);
  return value;
};
const perClass = number('per-class');
const epochs = number('epochs');
const cycles = number('cycles');
const sparsity = number('sparsity');
const seed = number('seed');

// Any engine: { backend: 'native' }, or { backend: 'torch', device: 'cuda' } on a GPU machine.
const engine = await openEngine({ backend: 'wasm' });
const backend = engine.info;
const spec = modelSpec('lenet-300-100');
const weights = prunableLayers(spec).reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);
const setup: PipelineSetup = {
  spec,
  train: subsetPerClass(loadMnist('train'), perClass, randomStream(seed, 'subset')),
  test: loadMnist('test'),
  normalization: NORMALIZATIONS.mnist,
  augmentation: NO_AUGMENTATION,
  batchSize: 128,
  schedule: { peak: 0.05, shape: CIFAR_STEP_WARMUP, granularity: 'epoch' },
  sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
  seed,
};
const iterative = { epochsPerCycle: epochs, targetSparsity: sparsity, weights };
const pipelines: Pipeline[] = [
  pipelineOf('dense', { epochsPerCycle: epochs }),
  pipelineOf('cyclic', { cycles, epochsPerCycle: epochs }),
  pipelineOf('one-cycle', { cycles, epochsPerCycle: epochs }),
  pipelineOf('imp', iterative),
  pipelineOf('wr', { ...iterative, shape: CIFAR_STEP_WARMUP }),
  pipelineOf('lrr', iterative),
  pipelineOf('pai', { criterion: 'random', sparsity, cycles: 1, epochsPerCycle: epochs }),
  pipelineOf('pai', { criterion: 'random', sparsity, cycles, epochsPerCycle: epochs }),
  pipelineOf('pai', { criterion: 'snip', sparsity, cycles, epochsPerCycle: epochs }),
  pipelineOf('pai', { criterion: 'synflow', sparsity, cycles, epochsPerCycle: epochs }),
  ...COUPLING_INITS.map((init) =>
    pipelineOf('coupling', { ...iterative, init, cycles, shape: CIFAR_STEP_WARMUP }),
  ),
  pipelineOf('sculpt', {
    start: 'random',
    startSparsity: 0.5,
    targetSparsity: sparsity,
    cycles,
    epochsPerCycle: epochs,
  }),
];

console.log(
  `LeNet-300-100, MNIST ${setup.train.count} training images (${perClass}/class), full test set; ${epochs}-epoch cycles, seed ${seed}, backend ${backend.name}\n`,
);
console.log(
  '| method | sparsity | test acc. final | test acc. best | epochs | steps | train GFLOPs dense | sparse | seconds |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const pipeline of pipelines) {
  const started = performance.now();
  const result = await runPipeline(engine, setup, pipeline);
  const last = result.cycles.at(-1)!;
  const cells = [
    result.method + (result.status === 'diverged' ? ' (diverged)' : ''),
    last.sparsity.toFixed(3),
    (100 * last.testAccuracy.final).toFixed(2),
    (100 * last.testAccuracy.best).toFixed(2),
    result.cost.epochs,
    result.cost.steps,
    (result.cost.flopsDense / 1e9).toFixed(1),
    (result.cost.flopsSparse / 1e9).toFixed(1),
    ((performance.now() - started) / 1000).toFixed(1),
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
