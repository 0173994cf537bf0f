/** Text tables of the analyses, for the CLI. */

import { table } from '../text/format.js';
import type { Sharpness } from './hessian.js';
import type { Lmc } from './lmc.js';
import type { MaskOverlap } from './overlap.js';
import type { SignFlips } from './signs.js';
import type { CycleSeries } from './stored.js';

const pct = (v: number) => (100 * v).toFixed(2);
const num = (v: number) => v.toPrecision(4);

export function lmcTable(lmc: Lmc, a: string, b: string): string {
  const rows = lmc.curve.map((p) => [
    p.alpha.toFixed(3),
    num(p.train.loss),
    pct(p.train.error),
    num(p.test.loss),
    pct(p.test.error),
  ]);
  const { train, test } = lmc.barrier;
  return [
    `θ(α) = α·${a} + (1 − α)·${b}; BatchNorm ${lmc.hasBatchNorm ? lmc.options.batchNorm : 'absent'}`,
    table([['α', 'train loss', 'train error %', 'test loss', 'test error %'], ...rows]),
    `barrier: train error ${pct(train.error)} pts (at α = ${train.at}), train loss ${num(train.loss)}; ` +
      `test error ${pct(test.error)} pts (at α = ${test.at}), test loss ${num(test.loss)}`,
  ].join('\n');
}

export function signsTable(flips: SignFlips): string {
  const rows = flips.layers.map((l) => [
    l.layer,
    String(l.compared),
    String(l.flipped),
    pct(l.fraction),
  ]);
  return [
    table([['layer', 'kept in both', 'flipped', 'flipped %'], ...rows]),
    `overall: ${flips.flipped} of ${flips.compared} weights kept in both flipped sign (${pct(flips.fraction)}%)`,
  ].join('\n');
}

export function overlapTable(overlap: MaskOverlap): string {
  const rows = overlap.layers.map((l) => [
    l.layer,
    String(l.size),
    pct(l.sparsityA),
    pct(l.sparsityB),
    String(l.intersection),
    String(l.union),
    l.iou.toFixed(4),
  ]);
  return [
    table([['layer', 'weights', 'sparsity A %', 'sparsity B %', 'A ∩ B', 'A ∪ B', 'IoU'], ...rows]),
    `overall: IoU ${overlap.iou.toFixed(4)} (sparsity A ${pct(overlap.sparsityA)}%, B ${pct(overlap.sparsityB)}%)`,
  ].join('\n');
}

export function sharpnessTable(ref: string, result: Sharpness): string {
  const rows = result.eigenvalues.map((e, i) => [
    String(i + 1),
    num(e.value),
    String(e.iterations),
    e.converged ? 'yes' : 'NO',
    e.residual.toExponential(1),
  ]);
  return [
    `${ref}: training loss ${num(result.loss)} on ${result.options.samples} images, ${result.dimension} free parameters`,
    table([['k', 'eigenvalue', 'iterations', 'converged', 'residual'], ...rows]),
    `(${result.method})`,
  ].join('\n');
}

export function cycleTable(series: CycleSeries): string {
  const rows = series.cycles.map((c) => {
    const pair = series.pairs.find((p) => p.to === c.cycle);
    return [
      String(c.cycle),
      num(c.sharpness),
      pair ? `${pair.from}→${pair.to}` : '',
      pair ? pct(pair.testErrorBarrier) : '',
      pair ? pct(pair.trainErrorBarrier) : '',
      pair ? pct(pair.signFlipFraction) : '',
    ];
  });
  if (rows.length === 0)
    return `${series.id}: no cycle networks stored (trained before they were kept)`;
  return table([
    [
      'cycle',
      'top eigenvalue',
      'vs previous',
      'test error barrier (pts)',
      'train error barrier (pts)',
      'sign flips %',
    ],
    ...rows,
  ]);
}
