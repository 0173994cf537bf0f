/**
 * A train phase's epoch records → one record per cycle (final and best of each metric, sparsity,
 * cost) and the running cost. Pure arithmetic, tested without an engine.
 */

import type { Mask } from '../core/mask.js';
import type { ModelSpec } from '../models/spec.js';
import { trainingFlops } from './cost.js';
import type { CycleRecord, EpochRecord, PipelineResult, Summary } from './types.js';

export type Cost = PipelineResult['cost'];

export const NO_COST: Cost = Object.freeze({ epochs: 0, steps: 0, flopsDense: 0, flopsSparse: 0 });

/** Final value and best (highest or lowest) over a cycle's epochs. */
export function summarise(values: readonly number[], better: 'higher' | 'lower'): Summary {
  return {
    final: values.at(-1)!,
    best: better === 'higher' ? Math.max(...values) : Math.min(...values),
  };
}

/** The cycles of one train phase, in order, under the mask it trained with. */
export function summariseCycles(
  records: readonly EpochRecord[],
  phase: { readonly label: string; readonly level: number },
  mask: Mask,
  model: { readonly spec: ModelSpec; readonly trainImages: number },
): CycleRecord[] {
  const byCycle = new Map<number, EpochRecord[]>();
  for (const record of records)
    byCycle.set(record.metrics.cycle, [...(byCycle.get(record.metrics.cycle) ?? []), record]);
  return [...byCycle].map(([cycle, epochs]) => {
    const flops = trainingFlops(model.spec, mask, epochs.length * model.trainImages);
    const over = (value: (record: EpochRecord) => number, better: 'higher' | 'lower') =>
      summarise(epochs.map(value), better);
    return {
      phase: phase.label,
      level: phase.level,
      cycle,
      epochs: epochs.length,
      steps: epochs.reduce((n, r) => n + r.metrics.steps, 0),
      sparsity: mask.sparsity(),
      layers: mask.perLayer(),
      trainLoss: over((r) => r.metrics.trainLoss, 'lower'),
      trainAccuracy: over((r) => r.metrics.trainAccuracy, 'higher'),
      testLoss: over((r) => r.test.loss, 'lower'),
      testAccuracy: over((r) => r.test.accuracy, 'higher'),
      flopsDense: flops.dense,
      flopsSparse: flops.sparse,
    };
  });
}

/** `cost` plus what `cycles` trained. */
export function addCost(cost: Cost, cycles: readonly CycleRecord[]): Cost {
  return cycles.reduce(
    (sum, c) => ({
      epochs: sum.epochs + c.epochs,
      steps: sum.steps + c.steps,
      flopsDense: sum.flopsDense + c.flopsDense,
      flopsSparse: sum.flopsSparse + c.flopsSparse,
    }),
    cost,
  );
}
