/**
 * Small models for properties: MLPs, conv nets with or without BatchNorm, and residual blocks
 * with identity or projection shortcuts, on tiny inputs, so that each case trains in
 * milliseconds.
 */

import { fc } from '@fast-check/vitest';
import { inferShape, type ModelSpec, type Node } from '../src/models/spec.js';
import { conv as zooConv } from '../src/models/zoo.js';

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
