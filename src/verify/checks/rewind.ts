/**
 * `rewind`: level k ≥ 1 starts from reference ⊙ mask_k, the reference being the rewind weights
 * (IMP, WR) or the previous level's end weights (LRR, SCULPT). For other methods the first level
 * that can tell decides which, and every later level must follow it.
 */

import type { LayerSpec } from '../../core/mask.js';
import type { Masks, TensorFile, Tensors } from '../artifact.js';
import type { Manifest } from '../manifest.js';
import { offenceAt, type Check } from './check.js';

type RewindSource = 'rewind' | 'previous';
const REWINDS_TO: Partial<Record<Manifest['method'], RewindSource>> = {
  imp: 'rewind',
  wr: 'rewind',
  lrr: 'previous',
  sculpt: 'previous',
};
const REWIND_TEXT: Record<RewindSource, string> = {
  rewind: 'the rewind weights',
  previous: "the previous level's end weights",
};

export const rewind: Check<'rewind'> = {
  id: 'rewind',
  title: 'each level starts from its rewind weights ⊙ its mask',
  needs: ({ method }) =>
    REWINDS_TO[method] === 'previous'
      ? "needs start weights and the previous level's end weights"
      : REWINDS_TO[method] === 'rewind'
        ? 'needs start weights per level and rewind weights'
        : 'needs start weights per level, and rewind weights or end weights',
  start(artifact, tally) {
    const { layers, manifest } = artifact;
    // The method's own source, or none: then the first level that can tell sets it.
    const implied = REWINDS_TO[manifest.method];
    let source = implied;
    return {
      visit({ index, masks, start, before }) {
        if (start === undefined || index === 0) return;
        const references: Record<RewindSource, TensorFile | undefined> = {
          rewind: artifact.rewind,
          previous: before.weights,
        };
        const candidates = (source ? [source] : (['rewind', 'previous'] as const)).filter(
          (s) => references[s] !== undefined,
        );
        if (candidates.length === 0) return;
        tally.checked++;
        const mismatches = candidates.map((s) => ({
          source: s,
          mismatch: rewindMismatch(
            layers,
            masks,
            start.tensors,
            references[s]!.tensors,
            manifest.tolerance,
          ),
        }));
        const match = mismatches.find((m) => m.mismatch === undefined);
        if (match !== undefined) {
          source = match.source;
          return;
        }
        const [first, second] = mismatches;
        const m = first!.mismatch!;
        tally.fail(
          `level ${index}: ${m.layer}[${m.index}] starts at ${m.actual}, ${REWIND_TEXT[first!.source]} ⊙ mask is ${m.expected}` +
            (second ? ` (nor does it match ${REWIND_TEXT[second.source]} ⊙ mask)` : ''),
          offenceAt(index, start.file, m),
        );
      },
      passDetail: () =>
        [
          `${tally.checked} level(s)${source === undefined ? '' : ` from ${REWIND_TEXT[source]}`}`,
          ...(implied === undefined && source !== undefined
            ? [`inferred: levels start from ${REWIND_TEXT[source]}`]
            : []),
        ].join('; '),
    };
  },
};

/** The first weight where start ≠ reference ⊙ mask (beyond `tolerance`). */
function rewindMismatch(
  layers: readonly LayerSpec[],
  masks: Masks,
  start: Tensors,
  reference: Tensors,
  tolerance: number,
): { layer: string; index: number; actual: number; expected: number } | undefined {
  for (const layer of layers) {
    const s = start.get(layer.name)!.values;
    const r = reference.get(layer.name)!.values;
    const m = masks[layer.name]!;
    for (let i = 0; i < m.length; i++) {
      const expected = m[i] === 1 ? r[i]! : 0;
      if (Math.abs(s[i]! - expected) > tolerance)
        return { layer: layer.name, index: i, actual: s[i]!, expected };
    }
  }
  return undefined;
}
