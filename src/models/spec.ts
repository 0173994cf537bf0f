/**
 * Models as data. A model is a list of nodes (conv, batch norm, relu, pooling, flatten, dense,
 * residual); its parameters, BatchNorm buffers, output shapes and prunable layers all follow from
 * that list, without TF.js. The engine interprets the same list to build the forward pass, so the
 * parameter names, shapes and the order masks use are defined once, here.
 *
 * Conventions (PyTorch's, so that counts and padding match the reference models): explicit
 * symmetric padding, NHWC tensors with `hwio` kernels and `io` dense weights, BatchNorm with a
 * weight (gamma) and a bias (beta) per channel and running mean and variance buffers.
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { LayerSpec } from '../core/mask.js';

export type Node =
  | {
      readonly op: 'conv';
      readonly name: string;
      readonly kernel: number;
      readonly in: number;
      readonly out: number;
      readonly stride: number;
      /** Zeros added on every side (PyTorch's `padding`). */
      readonly padding: number;
      readonly bias: boolean;
    }
  | { readonly op: 'bn'; readonly name: string; readonly channels: number }
  | { readonly op: 'relu' }
  | {
      readonly op: 'maxpool' | 'avgpool';
      readonly size: number;
      readonly stride: number;
      readonly padding: number;
    }
  | { readonly op: 'global-avgpool' }
  | { readonly op: 'flatten' }
  | {
      readonly op: 'dense';
      readonly name: string;
      readonly in: number;
      readonly out: number;
      readonly bias: boolean;
    }
  /** `body(x) + shortcut(x)`; an empty shortcut is the identity. */
  | { readonly op: 'residual'; readonly body: readonly Node[]; readonly shortcut: readonly Node[] };

export interface ModelSpec {
  readonly name: string;
  /** Input image shape [height, width, channels]. */
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly nodes: readonly Node[];
}

export type ParamRole = 'weight' | 'bias' | 'bn-gamma' | 'bn-beta';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: ParamRole;
  /** Inputs feeding one output unit (Kaiming fan_in); weights and biases only. */
  readonly fanIn?: number;
  /** Set on conv weights inside a residual shortcut. */
  readonly shortcut?: boolean;
}

export interface BufferSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: 'bn-mean' | 'bn-variance';
}

/** Walks every node in forward order, residual bodies before their shortcuts. */
export function forEachNode(
  nodes: readonly Node[],
  visit: (node: Node, inShortcut: boolean) => void,
  inShortcut = false,
): void {
  for (const node of nodes) {
    visit(node, inShortcut);
    if (node.op === 'residual') {
      forEachNode(node.body, visit, inShortcut);
      forEachNode(node.shortcut, visit, true);
    }
  }
}

const WEIGHT_SUFFIX = '.weight';

/** The parameter holding a layer's weight (the one a mask covers): `<layer>.weight`. */
export function weightName(layer: string): string {
  return `${layer}${WEIGHT_SUFFIX}`;
}

/** The layer whose weight a parameter is (`conv1.weight` → `conv1`); undefined for any other. */
export function layerOfWeight(parameter: string): string | undefined {
  return parameter.endsWith(WEIGHT_SUFFIX) ? parameter.slice(0, -WEIGHT_SUFFIX.length) : undefined;
}

/** Trainable parameters in forward order: `<layer>.weight`, `<layer>.bias`, `<bn>.gamma`, … */
export function parameters(spec: ModelSpec): ParamSpec[] {
  const params: ParamSpec[] = [];
  forEachNode(spec.nodes, (node, inShortcut) => {
    switch (node.op) {
      case 'conv': {
        const fanIn = node.kernel * node.kernel * node.in;
        params.push({
          name: weightName(node.name),
          shape: [node.kernel, node.kernel, node.in, node.out],
          role: 'weight',
          fanIn,
          ...(inShortcut ? { shortcut: true } : {}),
        });
        if (node.bias)
          params.push({ name: `${node.name}.bias`, shape: [node.out], role: 'bias', fanIn });
        break;
      }
      case 'dense':
        params.push({
          name: weightName(node.name),
          shape: [node.in, node.out],
          role: 'weight',
          fanIn: node.in,
        });
        if (node.bias)
          params.push({
            name: `${node.name}.bias`,
            shape: [node.out],
            role: 'bias',
            fanIn: node.in,
          });
        break;
      case 'bn':
        params.push(
          { name: `${node.name}.gamma`, shape: [node.channels], role: 'bn-gamma' },
          { name: `${node.name}.beta`, shape: [node.channels], role: 'bn-beta' },
        );
        break;
      default:
        break;
    }
  });
  return params;
}

/** BatchNorm running statistics, not trained and never masked. */
export function buffers(spec: ModelSpec): BufferSpec[] {
  const out: BufferSpec[] = [];
  forEachNode(spec.nodes, (node) => {
    if (node.op === 'bn') {
      out.push(
        { name: `${node.name}.mean`, shape: [node.channels], role: 'bn-mean' },
        { name: `${node.name}.variance`, shape: [node.channels], role: 'bn-variance' },
      );
    }
  });
  return out;
}

export function parameterCount(spec: ModelSpec): number {
  return parameters(spec).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

export interface PrunableOptions {
  /** Mask the first conv/dense weight (default true, as the authors' code does). */
  readonly first?: boolean;
  /** Mask the classifier (default true). */
  readonly last?: boolean;
  /** Mask 1×1 shortcut convolutions (default true; the authors' 2024 code left them dense). */
  readonly shortcuts?: boolean;
}

/**
 * The masked layers: every conv and dense weight, less those the options leave dense. A layer is
 * named after its module (`stage1.block1.conv1`), its weight is `<name>.weight`.
 */
export function prunableLayers(spec: ModelSpec, options: PrunableOptions = {}): LayerSpec[] {
  const weights = parameters(spec).filter((p) => p.role === 'weight');
  return weights
    .filter((p, i) => {
      if (options.first === false && i === 0) return false;
      if (options.last === false && i === weights.length - 1) return false;
      if (options.shortcuts === false && p.shortcut === true) return false;
      return true;
    })
    .map((p) => ({
      name: layerOfWeight(p.name)!,
      shape: [...p.shape],
      layout: p.shape.length === 4 ? ('hwio' as const) : ('io' as const),
    }));
}

function pooled(size: number, window: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - window) / stride) + 1;
}

/**
 * Output shape of `nodes` on an input of `shape` ([h, w, c] before flatten, [features] after),
 * checking that every layer's declared input width matches what reaches it.
 */
export function inferShape(
  nodes: readonly Node[],
  shape: readonly number[],
  path = 'nodes',
  /** Called for every node with the shape it receives and the shape it produces. */
  visit?: (node: Node, input: readonly number[], output: readonly number[]) => void,
): number[] {
  let current = [...shape];
  nodes.forEach((node, i) => {
    const input = current;
    const at = `${path}[${i}]`;
    const spatial = () => {
      if (current.length !== 3) {
        throw new InvalidArgumentError(at, `a ${node.op} on an image-shaped input`, current);
      }
      return current as [number, number, number];
    };
    switch (node.op) {
      case 'conv': {
        const [h, w, c] = spatial();
        if (c !== node.in)
          throw new InvalidArgumentError(`${at}.in`, `${c} input channels`, node.in);
        current = [
          pooled(h, node.kernel, node.stride, node.padding),
          pooled(w, node.kernel, node.stride, node.padding),
          node.out,
        ];
        break;
      }
      case 'bn':
        if (current.at(-1) !== node.channels) {
          throw new InvalidArgumentError(
            `${at}.channels`,
            `${current.at(-1)} channels`,
            node.channels,
          );
        }
        break;
      case 'relu':
        break;
      case 'maxpool':
      case 'avgpool': {
        const [h, w, c] = spatial();
        current = [
          pooled(h, node.size, node.stride, node.padding),
          pooled(w, node.size, node.stride, node.padding),
          c,
        ];
        break;
      }
      case 'global-avgpool':
        current = [spatial()[2]];
        break;
      case 'flatten':
        current = [current.reduce((a, b) => a * b, 1)];
        break;
      case 'dense':
        if (current.length !== 1 || current[0] !== node.in) {
          throw new InvalidArgumentError(`${at}.in`, `${current.join('×')} features`, node.in);
        }
        current = [node.out];
        break;
      case 'residual': {
        const body = inferShape(node.body, current, `${at}.body`, visit);
        const shortcut = inferShape(node.shortcut, current, `${at}.shortcut`, visit);
        if (body.join() !== shortcut.join()) {
          throw new InvalidArgumentError(
            at,
            `body and shortcut of the same shape`,
            `${body.join('×')} vs ${shortcut.join('×')}`,
          );
        }
        current = body;
        break;
      }
    }
    if (current.some((d) => !(d >= 1))) {
      throw new InvalidArgumentError(at, 'an input large enough for this layer', shape);
    }
    visit?.(node, input, current);
  });
  return current;
}

/**
 * Multiply-accumulates of one image's forward pass in each conv and dense layer, by layer name
 * (conv: output positions × k² × c_in × c_out; dense: in × out). Other operations (BatchNorm,
 * ReLU, pooling, additions) are left out, as in the usual sparse-training cost accounting
 * (RigL's): they are a small share and do not change with sparsity.
 */
export function layerMacs(spec: ModelSpec): Map<string, number> {
  const macs = new Map<string, number>();
  inferShape(spec.nodes, spec.input, 'nodes', (node, _input, output) => {
    if (node.op === 'conv')
      macs.set(node.name, output[0]! * output[1]! * node.kernel * node.kernel * node.in * node.out);
    if (node.op === 'dense') macs.set(node.name, node.in * node.out);
  });
  return macs;
}
