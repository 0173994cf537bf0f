import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { Mask, channels, intersectionOverUnion, layerOverlap, validateLayers } from './mask.js';

const layers = [
  { name: 'conv', shape: [3, 3, 1, 2] },
  { name: 'fc', shape: [2, 3] },
];
const mask = Mask.fromArrays(layers, {
  conv: [1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1],
  fc: [0, 0, 1, 0, 0, 0],
});

describe('Mask', () => {
  test('counts kept weights and sparsity per layer and overall', () => {
    expect(mask.perLayer()).toEqual([
      { name: 'conv', size: 18, kept: 14, sparsity: 1 - 14 / 18 },
      { name: 'fc', size: 6, kept: 1, sparsity: 1 - 1 / 6 },
    ]);
    expect(mask.totalKept).toBe(15);
    expect(mask.totalSize).toBe(24);
    expect(mask.sparsity()).toBeCloseTo(9 / 24, 15);
    expect(mask.isKept('fc', 2)).toBe(true);
    expect(mask.isKept('conv', 1)).toBe(false);
  });
  test('stores one bit per weight and round-trips through JSON', () => {
    const json = mask.toJSON();
    expect(json.layers[1]).toEqual({ name: 'fc', shape: [2, 3], kept: 1, bits: 'BA==' });
    expect(Mask.fromJSON(JSON.parse(JSON.stringify(json))).equals(mask)).toBe(true);
  });
  test('rejects stored masks whose counts or bits are inconsistent', () => {
    const json = mask.toJSON();
    const withLayer = (patch: object) => ({
      ...json,
      layers: [json.layers[0], { ...json.layers[1], ...patch }],
    });
    expect(() => Mask.fromJSON(withLayer({ kept: 2 }))).toThrow(
      /^mask\.layers\.1\.kept: expected the number of set bits \(1\)/,
    );
    expect(() => Mask.fromJSON(withLayer({ bits: 'QA==' }))).toThrow(
      /^mask\.layers\.1\.bits: expected no bits past the layer size/,
    );
    expect(() => Mask.fromJSON(withLayer({ bits: 'BAAA' }))).toThrow(
      /expected 1 bytes for 6 weights/,
    );
    expect(() => Mask.fromJSON({ ...json, version: 2 })).toThrow(/^mask\.version/);
    expect(() => Mask.fromJSON({ ...json, layers: [json.layers[0], json.layers[0]] })).toThrow(
      /unique layer name/,
    );
  });
  test('fromArrays names the layer and index of a bad value', () => {
    expect(() =>
      Mask.fromArrays(layers, { conv: new Array<number>(18).fill(1), fc: [1, 1, 2, 1, 1, 1] }),
    ).toThrow(/^mask\.fc\[2\]: expected 0 or 1, got 2/);
    expect(() => Mask.fromArrays(layers, { conv: [1], fc: [] })).toThrow(
      /^mask\.conv: expected 18 values/,
    );
    expect(() =>
      Mask.fromArrays(layers, {
        conv: new Array<number>(18).fill(1),
        fc: new Array<number>(6).fill(1),
        bias: [1],
      }),
    ).toThrow(/bias/);
  });
  test('dense masks keep everything; subsets and equality compare bits', () => {
    const dense = Mask.dense(layers);
    expect(dense.sparsity()).toBe(0);
    expect(mask.isSubsetOf(dense)).toBe(true);
    expect(dense.isSubsetOf(mask)).toBe(false);
    expect(dense.equals(Mask.dense(layers))).toBe(true);
  });
  test('intersection over union per layer and overall', () => {
    const other = Mask.fromArrays(layers, {
      conv: new Array<number>(18).fill(1),
      fc: [0, 1, 1, 0, 0, 0],
    });
    expect(layerOverlap(mask, other)).toEqual([
      { name: 'conv', intersection: 14, union: 18, iou: 14 / 18 },
      { name: 'fc', intersection: 1, union: 2, iou: 0.5 },
    ]);
    expect(intersectionOverUnion(mask, other)).toBe(15 / 20);
    const empty = Mask.fromArrays([{ name: 'a', shape: [2] }], { a: [0, 0] });
    expect(intersectionOverUnion(empty, empty)).toBe(1);
    expect(() => intersectionOverUnion(mask, empty)).toThrow(
      /^masks: expected two masks over the same layers/,
    );
  });
});

describe('layer lists', () => {
  test.each([
    [[], /^layers: expected a non-empty list of layers/],
    [[{ name: '', shape: [1] }], /^layers\[0\]\.name: expected a non-empty string/],
    [
      [{ name: 'a', shape: [2, 0] }],
      /^layers\[0\]\.shape: expected a non-empty list of positive integers/,
    ],
    [
      [
        { name: 'a', shape: [1] },
        { name: 'a', shape: [1] },
      ],
      /^layers\[1\]\.name: expected a unique layer name/,
    ],
    [
      [{ name: 'a', shape: [2, 2, 2], layout: 'io' }],
      /^layers\[0\]\.layout: expected a layout matching a 3-D shape/,
    ],
  ])('rejects %j', (bad, message) => {
    expect(() => validateLayers(bad as never)).toThrow(InvalidArgumentError);
    expect(() => validateLayers(bad as never)).toThrow(message);
  });
  test('reads channels by layout (TF.js hwio/io by default, PyTorch oihw/oi on request)', () => {
    expect(channels({ name: 'c', shape: [3, 3, 16, 32] })).toEqual({ in: 16, out: 32 });
    expect(channels({ name: 'c', shape: [32, 16, 3, 3], layout: 'oihw' })).toEqual({
      in: 16,
      out: 32,
    });
    expect(channels({ name: 'f', shape: [10, 64], layout: 'oi' })).toEqual({ in: 64, out: 10 });
    expect(channels({ name: 'v', shape: [7] })).toBeUndefined();
  });
});
