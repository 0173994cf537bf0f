/**
 * The prunable layers (every conv and linear weight) of the standard architectures, as plain
 * layer specs in TF.js layout (`hwio` kernels, `io` dense weights). Framework-free on purpose:
 * masks, densities, benchmarks and the self-check need the shapes without building a model,
 * and the TF.js model builders read the same list, so both always agree on names and order.
 * Biases and BatchNorm parameters are never masked and are not listed.
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { LayerSpec } from '../core/mask.js';

function conv(name: string, kernel: number, cin: number, cout: number): LayerSpec {
  return { name, shape: [kernel, kernel, cin, cout], layout: 'hwio' };
}

function dense(name: string, inputs: number, outputs: number): LayerSpec {
  return { name, shape: [inputs, outputs], layout: 'io' };
}

export const CIFAR_RESNET_DEPTHS = [20, 32, 44, 56, 110] as const;
export type CifarResnetDepth = (typeof CIFAR_RESNET_DEPTHS)[number];

export interface CifarResnetOptions {
  readonly classes?: number;
  /** Channels of the first stage (16 in He et al.; the next stages double it). */
  readonly width?: number;
}

/**
 * CIFAR ResNet-(6n+2) of He et al. (2016): a 3×3 stem, three stages of n basic blocks at
 * width w, 2w, 4w, a 1×1 convolution shortcut where the shape changes (as in open_lth and the
 * authors' code), and a linear classifier. ResNet-20 has 270,896 prunable weights.
 */
export function cifarResnet(
  depth: CifarResnetDepth,
  options: CifarResnetOptions = {},
): LayerSpec[] {
  if (!(CIFAR_RESNET_DEPTHS as readonly number[]).includes(depth)) {
    throw new InvalidArgumentError('depth', `one of ${CIFAR_RESNET_DEPTHS.join(', ')}`, depth);
  }
  const classes = options.classes ?? 10;
  const width = options.width ?? 16;
  const blocks = (depth - 2) / 6;
  const layers = [conv('conv', 3, 3, width)];
  let channels = width;
  for (let stage = 0; stage < 3; stage++) {
    const out = width * 2 ** stage;
    for (let block = 0; block < blocks; block++) {
      const prefix = `stage${stage + 1}.block${block + 1}`;
      layers.push(conv(`${prefix}.conv1`, 3, channels, out), conv(`${prefix}.conv2`, 3, out, out));
      if (channels !== out) layers.push(conv(`${prefix}.shortcut`, 1, channels, out));
      channels = out;
    }
  }
  layers.push(dense('fc', channels, classes));
  return layers;
}

export const IMAGENET_RESNET_DEPTHS = [18, 34, 50] as const;
export type ImagenetResnetDepth = (typeof IMAGENET_RESNET_DEPTHS)[number];

export interface ImagenetResnetOptions {
  readonly classes?: number;
  /**
   * `imagenet`: 7×7 stride-2 stem (then max-pooling). `cifar`: 3×3 stem for 32×32 inputs, the
   * torchvision-ResNet variant the authors' group trains on CIFAR.
   */
  readonly stem?: 'imagenet' | 'cifar';
}

/**
 * torchvision ResNet-18/34 (basic blocks) and ResNet-50 (bottlenecks, v1.5), with 1×1
 * convolution shortcuts at every shape change. ResNet-50 has 25,502,912 prunable weights
 * (25,557,032 parameters minus BatchNorm and the classifier bias).
 */
export function imagenetResnet(
  depth: ImagenetResnetDepth,
  options: ImagenetResnetOptions = {},
): LayerSpec[] {
  if (!(IMAGENET_RESNET_DEPTHS as readonly number[]).includes(depth)) {
    throw new InvalidArgumentError('depth', `one of ${IMAGENET_RESNET_DEPTHS.join(', ')}`, depth);
  }
  const stem = options.stem ?? 'imagenet';
  if (stem !== 'imagenet' && stem !== 'cifar') {
    throw new InvalidArgumentError('stem', "'imagenet' or 'cifar'", stem);
  }
  const blocks = { 18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3] }[depth];
  const bottleneck = depth === 50;
  const layers = [conv('conv', stem === 'imagenet' ? 7 : 3, 3, 64)];
  let channels = 64;
  blocks.forEach((count, stage) => {
    const width = 64 * 2 ** stage;
    const out = bottleneck ? 4 * width : width;
    for (let block = 0; block < count; block++) {
      const prefix = `stage${stage + 1}.block${block + 1}`;
      const strided = stage > 0 && block === 0;
      if (bottleneck) {
        layers.push(
          conv(`${prefix}.conv1`, 1, channels, width),
          conv(`${prefix}.conv2`, 3, width, width),
          conv(`${prefix}.conv3`, 1, width, out),
        );
      } else {
        layers.push(
          conv(`${prefix}.conv1`, 3, channels, out),
          conv(`${prefix}.conv2`, 3, out, out),
        );
      }
      if (strided || channels !== out) layers.push(conv(`${prefix}.shortcut`, 1, channels, out));
      channels = out;
    }
  });
  layers.push(dense('fc', channels, options.classes ?? 1000));
  return layers;
}
