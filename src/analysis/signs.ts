/**
 * Sign flips between two networks: among the weights both masks keep, how many have opposite
 * signs, per layer and overall. Zero has no sign: a kept weight that is exactly 0 in either
 * network is counted as compared but never as flipped (it happens only by chance in float32).
 */

import { InvalidArgumentError } from '../core/errors.js';
import { layerSize, type Mask } from '../core/mask.js';

export interface LayerSignFlips {
  readonly layer: string;
  /** Weights kept in both masks. */
  readonly compared: number;
  readonly flipped: number;
  readonly fraction: number;
}

export interface SignFlips {
  readonly compared: number;
  readonly flipped: number;
  /** flipped / compared; 0 when nothing is kept in both. */
  readonly fraction: number;
  readonly layers: readonly LayerSignFlips[];
}

/** `weightsOf(layer)` gives the layer's weights in the mask's flat order (row-major). */
export function signFlips(
  maskA: Mask,
  weightsA: (layer: string) => Float32Array,
  maskB: Mask,
  weightsB: (layer: string) => Float32Array,
): SignFlips {
  if (!maskA.sameLayersAs(maskB))
    throw new InvalidArgumentError(
      'masks',
      'two masks over the same layers',
      `${maskA.names().join(',')} vs ${maskB.names().join(',')}`,
    );
  const layers = maskA.layers.map((spec) => {
    const a = weightsA(spec.name);
    const b = weightsB(spec.name);
    const size = layerSize(spec);
    if (a.length !== size || b.length !== size)
      throw new InvalidArgumentError(
        `weights.${spec.name}`,
        `${size} values`,
        `${a.length} and ${b.length}`,
      );
    let compared = 0;
    let flipped = 0;
    for (let i = 0; i < size; i++) {
      if (!maskA.isKept(spec.name, i) || !maskB.isKept(spec.name, i)) continue;
      compared++;
      if ((a[i]! > 0 && b[i]! < 0) || (a[i]! < 0 && b[i]! > 0)) flipped++;
    }
    return {
      layer: spec.name,
      compared,
      flipped,
      fraction: compared === 0 ? 0 : flipped / compared,
    };
  });
  const compared = layers.reduce((n, l) => n + l.compared, 0);
  const flipped = layers.reduce((n, l) => n + l.flipped, 0);
  return { compared, flipped, fraction: compared === 0 ? 0 : flipped / compared, layers };
}
