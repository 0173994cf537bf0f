/**
 * Small models for properties: MLPs, conv nets with or without BatchNorm, and residual blocks
 * with identity or projection shortcuts, on tiny inputs, so that each case trains in
 * milliseconds.
 */

import { fc } from '@fast-check/vitest';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import {
  inferShape,
  parameters,
  prunableLayers,
  type ModelSpec,
  type Node,
} from '../src/models/spec.js';
import { conv as zooConv } from '../src/models/zoo.js';
import type { ReferenceMlp } from './reference-mlp.js';

export const smallModel = fc
  .record({
    family: fc.constantFrom('mlp', 'conv', 'residual'),
    size: fc.integer({ min: 4, max: 7 }),
    channels: fc.integer({ min: 1, max: 3 }),
    width: fc.integer({ min: 2, max: 5 }),
    widen: fc.integer({ min: 0, max: 2 }),
    classes: fc.integer({ min: 2, max: 4 }),
    stride: fc.constantFrom(1, 2),
    kernel: fc.constantFrom(1, 3),
    batchNorm: fc.boolean(),
    projection: fc.boolean(),
  })
  .map((m): ModelSpec => {
    const conv = (name: string, kernel: number, cin: number, cout: number, stride = 1): Node =>
      zooConv(name, kernel, cin, cout, stride, (kernel - 1) / 2, !m.batchNorm);
    const norm = (name: string, channels: number): Node[] =>
      m.batchNorm ? [{ op: 'bn', name, channels }] : [];
    const input = [m.size, m.size, m.channels] as const;
    let nodes: Node[];
    if (m.family === 'mlp') {
      nodes = [
        { op: 'flatten' },
        { op: 'dense', name: 'fc1', in: m.size * m.size * m.channels, out: m.width, bias: true },
        { op: 'relu' },
      ];
      nodes.push({ op: 'dense', name: 'fc2', in: m.width, out: m.classes, bias: true });
    } else if (m.family === 'conv') {
      const features: Node[] = [
        conv('conv', m.kernel, m.channels, m.width, m.stride),
        ...norm('bn', m.width),
        { op: 'relu' },
        { op: 'maxpool', size: 2, stride: 2, padding: 0 },
        { op: 'flatten' },
      ];
      nodes = [
        ...features,
        {
          op: 'dense',
          name: 'fc',
          in: inferShape(features, input)[0]!,
          out: m.classes,
          bias: true,
        },
      ];
    } else {
      const out = m.width + m.widen;
      const projection = m.projection || m.stride !== 1 || out !== m.width;
      nodes = [
        conv('stem', 3, m.channels, m.width),
        ...norm('stem_bn', m.width),
        { op: 'relu' },
        {
          op: 'residual',
          body: [
            conv('block.conv1', 3, m.width, out, m.stride),
            ...norm('block.bn1', out),
            { op: 'relu' },
            conv('block.conv2', 3, out, out),
            ...norm('block.bn2', out),
          ],
          shortcut: projection
            ? [conv('block.shortcut', 1, m.width, out, m.stride), ...norm('block.shortcut_bn', out)]
            : [],
        },
        { op: 'relu' },
        { op: 'global-avgpool' },
        { op: 'dense', name: 'fc', in: out, out: m.classes, bias: true },
      ];
    }
    return { name: `small-${m.family}`, input, classes: m.classes, nodes };
  });

/** A ReLU MLP spec and its weights as a float64 reference. */
export const mlpCase = fc.record({
  inputs: fc.integer({ min: 2, max: 12 }),
  hidden: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }),
  classes: fc.integer({ min: 2, max: 4 }),
  bias: fc.boolean(),
  seed: fc.integer({ min: 0, max: 500 }),
});

export function mlpSpec(c: {
  inputs: number;
  hidden: number[];
  classes: number;
  bias: boolean;
}): ModelSpec {
  const widths = [c.inputs, ...c.hidden, c.classes];
  const nodes: Node[] = [{ op: 'flatten' }];
  widths.slice(1).forEach((out, l) => {
    nodes.push({ op: 'dense', name: `fc${l + 1}`, in: widths[l]!, out, bias: c.bias });
    if (l < widths.length - 2) nodes.push({ op: 'relu' });
  });
  return { name: 'mlp', input: [1, 1, c.inputs], classes: c.classes, nodes };
}

/** The float64 reference of an MLP with `values` (a model's parameters, EngineModel.read()). */
export function reference(
  spec: ModelSpec,
  values: ReadonlyMap<string, Float32Array>,
): ReferenceMlp {
  const dense = parameters(spec).filter((p) => p.role === 'weight');
  return {
    weights: dense.map((p) => Float64Array.from(values.get(p.name)!)),
    biases: dense.map((p) => {
      const bias = values.get(p.name.replace('.weight', '.bias'));
      return bias === undefined ? null : Float64Array.from(bias);
    }),
    sizes: [dense[0]!.shape[0]!, ...dense.map((p) => p.shape[1]!)],
  };
}

/** A mask keeping each prunable weight of `spec` with probability `density` (seeded). */
export function bernoulliMask(spec: ModelSpec, seed: number, density: number): Mask {
  const stream = randomStream(seed, 'maskSampling');
  const layers = prunableLayers(spec);
  return Mask.fromArrays(
    layers,
    Object.fromEntries(
      layers.map((l) => [
        l.name,
        Array.from({ length: l.shape.reduce((a, b) => a * b, 1) }, () =>
          stream.float() < density ? 1 : 0,
        ),
      ]),
    ),
  );
}
