/**
 * Mask overlap and per-layer sparsity: how much two masks agree, overall and layer by layer.
 * The counting is the core's (`layerOverlap`); this module only shapes it into a report.
 */

import { intersectionOverUnion, layerOverlap, type Mask } from '../core/mask.js';

export interface LayerOverlapRow {
  readonly layer: string;
  readonly size: number;
  readonly keptA: number;
  readonly keptB: number;
  readonly sparsityA: number;
  readonly sparsityB: number;
  readonly intersection: number;
  readonly union: number;
  /** |A ∩ B| / |A ∪ B|, 1 when both keep nothing. */
  readonly iou: number;
}

export interface MaskOverlap {
  readonly iou: number;
  readonly intersection: number;
  readonly union: number;
  readonly sparsityA: number;
  readonly sparsityB: number;
  readonly layers: readonly LayerOverlapRow[];
}

export function maskOverlap(a: Mask, b: Mask): MaskOverlap {
  const layers = layerOverlap(a, b).map((o) => ({
    layer: o.name,
    size: a.size(o.name),
    keptA: a.kept(o.name),
    keptB: b.kept(o.name),
    sparsityA: a.layerSparsity(o.name),
    sparsityB: b.layerSparsity(o.name),
    intersection: o.intersection,
    union: o.union,
    iou: o.iou,
  }));
  return {
    iou: intersectionOverUnion(a, b),
    intersection: layers.reduce((n, l) => n + l.intersection, 0),
    union: layers.reduce((n, l) => n + l.union, 0),
    sparsityA: a.sparsity(),
    sparsityB: b.sparsity(),
    layers,
  };
}
