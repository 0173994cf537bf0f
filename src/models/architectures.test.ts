import { describe, expect, test } from 'vitest';
import { layerSize, validateLayers } from '../core/mask.js';
import { cifarResnet, imagenetResnet } from './architectures.js';

const weights = (layers: ReturnType<typeof cifarResnet>) =>
  layers.reduce((s, l) => s + layerSize(l), 0);

describe('prunable layer lists', () => {
  test('ResNet-20 (CIFAR): 19 convs, 2 shortcuts, a classifier, 270,896 weights', () => {
    const layers = cifarResnet(20);
    expect(layers).toHaveLength(22);
    expect(weights(layers)).toBe(270_896);
    expect(layers[0]).toEqual({ name: 'conv', shape: [3, 3, 3, 16], layout: 'hwio' });
    expect(layers.at(-1)).toEqual({ name: 'fc', shape: [64, 10], layout: 'io' });
    expect(layers.filter((l) => l.name.endsWith('shortcut')).map((l) => l.shape)).toEqual([
      [1, 1, 16, 32],
      [1, 1, 32, 64],
    ]);
  });
  // Published parameter counts minus what is never masked (BatchNorm γ/β and classifier bias).
  test('torchvision ResNet-50: 25,557,032 parameters − 53,120 BatchNorm − 1,000 bias', () => {
    expect(weights(imagenetResnet(50))).toBe(25_557_032 - 53_120 - 1_000);
  });
  test('torchvision ResNet-18: 11,689,512 parameters − 9,600 BatchNorm − 1,000 bias', () => {
    expect(weights(imagenetResnet(18))).toBe(11_689_512 - 9_600 - 1_000);
    const cifar = imagenetResnet(18, { stem: 'cifar', classes: 10 });
    expect(cifar[0]!.shape).toEqual([3, 3, 3, 64]);
    expect(cifar.at(-1)!.shape).toEqual([512, 10]);
  });
  test('every list is a valid layer list', () => {
    for (const layers of [
      cifarResnet(56, { classes: 100 }),
      cifarResnet(110),
      imagenetResnet(34),
    ]) {
      expect(() => validateLayers(layers)).not.toThrow();
    }
  });
  test('rejects unknown depths and stems', () => {
    expect(() => cifarResnet(18 as never)).toThrow(
      /^depth: expected one of 20, 32, 44, 56, 110, got 18/,
    );
    expect(() => imagenetResnet(101 as never)).toThrow(/^depth: expected one of 18, 34, 50/);
    expect(() => imagenetResnet(50, { stem: 'tiny' as never })).toThrow(/^stem:/);
  });
});
