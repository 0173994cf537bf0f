/**
 * Analyses inside a pipeline: an `onCycleEnd` hook that compares each cycle's network with the
 * previous cycle's (kept in memory) while the run trains — the barrier between them, sign flips
 * and the mask overlap, and optionally the sharpness. It reads the model, never changes it.
 * For stored runs, `cycleSeries` (stored.ts) gives the same numbers after the fact.
 */

import type { Mask } from '../core/mask.js';
import type { Normalization } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import type { CycleEndEvent } from '../methods/runner.js';
import { weightName } from '../models/spec.js';
import { sharpness, type Sharpness, type SharpnessOptions } from './hessian.js';
import { linearModeConnectivity, type Lmc, type LmcOptions } from './lmc.js';
import { maskOverlap, type MaskOverlap } from './overlap.js';
import { signFlips, type SignFlips } from './signs.js';

export interface CycleComparison {
  readonly cycle: number;
  readonly phase: string;
  /** Null for the first cycle (nothing to compare with). */
  readonly previous: {
    readonly cycle: number;
    readonly lmc: Lmc;
    readonly signs: SignFlips;
    readonly overlap: MaskOverlap;
  } | null;
  readonly sharpness: Sharpness | null;
}

export function compareWithPreviousCycle(options: {
  readonly data: { train: Dataset; test: Dataset; normalization: Normalization };
  readonly lmc?: Partial<LmcOptions>;
  /** Also the sharpness at every cycle end (costs ~2 gradients of the subset per iteration). */
  readonly sharpness?: Partial<SharpnessOptions> | false;
  readonly onResult: (comparison: CycleComparison) => void;
}): (event: CycleEndEvent) => Promise<void> {
  let previous: { cycle: number; values: Map<string, Float32Array>; mask: Mask } | undefined;
  return async (event) => {
    const values = await event.model.read();
    const comparison: CycleComparison = {
      cycle: event.cycle,
      phase: event.phase,
      previous:
        previous === undefined
          ? null
          : {
              cycle: previous.cycle,
              lmc: await linearModeConnectivity(
                event.model.engine,
                event.model.spec,
                { values },
                { values: previous.values },
                options.data,
                options.lmc,
              ),
              signs: signFlips(
                event.mask,
                (layer) => values.get(weightName(layer))!,
                previous.mask,
                (layer) => previous!.values.get(weightName(layer))!,
              ),
              overlap: maskOverlap(event.mask, previous.mask),
            },
      sharpness:
        options.sharpness === undefined || options.sharpness === false
          ? null
          : await sharpness(event.model, event.mask, options.data, options.sharpness),
    };
    previous = { cycle: event.cycle, values, mask: event.mask };
    options.onResult(comparison);
  };
}
