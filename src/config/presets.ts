/**
 * Named presets a configuration `extends`: model, data and training settings, to which the
 * configuration adds its method (and may override anything). The paper presets carry the
 * hyper-parameters of METHODS.md; the mini presets are their CPU-scale counterparts (same
 * schedule shape, fewer images and epochs).
 */

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
    training: {
      batchSize: 256,
      peak: 0.1,
      epochsPerCycle: 150,
      shape: 'cifar-step-warmup',
      granularity: 'epoch',
      momentum: 0.9,
      weightDecay: 5e-4,
    },
  },
  'cifar100-resnet18-paper': {
    model: { name: 'resnet-18', stem: 'cifar' },
    data: { dataset: 'cifar100', augmentation: 'crop-flip' },
    training: {
      batchSize: 256,
      peak: 0.1,
      epochsPerCycle: 150,
      shape: 'cifar-step-warmup',
      granularity: 'epoch',
      momentum: 0.9,
      weightDecay: 5e-4,
    },
  },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
