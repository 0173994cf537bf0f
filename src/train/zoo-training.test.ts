/**
 * Every model of the zoo trains on the default wasm backend: a few SGD steps on one fixed batch
 * of real images lower the loss (LeNets on MNIST; the others on the real CIFAR-10 subset in
 * ../shared/data, which only exists beside the project's checkout).
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { CONSTANT, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { Batcher, NORMALIZATIONS, type Normalization } from '../data/batches.js';
import { loadCifar10File } from '../data/cifar.js';
import { subsetPerClass, type ImageDataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { useBackend } from '../engine/backend.js';
import { Network } from '../engine/network.js';
import { MaskedSgd } from '../engine/sgd.js';
import { modelSpec, type ModelName, type ModelOptions } from '../models/zoo.js';
import { Trainer } from './trainer.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const cifarSubset = join(
  import.meta.dirname,
  '../../../shared/data/cifar10-subset/data_batch_1_first4000.bin',
);

/** One batch of `size` real images, one or more per class. */
function fixedBatch(data: ImageDataset, size: number): ImageDataset {
  return subsetPerClass(data, Math.ceil(size / data.classes), randomStream(0, 'subset'));
}

function lossesOf(
  name: ModelName,
  options: ModelOptions,
  data: ImageDataset,
  normalization: Normalization,
  steps: number,
  peak: number,
): number[] {
  const spec = modelSpec(name, options);
  const network = Network.initialize(spec, 0);
  const sgd = new MaskedSgd(network, { momentum: 0.9, nesterov: false, weightDecay: 0 });
  const batcher = new Batcher(data, data.count, normalization);
  const schedule = new LrSchedule({
    peak,
    shape: CONSTANT,
    granularity: 'step',
    stepsPerEpoch: 1,
    cycleEpochs: [steps],
  });
  const trainer = new Trainer(network, sgd, batcher, schedule, { seed: 0 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(trainer.trainStep().loss);
  sgd.dispose();
  network.dispose();
  return losses;
}

describe('LeNets train on MNIST', () => {
  const mnist = fixedBatch(loadMnist('train'), 20);
  test.each(['lenet-300-100', 'lenet-5'] as const)(
    '%s lowers its loss on a fixed batch',
    (name) => {
      const losses = lossesOf(name, {}, mnist, NORMALIZATIONS.mnist, 6, 0.01);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses.at(-1)).toBeLessThan(losses[0]!);
    },
  );
});

describe.runIf(existsSync(cifarSubset))('CIFAR models train on the real CIFAR-10 subset', () => {
  const cifar = existsSync(cifarSubset) ? fixedBatch(loadCifar10File(cifarSubset), 10) : undefined;
  test.each([
    ['conv-2', {}],
    ['conv-4', {}],
    ['conv-6', {}],
    ['vgg-16', {}],
    ['resnet-20', {}],
    ['resnet-32', {}],
    ['resnet-56', {}],
    ['resnet-18', { stem: 'cifar' }],
    ['resnet-18', { stem: 'imagenet', classes: 10, input: [32, 32, 3] }],
    ['resnet-50', { stem: 'cifar' }],
    ['resnet-50', { stem: 'imagenet', classes: 10, input: [32, 32, 3] }],
  ] as const)('%s %j lowers its loss on a fixed batch', (name, options) => {
    const losses = lossesOf(name, options, cifar!, NORMALIZATIONS.cifar10, 5, 0.001);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)).toBeLessThan(losses[0]!);
  });
});
test.skipIf(existsSync(cifarSubset))(
  'CIFAR models need ../shared/data/cifar10-subset beside the checkout (skipped: absent)',
  () => {},
);
