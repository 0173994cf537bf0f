/**
 * Conventions (core/conventions.ts) against the peers themselves: torch.nn.utils.prune run live
 * on the same layer shapes, level by level, and rigl's ERK loop written independently in Python
 * (properties/peer_counts.py).
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { CONVENTIONS } from '../src/core/conventions.js';
import { layerDensities } from '../src/core/densities.js';
import { pruningLevels } from '../src/core/density-schedule.js';
import { Mask, layerSize, type LayerSpec } from '../src/core/mask.js';
import { prune } from '../src/core/prune.js';
import { randomStream } from '../src/core/random.js';
import { TORCH_MISSING, TORCH_PYTHON } from '../src/engine/torch/torch-testing.js';

const dense = (shape: number[], name: string): LayerSpec => ({ name, shape, layout: 'io' });
const conv = (shape: number[], name: string): LayerSpec => ({ name, shape, layout: 'hwio' });

/** Layer lists with odd sizes (ties at half-integers) and the real LeNet-300-100. */
function layerLists(): LayerSpec[][] {
  const stream = randomStream(7, 'conventions/layers');
  const lists: LayerSpec[][] = [
    [dense([784, 300], 'fc1'), dense([300, 100], 'fc2'), dense([100, 10], 'fc3')],
    [conv([3, 3, 3, 16], 'c1'), conv([3, 3, 16, 32], 'c2'), dense([32, 10], 'fc')],
  ];
  for (let i = 0; i < 10; i++) {
    const count = 1 + Math.floor(stream.float() * 6);
    lists.push(
      Array.from({ length: count }, (_, l) =>
        stream.float() < 0.5
          ? dense(
              [1 + Math.floor(stream.float() * 40), 1 + Math.floor(stream.float() * 9)],
              `d${l}`,
            )
          : conv(
              [3, 3, 1 + Math.floor(stream.float() * 5), 1 + Math.floor(stream.float() * 7)],
              `c${l}`,
            ),
      ),
    );
  }
  return lists;
}

interface PeerCase {
  readonly kind: 'torch-levels' | 'torch-random' | 'rigl-erk';
  readonly [key: string]: unknown;
}

function peer(cases: readonly PeerCase[]): unknown[] {
  const script = fileURLToPath(new URL('./peer_counts.py', import.meta.url));
  const result = spawnSync(TORCH_PYTHON!, [script], {
    input: JSON.stringify({ cases }),
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  if (result.status !== 0) throw new Error(`peer_counts.py failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown[];
}

/** A weight-magnitude score for every weight (distinct, so selection is not in question). */
function scoresFor(layers: readonly LayerSpec[]): Record<string, Float32Array> {
  const stream = randomStream(11, 'conventions/scores');
  return Object.fromEntries(
    layers.map((l) => [l.name, stream.fillUniform(new Float32Array(layerSize(l))) as Float32Array]),
  );
}

describe.skipIf(TORCH_PYTHON === undefined)(
  `the peers' own counts${TORCH_PYTHON === undefined ? ` (${TORCH_MISSING})` : ''}`,
  () => {
    const lists = layerLists();
    const rates = [0.2, 0.5, 0.3, 0.1];
    const levelCases = lists.flatMap((layers, i) =>
      (['global', 'layerwise'] as const).map((scope) => ({
        layers,
        scope,
        rate: rates[i % rates.length]!,
        levels: 8,
      })),
    );

    test('conventions: torch prunes what torch.nn.utils.prune prunes, level by level', () => {
      const expected = peer(
        levelCases.map((c) => ({
          kind: 'torch-levels' as const,
          shapes: c.layers.map((l) => l.shape),
          rate: c.rate,
          levels: c.levels,
          scope: c.scope,
        })),
      ) as number[][][];
      const rules = CONVENTIONS.torch;
      levelCases.forEach((c, i) => {
        const n = c.layers.reduce((s, l) => s + layerSize(l), 0);
        const plan = pruningLevels({ rate: c.rate, levels: c.levels }, n, rules);
        const scores = scoresFor(c.layers);
        let mask = Mask.dense(c.layers);
        const got: number[][] = [];
        for (const level of plan.slice(1)) {
          mask = prune(mask, scores, { ...level.target, scope: c.scope, counting: rules.counting });
          got.push(c.layers.map((l) => mask.kept(l.name)));
        }
        const torchLevels = expected[i]!;
        if (c.scope === 'layerwise') expect(got, `case ${i}`).toEqual(torchLevels);
        else {
          // Which layer loses a weight depends on the scores; the count is the convention.
          const totals = (levels: number[][]) => levels.map((k) => k.reduce((a, b) => a + b, 0));
          expect(totals(got), `case ${i}`).toEqual(totals(torchLevels));
          expect(plan.slice(1).map((l) => l.kept)).toEqual(totals(torchLevels));
        }
      });
    });

    test('conventions: torch draws the per-layer counts of random_unstructured', () => {
      const amounts = [0.5, 0.3, 0.25, 0.75, 0.9, 0.45];
      const cases = lists.flatMap((layers) => amounts.map((amount) => ({ layers, amount })));
      const expected = peer(
        cases.map((c) => ({
          kind: 'torch-random' as const,
          shapes: c.layers.map((l) => l.shape),
          amount: c.amount,
        })),
      ) as number[][];
      cases.forEach((c, i) => {
        const counts = layerDensities(c.layers, {
          distribution: 'uniform',
          sparsity: c.amount,
          counting: CONVENTIONS.torch.counting,
          layerCounts: CONVENTIONS.torch.layerCounts,
        }).map((l) => l.kept);
        expect(counts, `case ${i}`).toEqual(expected[i]);
      });
    });

    test("conventions: rigl gives rigl's ERK counts, dense layers included", () => {
      const sparsities = [0.5, 0.8, 0.9, 0.95, 0.98];
      const cases = lists.flatMap((layers) =>
        sparsities.map((sparsity, s) => ({
          layers,
          sparsity,
          dense: s % 2 === 1 && layers.length > 1 ? [0] : [],
        })),
      );
      const feasible = cases.filter(
        (c) =>
          c.dense.reduce((k, i) => k + layerSize(c.layers[i]!), 0) <=
          (1 - c.sparsity) * c.layers.reduce((k, l) => k + layerSize(l), 0),
      );
      const expected = peer(
        feasible.map((c) => ({
          kind: 'rigl-erk' as const,
          shapes: c.layers.map((l) => l.shape),
          sparsity: c.sparsity,
          dense: c.dense,
        })),
      ) as number[][];
      feasible.forEach((c, i) => {
        const counts = layerDensities(c.layers, {
          distribution: 'erk',
          sparsity: c.sparsity,
          denseLayers: c.dense.map((d) => c.layers[d]!.name),
          counting: CONVENTIONS.rigl.counting,
          layerCounts: CONVENTIONS.rigl.layerCounts,
        }).map((l) => l.kept);
        expect(counts, `case ${i}`).toEqual(expected[i]);
      });
      expect(feasible.length).toBeGreaterThan(40);
    });
  },
);
