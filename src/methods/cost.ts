/**
 * Training cost in FLOPs, as sparse-training papers count it (RigL's accounting): a forward pass
 * costs 2 FLOPs per multiply-accumulate of the conv and dense layers, the backward pass twice the
 * forward, so one training image costs 3 × 2 × MACs. Dense-equivalent counts every weight;
 * sparse-effective counts each layer's MACs times its density (what a sparse kernel would do).
 */

import type { Mask } from '../core/mask.js';
import { layerMacs, type ModelSpec } from '../models/spec.js';

export interface TrainingFlops {
  readonly dense: number;
  readonly sparse: number;
}

/** FLOPs of training on `images` images with `mask` (layers not in the mask are dense). */
export function trainingFlops(spec: ModelSpec, mask: Mask, images: number): TrainingFlops {
  let dense = 0;
  let sparse = 0;
  for (const [layer, macs] of layerMacs(spec)) {
    const density = mask.has(layer) ? mask.kept(layer) / mask.size(layer) : 1;
    dense += macs;
    sparse += macs * density;
  }
  return { dense: 6 * dense * images, sparse: 6 * sparse * images };
}
