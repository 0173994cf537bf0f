/**
 * Why magnitude pruning couples a mask to its weights (METHODS.md claim 6): it changes the
 * function least. Checked in float64 on random matrices and ReLU MLPs, with masks from the
 * core's `prune`:
 * - a linear layer moves by at most ‖W ⊙ (1 − M)‖₂ ‖x‖;
 * - an MLP's output moves by at most Σ_l (Π_{j>l} ‖W̃_j‖₂) ‖ΔW_l‖₂ (Π_{j<l} ‖W_j‖₂) ‖x‖;
 * - among all masks that prune the same number of weights, magnitude's perturbation
 *   ‖W ⊙ (1 − M)‖_F is the smallest.
 */

import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { Mask } from '../src/core/mask.js';
import { prune } from '../src/core/prune.js';
import { prunedCount } from '../src/core/selection.js';

type Matrix = { rows: number; cols: number; values: Float64Array };

// Float32-exact values: the pruner ranks float32 scores, so weights must be float32 to compare.
const matrix = (rows: number, cols: number) =>
  fc
    .array(fc.double({ min: -2, max: 2, noNaN: true }), {
      minLength: rows * cols,
      maxLength: rows * cols,
    })
    .map((v) => ({ rows, cols, values: Float64Array.from(v, Math.fround) }));

function apply(m: Matrix, x: Float64Array): Float64Array {
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++)
    for (let c = 0; c < m.cols; c++) out[r]! += m.values[r * m.cols + c]! * x[c]!;
  return out;
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/**
 * ‖M‖₂ = √λ_max(MᵀM), with the eigenvalues from cyclic Jacobi rotations: exact to rounding even
 * when the top singular values nearly coincide (where power iteration converges too slowly).
 */
function spectralNorm(m: Matrix): number {
  const n = m.cols;
  const a = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      let sum = 0;
      for (let r = 0; r < m.rows; r++) sum += m.values[r * n + i]! * m.values[r * n + j]!;
      return sum;
    }),
  );
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p]![q] === 0) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * a[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const kp = a[k]![p]!;
          const kq = a[k]![q]!;
          a[k]![p] = c * kp - s * kq;
          a[k]![q] = s * kp + c * kq;
        }
        for (let k = 0; k < n; k++) {
          const pk = a[p]![k]!;
          const qk = a[q]![k]!;
          a[p]![k] = c * pk - s * qk;
          a[q]![k] = s * pk + c * qk;
        }
      }
    }
  }
  return Math.sqrt(Math.max(0, ...a.map((row, i) => row[i]!)));
}

/** The magnitude-pruned copy of W at `sparsity` (global over one layer), through the core. */
function magnitudePruned(m: Matrix, sparsity: number): { kept: Uint8Array; pruned: Matrix } {
  const layers = [{ name: 'w', shape: [m.rows, m.cols] }];
  const mask = prune(
    Mask.dense(layers),
    { w: Float32Array.from(m.values, Math.abs) },
    { sparsity, scope: 'global' },
  );
  const kept = mask.toArray('w');
  return { kept, pruned: { ...m, values: m.values.map((v, i) => (kept[i] ? v : 0)) } };
}

const difference = (a: Matrix, b: Matrix): Matrix => ({
  ...a,
  values: a.values.map((v, i) => v - b.values[i]!),
});
const sparsity = fc.double({ min: 0, max: 0.95, noNaN: true });

describe('magnitude pruning preserves the function', () => {
  test.prop([
    fc
      .integer({ min: 1, max: 8 })
      .chain((r) =>
        fc
          .integer({ min: 1, max: 8 })
          .chain((c) =>
            fc.tuple(
              matrix(r, c),
              fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: c, maxLength: c }),
            ),
          ),
      ),
    sparsity,
  ])('a linear layer moves by at most ‖W ⊙ (1 − M)‖₂ ‖x‖', ([w, x], s) => {
    const input = Float64Array.from(x);
    const { pruned } = magnitudePruned(w, s);
    const moved = norm(apply(difference(w, pruned), input));
    expect(moved).toBeLessThanOrEqual(
      spectralNorm(difference(w, pruned)) * norm(input) * (1 + 1e-9) + 1e-12,
    );
  });

  test.prop([
    fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 3, maxLength: 5 }).chain((widths) =>
      fc.tuple(
        fc.constant(widths),
        fc.tuple(...widths.slice(1).map((out, l) => matrix(out, widths[l]!))),
        fc.array(fc.double({ min: -2, max: 2, noNaN: true }), {
          minLength: widths[0]!,
          maxLength: widths[0]!,
        }),
      ),
    ),
    sparsity,
  ])(
    'a ReLU MLP’s output moves by at most the telescoping product of operator norms',
    ([, layers, x], s) => {
      const input = Float64Array.from(x);
      const run = (ws: readonly Matrix[]): Float64Array => {
        let a: Float64Array = input;
        ws.forEach((w, l) => {
          a = l < ws.length - 1 ? apply(w, a).map((v) => Math.max(0, v)) : apply(w, a);
        });
        return a;
      };
      const pruned = layers.map((w) => magnitudePruned(w, s).pruned);
      const moved = norm(run(layers).map((v, i) => v - run(pruned)[i]!));
      const bound = layers.reduce((sum, w, l) => {
        const after = pruned.slice(l + 1).reduce((p, m) => p * spectralNorm(m), 1);
        const before = layers.slice(0, l).reduce((p, m) => p * spectralNorm(m), 1);
        return sum + after * spectralNorm(difference(w, pruned[l]!)) * before;
      }, 0);
      expect(moved).toBeLessThanOrEqual(bound * norm(input) * (1 + 1e-9) + 1e-12);
    },
  );

  test.prop([
    fc
      .integer({ min: 1, max: 10 })
      .chain((n) => fc.tuple(matrix(1, n), fc.array(fc.boolean(), { minLength: n, maxLength: n }))),
    sparsity,
  ])(
    'among masks pruning as many weights, magnitude’s ‖W ⊙ (1 − M)‖_F is the smallest',
    ([w, choice], s) => {
      const k = prunedCount(s, w.values.length);
      const { pruned } = magnitudePruned(w, s);
      // Another mask with the same count: the first k weights chosen by `choice`, topped up in order.
      const other = new Uint8Array(w.values.length).fill(1);
      let left = k;
      choice.forEach((take, i) => {
        if (take && left > 0) {
          other[i] = 0;
          left--;
        }
      });
      for (let i = 0; left > 0; i++) {
        if (other[i] === 1) {
          other[i] = 0;
          left--;
        }
      }
      const magnitude = norm(difference(w, pruned).values);
      const alternative = norm(w.values.map((v, i) => (other[i] ? 0 : v)));
      expect(magnitude).toBeLessThanOrEqual(alternative * (1 + 1e-12) + 1e-300);
    },
  );
});
