import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { layerListArbitrary } from '../src/contracts/index.js';
import {
  Mask,
  intersectionOverUnion,
  layerOverlap,
  layerSize,
  type LayerSpec,
} from '../src/core/mask.js';

const maskOver = (layers: LayerSpec[]) =>
  fc
    .tuple(
      ...layers.map((l) =>
        fc.array(fc.boolean(), { minLength: layerSize(l), maxLength: layerSize(l) }),
      ),
    )
    .map((bits) =>
      Mask.fromArrays(
        layers,
        Object.fromEntries(layers.map((l, i) => [l.name, bits[i]!.map(Number)])),
      ),
    );

const onePair = layerListArbitrary({ maxLayerSize: 200 }).chain((layers) =>
  fc.tuple(maskOver(layers), maskOver(layers)),
);

describe('masks', () => {
  test.prop([onePair])('survive a JSON round trip bit for bit', ([mask]) => {
    const restored = Mask.fromJSON(JSON.parse(JSON.stringify(mask)));
    expect(restored.equals(mask)).toBe(true);
    expect(restored.perLayer()).toEqual(mask.perLayer());
  });
  test.prop([onePair])('count kept weights as the 0/1 arrays do', ([mask]) => {
    for (const name of mask.names()) {
      expect(mask.kept(name)).toBe(mask.toArray(name).reduce((a, b) => a + b, 0));
    }
    expect(mask.sparsity()).toBeCloseTo(1 - mask.totalKept / mask.totalSize, 12);
  });
  test.prop([onePair])('have a symmetric IoU in [0, 1], 1 with themselves', ([a, b]) => {
    const iou = intersectionOverUnion(a, b);
    expect(iou).toBe(intersectionOverUnion(b, a));
    expect(iou).toBeGreaterThanOrEqual(0);
    expect(iou).toBeLessThanOrEqual(1);
    expect(intersectionOverUnion(a, a)).toBe(1);
  });
  test.prop([onePair])('overlap per layer as element-wise AND and OR', ([a, b]) => {
    for (const overlap of layerOverlap(a, b)) {
      const x = a.toArray(overlap.name);
      const y = b.toArray(overlap.name);
      expect(overlap.intersection).toBe(x.filter((v, i) => v & y[i]!).length);
      expect(overlap.union).toBe(x.filter((v, i) => v | y[i]!).length);
    }
  });
});
