/**
 * What every scorer shares: scores are one Float32Array per prunable layer (smaller is pruned
 * first), and a scorer never chooses counts or ties — `core/prune.ts` does, in the scope the
 * caller asks for.
 */

import { InvalidArgumentError } from '../core/errors.js';
import type { Mask } from '../core/mask.js';

/** The weights of a prunable layer in a model's values (`<layer>.weight`). */
export function weightOf(values: ReadonlyMap<string, Float32Array>, layer: string): Float32Array {
  const found = values.get(`${layer}.weight`);
  if (found === undefined) throw new InvalidArgumentError('mask', `layers of this model`, layer);
  return found;
}

/** Per masked layer, `score(i)` for every weight, rounded to float32 (as a float32 engine would). */
export function scoresFor(
  mask: Mask,
  score: (layer: string) => (i: number) => number,
  sizeOf: (layer: string) => number,
): Record<string, Float32Array> {
  const scores: Record<string, Float32Array> = {};
  for (const name of mask.names()) {
    const at = score(name);
    const out = new Float32Array(sizeOf(name));
    for (let i = 0; i < out.length; i++) out[i] = at(i);
    scores[name] = out;
  }
  return scores;
}
