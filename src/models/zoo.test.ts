import { describe, expect, test } from 'vitest';
import { layerSize, validateLayers } from '../core/mask.js';
import {
  buffers,
  inferShape,
  layerMacs,
  parameterCount,
  parameters,
  prunableLayers,
} from './spec.js';
import { MODEL_NAMES, modelSpec } from './zoo.js';

const weights = (layers: ReturnType<typeof prunableLayers>) =>
  layers.reduce((s, l) => s + layerSize(l), 0);

describe('model zoo: parameter counts equal the reference implementations', () => {
  test.each([
    ['lenet-300-100', {}, 266_610],
    ['lenet-5', {}, 61_706],
    ['conv-2', {}, 4_301_642],
    ['conv-4', {}, 2_425_930],
    ['conv-6', {}, 2_262_602],
    ['vgg-16', {}, 14_728_266],
    ['resnet-20', {}, 272_474],
    ['resnet-56', {}, 855_770],
    ['resnet-18', {}, 11_173_962],
    ['resnet-18', { stem: 'imagenet' }, 11_689_512],
    ['resnet-50', { stem: 'imagenet' }, 25_557_032],
    ['resnet-50', {}, 23_520_842],
  ] as const)('%s %j has %d parameters', (name, options, count) => {
    expect(parameterCount(modelSpec(name, options))).toBe(count);
  });
  test('CIFAR-100 changes only the classifier', () => {
    expect(parameterCount(modelSpec('resnet-20', { classes: 100 }))).toBe(272_474 + 90 * 64 + 90);
  });
});

describe('prunable layers', () => {
  test('ResNet-20: 19 convs, 2 shortcuts and the classifier, 270,896 weights', () => {
    const layers = prunableLayers(modelSpec('resnet-20'));
    expect(layers).toHaveLength(22);
    expect(weights(layers)).toBe(270_896);
    expect(layers[0]).toEqual({ name: 'conv', shape: [3, 3, 3, 16], layout: 'hwio' });
    expect(layers.at(-1)).toEqual({ name: 'fc', shape: [64, 10], layout: 'io' });
  });
  test('ResNet-50 masks 25,502,912 weights: parameters less BatchNorm and the classifier bias', () => {
    expect(weights(prunableLayers(modelSpec('resnet-50', { stem: 'imagenet' })))).toBe(
      25_557_032 - 53_120 - 1_000,
    );
  });
  test('first, last and shortcut layers can be left dense', () => {
    const spec = modelSpec('resnet-20');
    const all = prunableLayers(spec).map((l) => l.name);
    expect(prunableLayers(spec, { first: false }).map((l) => l.name)).toEqual(all.slice(1));
    expect(prunableLayers(spec, { last: false }).map((l) => l.name)).toEqual(all.slice(0, -1));
    expect(prunableLayers(spec, { shortcuts: false }).map((l) => l.name)).toEqual(
      all.filter((n) => !n.endsWith('shortcut')),
    );
  });
  test.each(MODEL_NAMES)(
    '%s has a valid layer list, BatchNorm buffers per BN layer and the right output',
    (name) => {
      const spec = modelSpec(name);
      expect(() => validateLayers(prunableLayers(spec))).not.toThrow();
      expect(buffers(spec)).toHaveLength(
        parameters(spec).filter((p) => p.role === 'bn-gamma').length * 2,
      );
      expect(inferShape(spec.nodes, spec.input)).toEqual([spec.classes]);
    },
  );
});

describe('layerMacs', () => {
  test('ResNet-20: 40.8M multiply-accumulates per image, layer by layer', () => {
    const macs = layerMacs(modelSpec('resnet-20'));
    const conv3 = (size: number, cin: number, cout: number) => size * size * 9 * cin * cout;
    expect(macs.get('conv')).toBe(conv3(32, 3, 16));
    expect(macs.get('stage2.block1.shortcut')).toBe(16 * 16 * 16 * 32);
    expect(macs.get('fc')).toBe(640);
    const total =
      conv3(32, 3, 16) +
      6 * conv3(32, 16, 16) +
      conv3(16, 16, 32) +
      5 * conv3(16, 32, 32) +
      16 * 16 * 16 * 32 +
      conv3(8, 32, 64) +
      5 * conv3(8, 64, 64) +
      8 * 8 * 32 * 64 +
      640;
    expect([...macs.values()].reduce((a, b) => a + b)).toBe(total);
    expect(total).toBe(40_813_184);
  });
  test('ResNet-50 (ImageNet) needs the well-known 4.09 G multiply-accumulates', () => {
    const total = [...layerMacs(modelSpec('resnet-50', { stem: 'imagenet' })).values()].reduce(
      (a, b) => a + b,
    );
    expect(total / 1e9).toBeCloseTo(4.09, 2);
  });
});

describe('model options', () => {
  test('the input shape feeds through to the first dense layer', () => {
    expect(parameters(modelSpec('lenet-300-100', { input: [32, 32, 3] }))[0]!.shape).toEqual([
      3072, 300,
    ]);
    expect(parameters(modelSpec('conv-2', { input: [28, 28, 1] }))[0]!.shape).toEqual([
      3, 3, 1, 64,
    ]);
  });
  test('rejects unknown models, stems on models without one, and inputs too small', () => {
    expect(() => modelSpec('resnet-101' as never)).toThrow(
      /^model: expected one of lenet-300-100, lenet-5/,
    );
    expect(() => modelSpec('vgg-16', { stem: 'imagenet' })).toThrow(
      /^stem: expected no stem option/,
    );
    expect(() => modelSpec('vgg-16', { input: [8, 8, 3] })).toThrow(
      /expected an input large enough for this layer/,
    );
    expect(() => modelSpec('resnet-20', { classes: 1 })).toThrow(
      /^classes: expected an integer >= 2/,
    );
  });
});
