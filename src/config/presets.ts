/**
 * Named presets a configuration `extends`: model, data and training settings, to which the
 * configuration adds its method (and may override anything). The `…-paper` presets carry the
 * hyper-parameters of METHODS.md; the `…-turboprune` presets those the authors' own harness
 * (TurboPrune) fixes in its configs (issue 19); docs/PRESETS.md tables both with the source of
 * every value and where they differ. The mini presets are CPU-scale counterparts (same schedule
 * shape, fewer images and epochs).
 *
 * A preset's values are part of every resolved configuration that extends it, and so of its
 * run id: changing one changes the ids of the runs stored under it. Add presets; do not edit one.
 */

/** METHODS.md, "One training cycle": the CIFAR step-warmup cycle. */
const PAPER_CIFAR_TRAINING = {
  batchSize: 256,
  peak: 0.1,
  epochsPerCycle: 150,
  shape: 'cifar-step-warmup',
  granularity: 'epoch',
  momentum: 0.9,
  weightDecay: 5e-4,
} as const;

/**
 * METHODS.md's ImageNet cycle (90 epochs, peak 0.1, weight decay 1e-4). Batch 256: METHODS.md
 * gives none for ImageNet; 256 is the batch a peak of 0.1 goes with in the standard ResNet-50
 * recipe (and the CIFAR cycle's batch).
 */
const PAPER_IMAGENET_TRAINING = {
  batchSize: 256,
  peak: 0.1,
  epochsPerCycle: 90,
  shape: 'imagenet-step-warmup',
  granularity: 'epoch',
  momentum: 0.9,
  weightDecay: 1e-4,
} as const;

/**
 * TurboPrune (issue 19): batch 512, bfloat16, SGD peak 0.2, momentum 0.9, the triangular
 * multiplier per step (0.2 → 1 at 20% of the cycle's steps → 0). bf16 is the PyTorch engine's
 * (`training.precision` is refused on TF.js backends), so these presets name backend torch.
 *
 * TurboPrune rewinds at epoch 10. A preset cannot say so (that is a method option), and under
 * the triangular shape WR's `rewindEpoch` and coupling's `warmupEpochs` default to its warm-up,
 * 20% of the cycle (30 epochs of 150, 18 of 90): a run matching TurboPrune writes
 * `rewindEpoch: 10` (WR) or `warmupEpochs: 10` (coupling) in its method (docs/PRESETS.md).
 */
const TURBOPRUNE_TRAINING = {
  backend: 'torch',
  precision: 'bf16',
  batchSize: 512,
  peak: 0.2,
  shape: 'triangular',
  granularity: 'step',
  momentum: 0.9,
} as const;

export const PRESETS = {
  'mini-mnist-lenet300': {
    model: { name: 'lenet-300-100' },
    data: { dataset: 'mnist', trainPerClass: 500, testPerClass: 200 },
    training: {
      batchSize: 128,
      peak: 0.05,
      epochsPerCycle: 4,
      shape: 'cifar-step-warmup',
      weightDecay: 5e-4,
    },
  },
  'mini-fashion-lenet5': {
    model: { name: 'lenet-5' },
    data: { dataset: 'fashion-mnist', trainPerClass: 500, testPerClass: 200 },
    training: {
      batchSize: 128,
      peak: 0.02,
      epochsPerCycle: 4,
      shape: 'cifar-step-warmup',
      weightDecay: 5e-4,
    },
  },
  'cifar10-resnet20-paper': {
    model: { name: 'resnet-20' },
    data: { dataset: 'cifar10', augmentation: 'crop-flip' },
    training: PAPER_CIFAR_TRAINING,
  },
  'cifar10-resnet20-turboprune': {
    model: { name: 'resnet-20' },
    data: { dataset: 'cifar10', augmentation: 'crop-flip' },
    training: { ...TURBOPRUNE_TRAINING, epochsPerCycle: 150, weightDecay: 5e-4 },
  },
  'cifar10-vgg16-paper': {
    model: { name: 'vgg-16' },
    data: { dataset: 'cifar10', augmentation: 'crop-flip' },
    training: PAPER_CIFAR_TRAINING,
  },
  'cifar10-vgg16-turboprune': {
    model: { name: 'vgg-16' },
    data: { dataset: 'cifar10', augmentation: 'crop-flip' },
    training: { ...TURBOPRUNE_TRAINING, epochsPerCycle: 150, weightDecay: 5e-4 },
  },
  'cifar100-resnet18-paper': {
    model: { name: 'resnet-18', stem: 'cifar' },
    data: { dataset: 'cifar100', augmentation: 'crop-flip' },
    training: PAPER_CIFAR_TRAINING,
  },
  'cifar100-resnet18-turboprune': {
    model: { name: 'resnet-18', stem: 'cifar' },
    data: { dataset: 'cifar100', augmentation: 'crop-flip' },
    training: { ...TURBOPRUNE_TRAINING, epochsPerCycle: 150, weightDecay: 1e-4 },
  },
  'imagenet-resnet50-paper': {
    model: { name: 'resnet-50', stem: 'imagenet' },
    data: { dataset: 'imagenet', augmentation: 'random-resized-crop-flip', imageSize: 224 },
    training: PAPER_IMAGENET_TRAINING,
  },
  'imagenet-resnet50-turboprune': {
    model: { name: 'resnet-50', stem: 'imagenet' },
    data: { dataset: 'imagenet', augmentation: 'random-resized-crop-flip', imageSize: 224 },
    training: { ...TURBOPRUNE_TRAINING, epochsPerCycle: 90, weightDecay: 1e-4 },
  },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
