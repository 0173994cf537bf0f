/**
 * A resolved configuration made concrete: data sets loaded (and cached per process), the model
 * spec for the data set's image shape and classes, and the method's pipeline. ImageNet and folder
 * data sets are indexed (files listed, image sizes read), not decoded: the engines read the
 * images while training.
 *
 * Subsets (`trainPerClass`, `testPerClass`) are drawn from a fixed stream, independent of the
 * run's seed: the data set is part of what is being compared, the seed is what varies between
 * repetitions. Label noise does depend on the seed, as in the paper's repeated runs.
 */

import type { Conventions } from '../core/conventions.js';
import { InvalidArgumentError } from '../core/errors.js';
import { layerSize } from '../core/mask.js';
import { randomStream } from '../core/random.js';
import {
  CIFAR_AUGMENTATION,
  NO_AUGMENTATION,
  NORMALIZATIONS,
  RESIZED_CROP_AUGMENTATION,
  type Augmentation,
  type Normalization,
} from '../data/batches.js';
import { loadCifar10, loadCifar100 } from '../data/cifar.js';
import { subsetPerClass, withLabelNoise, type Dataset } from '../data/dataset.js';
import { listFolderSplit, loadFolderSplit } from '../data/folder.js';
import { loadFashionMnist, loadMnist, type Split } from '../data/mnist.js';
import {
  DATASET_SIZES,
  IMAGENET_COUNTS,
  publishedCounts,
  splitSize,
  type SplitCounts,
} from '../data/sizes.js';
import { buildMethod } from '../methods/method.js';
import { methodNamed } from '../methods/registry.js';
import type { Pipeline, PipelineSetup } from '../methods/types.js';
import { prunableLayers, type ModelSpec } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';
import { cycleShapeOf, NAMED_SHAPES } from './lr-shape.js';
import { DEFAULT_IMAGE_SIZE, defaultResize, isFileDatasetName, type RunConfig } from './schema.js';

/** @deprecated read `training.shape` with cycleShapeOf (config/lr-shape.ts). */
export const SCHEDULE_SHAPES = NAMED_SHAPES;

const loaded = new Map<string, Dataset>();

/**
 * `dataset: imagenet` promises ILSVRC-2012 itself: the model gets 1,000 outputs, the work is
 * sized from the published counts, and the run id ignores `data.dir`, so a run on any copy is
 * stored as ImageNet evidence. A folder that is not the whole of it (a subset, a copy with class
 * folders or files missing) is refused from its listing, before any image is opened. The counts
 * must be exact: a copy with even a few files removed is another data set (`dataset: folder`,
 * whose id names its folder).
 */
function checkImagenet(dir: string, split: Split): void {
  const { perClass } = listFolderSplit(dir, split);
  const found: SplitCounts = {
    images: perClass.reduce((a, b) => a + b, 0),
    classes: perClass.length,
    smallestClass: perClass.length === 0 ? 0 : Math.min(...perClass),
  };
  const expected = IMAGENET_COUNTS[split];
  if (found.images === expected.images && found.classes === expected.classes) return;
  const folder = split === 'train' ? 'train' : 'val';
  const counts = (c: SplitCounts) =>
    `${c.classes.toLocaleString('en-US')} classes and ${c.images.toLocaleString('en-US')} images`;
  throw new InvalidArgumentError(
    'data.dir',
    `ILSVRC-2012 for data set imagenet`,
    dir,
    `data.dir: expected ILSVRC-2012 for data set imagenet (${folder}/: exactly ${counts(expected)}), ` +
      `got ${counts(found)} in the ${folder} split of ${dir}; for any other image folder (a subset, a copy with ` +
      `files removed) write data.dataset: folder`,
  );
}

/** The crop and resize of a file data set (the resolved configuration has both). */
function fileTransform(data: RunConfig['data']): { imageSize: number; resize: number } {
  const imageSize = data.imageSize ?? DEFAULT_IMAGE_SIZE;
  return { imageSize, resize: data.resize ?? defaultResize(imageSize) };
}

function load(data: RunConfig['data'], split: Split): Dataset {
  const transform = isFileDatasetName(data.dataset) ? fileTransform(data) : undefined;
  const key = `${data.dataset}:${data.dir ?? ''}:${split}:${JSON.stringify(transform ?? null)}`;
  let dataset = loaded.get(key);
  if (dataset === undefined) {
    switch (data.dataset) {
      case 'imagenet':
        checkImagenet(data.dir!, split);
        dataset = loadFolderSplit(data.dir!, split, transform!);
        break;
      case 'folder':
        dataset = loadFolderSplit(data.dir!, split, transform!);
        break;
      case 'mnist':
        dataset = data.dir === undefined ? loadMnist(split) : loadMnist(split, data.dir);
        break;
      case 'fashion-mnist':
        dataset =
          data.dir === undefined ? loadFashionMnist(split) : loadFashionMnist(split, data.dir);
        break;
      case 'cifar10':
        dataset = loadCifar10(split, data.dir!);
        break;
      case 'cifar100':
        dataset = loadCifar100(split, data.dir!);
        break;
    }
    loaded.set(key, dataset);
  }
  return dataset;
}

const listed = new Map<string, SplitCounts>();

/**
 * The counts of a split without reading its images: published for the pixel data sets and
 * ImageNet, from listing the directory for a folder data set (which must then exist).
 */
export function splitCounts(data: RunConfig['data'], split: Split): SplitCounts {
  if (data.dataset !== 'folder') return publishedCounts(data.dataset, split);
  const key = `${data.dir!}:${split}`;
  let counts = listed.get(key);
  if (counts === undefined) {
    const { classNames, perClass } = listFolderSplit(data.dir!, split);
    counts = {
      images: perClass.reduce((a, b) => a + b, 0),
      classes: classNames.length,
      smallestClass: Math.min(...perClass),
    };
    listed.set(key, counts);
  }
  return counts;
}

/** The network's input (height, width, channels) for a data set. */
export function inputShape(data: RunConfig['data']): [number, number, number] {
  if (isFileDatasetName(data.dataset)) {
    const { imageSize } = fileTransform(data);
    return [imageSize, imageSize, 3];
  }
  const { shape } = DATASET_SIZES[data.dataset];
  return [shape[0], shape[1], shape[2]];
}

/** The per-channel statistics a data set is normalised with (torchvision's for file data). */
export function normalizationFor(data: RunConfig['data']): Normalization {
  return NORMALIZATIONS[isFileDatasetName(data.dataset) ? 'imagenet' : data.dataset];
}

/** The training augmentation a resolved `data.augmentation` names. */
export function augmentationFor(data: RunConfig['data']): Augmentation {
  switch (data.augmentation) {
    case 'crop-flip':
      return CIFAR_AUGMENTATION;
    case 'random-resized-crop-flip':
      return RESIZED_CROP_AUGMENTATION;
    default:
      return NO_AUGMENTATION;
  }
}

export function modelFor(config: RunConfig): ModelSpec {
  return modelSpec(config.model.name, {
    input: inputShape(config.data),
    classes: splitCounts(config.data, 'train').classes,
    ...(config.model.stem === undefined ? {} : { stem: config.model.stem }),
  });
}

export function pipelineFor(config: RunConfig, spec: ModelSpec): Pipeline {
  const { name, ...options } = config.method;
  return buildMethod(methodNamed(name), {
    ...options,
    epochsPerCycle: config.training.epochsPerCycle,
    weights: prunableLayers(spec, config.model.prunable).reduce((n, l) => n + layerSize(l), 0),
    shape: cycleShapeOf(config.training.shape),
    // The rules resolving kept are the ones this method uses (config/resolve.ts).
    conventions: (config.conventions ?? {}) as Partial<Conventions>,
  });
}

export interface Experiment {
  readonly setup: PipelineSetup;
  readonly pipeline: Pipeline;
}

/** Loads the data and builds the setup and pipeline of a resolved configuration. */
export function buildExperiment(config: RunConfig): Experiment {
  const spec = modelFor(config);
  let train = load(config.data, 'train');
  let test = load(config.data, 'test');
  if (config.data.trainPerClass !== undefined)
    train = subsetPerClass(train, config.data.trainPerClass, randomStream(0, 'subset/train'));
  if (config.data.testPerClass !== undefined)
    test = subsetPerClass(test, config.data.testPerClass, randomStream(0, 'subset/test'));
  if (config.data.labelNoise > 0)
    train = withLabelNoise(train, config.data.labelNoise, randomStream(config.seed, 'labelNoise'));
  const t = config.training;
  const boundaries = config.conventions?.lrBoundaries;
  const setup: PipelineSetup = {
    spec,
    prunable: config.model.prunable,
    train,
    test,
    normalization: normalizationFor(config.data),
    augmentation: augmentationFor(config.data),
    batchSize: t.batchSize,
    schedule: {
      peak: t.peak,
      shape: cycleShapeOf(t.shape),
      granularity: t.granularity,
      // Recorded only where it differs from the default, so earlier results read the same.
      ...(boundaries === undefined || boundaries === 'round-half-up' ? {} : { boundaries }),
    },
    sgd: {
      momentum: t.momentum,
      nesterov: t.nesterov,
      weightDecay: t.weightDecay,
    },
    seed: config.seed,
  };
  return { setup, pipeline: pipelineFor(config, spec) };
}

/** What a run will do, from its configuration alone (no data read: a dry run needs none). */
export interface PlannedWork {
  readonly epochs: number;
  /** Optimizer steps: epochs × batches per epoch. */
  readonly steps: number;
  readonly trainImages: number;
  /** Images evaluated after every epoch (the test set or its subset). */
  readonly testImages: number;
  /** Prune phases (each scores the network once). */
  readonly prunes: number;
  /** Cycles ending (each stores the cycle's network). */
  readonly cycles: number;
}

/**
 * Epochs, steps and the other work of a run, from the data set's published sizes (a folder data
 * set's listing): the same numbers `buildExperiment` would give, without loading the data.
 */
export function plannedWork(
  config: RunConfig,
  pipeline = pipelineFor(config, modelFor(config)),
): PlannedWork {
  const { dataset, trainPerClass, testPerClass } = config.data;
  const sized = (split: Split) => ({ name: dataset, counts: splitCounts(config.data, split) });
  const trainImages = splitSize(sized('train'), 'train', trainPerClass);
  const testImages = splitSize(sized('test'), 'test', testPerClass);
  return {
    ...plannedCost(pipeline, trainImages, config.training.batchSize),
    trainImages,
    testImages,
  };
}

/** Epochs and optimizer steps a pipeline will train (and its prunes and cycles), without training. */
export function plannedCost(
  pipeline: Pipeline,
  trainImages: number,
  batchSize: number,
): { epochs: number; steps: number; prunes: number; cycles: number } {
  let epochs = 0;
  let prunes = 0;
  let cycles = 0;
  for (const phase of pipeline.phases) {
    if (phase.kind === 'train') {
      epochs += phase.cycles * phase.epochsPerCycle - (phase.startEpoch ?? 0);
      cycles += phase.cycles;
    } else if (phase.kind === 'prune') prunes++;
  }
  return {
    epochs,
    steps: epochs * Math.ceil(trainImages / batchSize),
    prunes,
    cycles,
  };
}
