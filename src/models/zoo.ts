/**
 * The models of the paper and its baselines, as {@link ModelSpec}s. Each follows a reference
 * implementation so that parameter counts equal the standard ones (tested):
 * - LeNet-300-100, LeNet-5 and Conv-2/4/6 as in the lottery-ticket papers (biases, no BatchNorm);
 * - VGG-16 with BatchNorm as open_lth's `cifar_vgg_16` (conv bias, 2×2 average pool, one
 *   classifier layer): 14,728,266 parameters;
 * - CIFAR ResNet-20/32/56 (He et al.; 1×1 convolution + BatchNorm shortcuts as in open_lth and
 *   the authors' code): ResNet-20 has 272,474 parameters;
 * - torchvision ResNet-18/50 (ResNet-50 v1.5: stride on the 3×3 conv), with the ImageNet stem
 *   (7×7/2 conv and 3×3/2 max-pooling) or the CIFAR stem (3×3/1 conv, no pooling):
 *   ResNet-18 CIFAR-stem 11,173,962, ResNet-50 ImageNet 25,557,032.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import { inferShape, type ModelSpec, type Node } from './spec.js';

export interface ModelOptions {
  readonly classes?: number;
  /** Input [height, width, channels]; the default is the data set the model is made for. */
  readonly input?: readonly [number, number, number];
  /** ResNet-18/50 only: `cifar` (default) or `imagenet`. */
  readonly stem?: 'cifar' | 'imagenet';
}

/** A conv node with PyTorch's conventions: 'same'-size padding for odd kernels, no bias. */
export const conv = (
  name: string,
  kernel: number,
  cin: number,
  cout: number,
  stride = 1,
  padding = (kernel - 1) / 2,
  bias = false,
): Node => ({
  op: 'conv',
  name,
  kernel,
  in: cin,
  out: cout,
  stride,
  padding,
  bias,
});
const bn = (name: string, channels: number): Node => ({ op: 'bn', name, channels });
const relu: Node = { op: 'relu' };
const dense = (name: string, cin: number, cout: number): Node => ({
  op: 'dense',
  name,
  in: cin,
  out: cout,
  bias: true,
});
const maxpool = (size: number, stride: number, padding = 0): Node => ({
  op: 'maxpool',
  size,
  stride,
  padding,
});

function mlp(
  input: readonly number[],
  widths: readonly number[],
  classes: number,
  prefix = 'fc',
): Node[] {
  const nodes: Node[] = [];
  let features = input.reduce((a, b) => a * b, 1);
  [...widths, classes].forEach((width, i, all) => {
    nodes.push(dense(`${prefix}${i + 1}`, features, width));
    if (i < all.length - 1) nodes.push(relu);
    features = width;
  });
  return nodes;
}

/** Convolutions with `M` for 2×2 max-pooling; then `tail` decides the classifier. */
function convStack(
  plan: readonly (number | 'M')[],
  channels: number,
  batchNorm: boolean,
  bias: boolean,
): Node[] {
  const nodes: Node[] = [];
  let index = 0;
  for (const step of plan) {
    if (step === 'M') {
      nodes.push(maxpool(2, 2));
      continue;
    }
    index++;
    nodes.push(conv(`conv${index}`, 3, channels, step, 1, 1, bias));
    if (batchNorm) nodes.push(bn(`bn${index}`, step));
    nodes.push(relu);
    channels = step;
  }
  return nodes;
}

function basicBlock(prefix: string, cin: number, cout: number, stride: number): Node[] {
  const projection = stride !== 1 || cin !== cout;
  return [
    {
      op: 'residual',
      body: [
        conv(`${prefix}.conv1`, 3, cin, cout, stride),
        bn(`${prefix}.bn1`, cout),
        relu,
        conv(`${prefix}.conv2`, 3, cout, cout),
        bn(`${prefix}.bn2`, cout),
      ],
      shortcut: projection
        ? [conv(`${prefix}.shortcut`, 1, cin, cout, stride, 0), bn(`${prefix}.shortcut_bn`, cout)]
        : [],
    },
    relu,
  ];
}

function bottleneck(prefix: string, cin: number, width: number, stride: number): Node[] {
  const cout = 4 * width;
  const projection = stride !== 1 || cin !== cout;
  return [
    {
      op: 'residual',
      body: [
        conv(`${prefix}.conv1`, 1, cin, width, 1, 0),
        bn(`${prefix}.bn1`, width),
        relu,
        conv(`${prefix}.conv2`, 3, width, width, stride),
        bn(`${prefix}.bn2`, width),
        relu,
        conv(`${prefix}.conv3`, 1, width, cout, 1, 0),
        bn(`${prefix}.bn3`, cout),
      ],
      shortcut: projection
        ? [conv(`${prefix}.shortcut`, 1, cin, cout, stride, 0), bn(`${prefix}.shortcut_bn`, cout)]
        : [],
    },
    relu,
  ];
}

function cifarResnetNodes(depth: number, channels: number, classes: number): Node[] {
  const blocks = (depth - 2) / 6;
  const nodes: Node[] = [conv('conv', 3, channels, 16), bn('bn', 16), relu];
  let cin = 16;
  [16, 32, 64].forEach((width, stage) => {
    for (let block = 0; block < blocks; block++) {
      nodes.push(
        ...basicBlock(
          `stage${stage + 1}.block${block + 1}`,
          cin,
          width,
          stage > 0 && block === 0 ? 2 : 1,
        ),
      );
      cin = width;
    }
  });
  nodes.push({ op: 'global-avgpool' }, dense('fc', cin, classes));
  return nodes;
}

function torchvisionResnetNodes(
  depth: 18 | 50,
  stem: 'cifar' | 'imagenet',
  channels: number,
  classes: number,
): Node[] {
  const nodes: Node[] =
    stem === 'imagenet'
      ? [conv('conv', 7, channels, 64, 2, 3), bn('bn', 64), relu, maxpool(3, 2, 1)]
      : [conv('conv', 3, channels, 64), bn('bn', 64), relu];
  const counts = depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
  let cin = 64;
  counts.forEach((count, stage) => {
    const width = 64 * 2 ** stage;
    for (let block = 0; block < count; block++) {
      const prefix = `stage${stage + 1}.block${block + 1}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      nodes.push(
        ...(depth === 18
          ? basicBlock(prefix, cin, width, stride)
          : bottleneck(prefix, cin, width, stride)),
      );
      cin = depth === 18 ? width : 4 * width;
    }
  });
  nodes.push({ op: 'global-avgpool' }, dense('fc', cin, classes));
  return nodes;
}

const MNIST_INPUT = [28, 28, 1] as const;
const CIFAR_INPUT = [32, 32, 3] as const;
const IMAGENET_INPUT = [224, 224, 3] as const;

type Input = readonly [number, number, number];

/** A model of the zoo: its nodes for an input shape and class count. */
export interface ModelDefinition {
  /** The images it is made for when the configuration gives no input shape. */
  readonly madeFor: 'mnist' | 'cifar';
  /** Whether it takes a stem (`cifar` or `imagenet`): torchvision's ResNets. */
  readonly stems?: boolean;
  readonly nodes: (input: Input, classes: number, stem: 'cifar' | 'imagenet') => Node[];
}

const convNet =
  (plan: readonly (number | 'M')[]): ModelDefinition['nodes'] =>
  (input, classes) => {
    const features = [...convStack(plan, input[2], false, true), { op: 'flatten' } as const];
    return [...features, ...mlp(inferShape(features, input), [256, 256], classes)];
  };

const VGG_16: readonly (number | 'M')[] = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
];

/** Every model by name: a new model is one entry (its nodes written with the helpers above). */
const MODELS = {
  'lenet-300-100': {
    madeFor: 'mnist',
    nodes: (input, classes) => [{ op: 'flatten' }, ...mlp(input, [300, 100], classes)],
  },
  'lenet-5': {
    madeFor: 'mnist',
    nodes: (input, classes) => {
      const features = [
        conv('conv1', 5, input[2], 6, 1, 2, true),
        relu,
        maxpool(2, 2),
        conv('conv2', 5, 6, 16, 1, 0, true),
        relu,
        maxpool(2, 2),
        { op: 'flatten' } as const,
      ];
      return [...features, ...mlp(inferShape(features, input), [120, 84], classes)];
    },
  },
  'conv-2': { madeFor: 'cifar', nodes: convNet([64, 64, 'M']) },
  'conv-4': { madeFor: 'cifar', nodes: convNet([64, 64, 'M', 128, 128, 'M']) },
  'conv-6': { madeFor: 'cifar', nodes: convNet([64, 64, 'M', 128, 128, 'M', 256, 256, 'M']) },
  'vgg-16': {
    madeFor: 'cifar',
    nodes: (input, classes) => {
      const features = [
        ...convStack(VGG_16, input[2], true, true),
        { op: 'avgpool', size: 2, stride: 2, padding: 0 } as const,
        { op: 'flatten' } as const,
      ];
      return [...features, dense('fc', inferShape(features, input)[0]!, classes)];
    },
  },
  'resnet-20': {
    madeFor: 'cifar',
    nodes: (input, classes) => cifarResnetNodes(20, input[2], classes),
  },
  'resnet-32': {
    madeFor: 'cifar',
    nodes: (input, classes) => cifarResnetNodes(32, input[2], classes),
  },
  'resnet-56': {
    madeFor: 'cifar',
    nodes: (input, classes) => cifarResnetNodes(56, input[2], classes),
  },
  'resnet-18': {
    madeFor: 'cifar',
    stems: true,
    nodes: (input, classes, stem) => torchvisionResnetNodes(18, stem, input[2], classes),
  },
  'resnet-50': {
    madeFor: 'cifar',
    stems: true,
    nodes: (input, classes, stem) => torchvisionResnetNodes(50, stem, input[2], classes),
  },
} as const satisfies Record<string, ModelDefinition>;

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS) as [ModelName, ...ModelName[]];

/** The models that take a stem option. */
export const MODELS_WITH_STEMS = MODEL_NAMES.filter(
  (name) => (MODELS[name] as ModelDefinition).stems === true,
);

/** The model `name` as data. */
export function modelSpec(name: ModelName, options: ModelOptions = {}): ModelSpec {
  if (!(MODEL_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError('model', `one of ${MODEL_NAMES.join(', ')}`, name);
  }
  const definition: ModelDefinition = MODELS[name];
  const stem = options.stem ?? 'cifar';
  if (stem !== 'cifar' && stem !== 'imagenet') {
    throw new InvalidArgumentError('stem', "'cifar' or 'imagenet'", stem);
  }
  if (options.stem !== undefined && definition.stems !== true) {
    throw new InvalidArgumentError(
      'stem',
      `no stem option: only ${MODELS_WITH_STEMS.join(' and ')} take one`,
      options.stem,
    );
  }
  const imagenet = stem === 'imagenet';
  const input =
    options.input ??
    (definition.madeFor === 'mnist' ? MNIST_INPUT : imagenet ? IMAGENET_INPUT : CIFAR_INPUT);
  const given: unknown = input;
  if (!Array.isArray(given) || given.length !== 3) {
    throw new InvalidArgumentError('input', '[height, width, channels]', input);
  }
  input.forEach((d, i) => requireInteger(`input[${i}]`, d, 1));
  const classes = requireInteger('classes', options.classes ?? (imagenet ? 1000 : 10), 2);
  const nodes = definition.nodes(input, classes, stem);
  const spec: ModelSpec = {
    name: imagenet ? `${name}-imagenet` : name,
    input: [input[0], input[1], input[2]],
    classes,
    nodes,
  };
  inferShape(nodes, input); // throws, naming the layer, if the input is too small or widths disagree
  return spec;
}
