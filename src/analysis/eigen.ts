/**
 * Top eigenvalues of a symmetric operator known only through products `v ↦ Hv` (a Hessian),
 * which is never formed (266,000 weights make a 70-billion-entry matrix):
 * - `lanczos` (default): Lanczos with full reorthogonalisation; the k algebraically largest Ritz
 *   values, converged when each one's residual bound |β·s_last| ≤ tolerance·|θ|. Robust when
 *   the spectrum has eigenvalues of both signs and similar size (a Hessian at initialisation),
 *   where power iteration oscillates. Memory: one float64 vector per iteration. Like every
 *   single-vector Krylov method it sees one copy of a repeated eigenvalue (a second copy is
 *   orthogonal to everything the start vector reaches).
 * - `power`: power iteration with deflation; the k largest in magnitude, converged on the
 *   Rayleigh quotient's relative change. Constant memory, for very large models.
 * Float64 throughout; convergence is reported, never assumed. The small tridiagonal
 * eigenproblem goes to a library (ml-matrix); the iterations over implicit operators are ours.
 */

import { InvalidArgumentError, requireInteger } from '../core/errors.js';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { RandomStream } from '../core/random.js';

export interface EigenOptions {
  /** How many eigenvalues (largest magnitude first). */
  readonly k: number;
  readonly maxIterations: number;
  /** Converged when |λ_t − λ_{t−1}| ≤ tolerance · |λ_t|. */
  readonly tolerance: number;
  /** Start vectors are drawn from it (so results replay). */
  readonly stream: RandomStream;
}

export interface Eigenpair {
  readonly value: number;
  readonly vector: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
  /** Power: |λ_t − λ_{t−1}| / |λ_t| at the last iteration; Lanczos: |β·s_last| / |θ|. */
  readonly residual: number;
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

function orthogonalize(v: Float64Array, basis: readonly Float64Array[]): void {
  for (const u of basis) {
    const projection = dot(u, v);
    for (let i = 0; i < v.length; i++) v[i]! -= projection * u[i]!;
  }
}

function normalize(v: Float64Array): number {
  const norm = Math.sqrt(dot(v, v));
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return norm;
}

export async function powerIteration(
  multiply: (v: Float64Array) => Float64Array | Promise<Float64Array>,
  dimension: number,
  options: EigenOptions,
): Promise<Eigenpair[]> {
  requireInteger('dimension', dimension, 1);
  requireInteger('k', options.k, 1, dimension);
  requireInteger('maxIterations', options.maxIterations, 1);
  if (!(options.tolerance > 0))
    throw new InvalidArgumentError('tolerance', 'a positive number', options.tolerance);
  const found: Eigenpair[] = [];
  for (let j = 0; j < options.k; j++) {
    const basis = found.map((p) => p.vector);
    let v: Float64Array = new Float64Array(dimension);
    for (let i = 0; i < dimension; i++) v[i] = options.stream.normal();
    orthogonalize(v, basis);
    normalize(v);
    let value = 0;
    let relativeChange = Infinity;
    let iterations = 0;
    let converged = false;
    while (iterations < options.maxIterations) {
      iterations++;
      const w = await multiply(v);
      if (w.length !== dimension)
        throw new InvalidArgumentError('multiply(v)', `${dimension} values`, w.length);
      orthogonalize(w, basis); // deflation: the operator on the complement of what was found
      const next = dot(v, w); // Rayleigh quotient (v has unit norm)
      relativeChange =
        iterations === 1 ? Infinity : Math.abs(next - value) / Math.max(Math.abs(next), 1e-300);
      value = next;
      const norm = normalize(w);
      if (norm === 0) {
        // v is in the null space of what is left: its eigenvalue is 0, exactly.
        converged = true;
        relativeChange = 0;
        break;
      }
      v = w;
      if (relativeChange <= options.tolerance) {
        converged = true;
        break;
      }
    }
    found.push({ value, vector: v, iterations, converged, residual: relativeChange });
  }
  return found;
}

function requireOptions(dimension: number, options: EigenOptions): void {
  requireInteger('dimension', dimension, 1);
  requireInteger('k', options.k, 1, dimension);
  requireInteger('maxIterations', options.maxIterations, 1);
  if (!(options.tolerance > 0))
    throw new InvalidArgumentError('tolerance', 'a positive number', options.tolerance);
}

export async function lanczos(
  multiply: (v: Float64Array) => Float64Array | Promise<Float64Array>,
  dimension: number,
  options: EigenOptions,
): Promise<Eigenpair[]> {
  requireOptions(dimension, options);
  const basis: Float64Array[] = [];
  const alphas: number[] = [];
  const betas: number[] = [];
  let q: Float64Array = new Float64Array(dimension);
  for (let i = 0; i < dimension; i++) q[i] = options.stream.normal();
  normalize(q);
  const steps = Math.min(options.maxIterations, dimension);
  let ritz: { values: number[]; vectors: number[][]; beta: number } | undefined;
  for (let j = 0; j < steps; j++) {
    basis.push(q);
    const w = await multiply(q);
    if (w.length !== dimension)
      throw new InvalidArgumentError('multiply(v)', `${dimension} values`, w.length);
    alphas.push(dot(q, w));
    // Full reorthogonalisation, twice: finite-difference products are not exactly symmetric.
    orthogonalize(w, basis);
    orthogonalize(w, basis);
    const beta = normalize(w);
    const size = j + 1;
    const t = Matrix.zeros(size, size);
    for (let i = 0; i < size; i++) {
      t.set(i, i, alphas[i]!);
      if (i + 1 < size) {
        t.set(i, i + 1, betas[i]!);
        t.set(i + 1, i, betas[i]!);
      }
    }
    const decomposition = new EigenvalueDecomposition(t, { assumeSymmetric: true });
    ritz = {
      values: decomposition.realEigenvalues,
      vectors: decomposition.eigenvectorMatrix.transpose().to2DArray(),
      beta,
    };
    betas.push(beta);
    const top = topIndices(ritz.values, options.k);
    const done =
      size >= options.k &&
      top.every(
        (i) =>
          Math.abs(beta * ritz!.vectors[i]![size - 1]!) <=
          options.tolerance * Math.max(Math.abs(ritz!.values[i]!), 1e-300),
      );
    if (j + 1 === steps) break;
    if (beta < 1e-14) {
      // The start vector spans an invariant subspace. With fewer than k values found, go on in
      // its complement from a fresh vector (T becomes block-diagonal: β = 0 between blocks).
      if (size >= options.k) break;
      betas[j] = 0;
      q = new Float64Array(dimension);
      for (let i = 0; i < dimension; i++) q[i] = options.stream.normal();
      orthogonalize(q, basis);
      orthogonalize(q, basis);
      normalize(q);
      continue;
    }
    if (done) break;
    q = w;
  }
  const size = basis.length;
  const { values, vectors, beta } = ritz!;
  return topIndices(values, Math.min(options.k, size)).map((i) => {
    const s = vectors[i]!;
    const vector = new Float64Array(dimension);
    basis.forEach((b, m) => {
      for (let x = 0; x < dimension; x++) vector[x]! += s[m]! * b[x]!;
    });
    const residual = Math.abs(beta * s[size - 1]!) / Math.max(Math.abs(values[i]!), 1e-300);
    return {
      value: values[i]!,
      vector,
      iterations: size,
      converged: residual <= options.tolerance || beta < 1e-14,
      residual,
    };
  });
}

/** Indices of the k largest values, largest first. */
function topIndices(values: readonly number[], k: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, k)
    .map(([, i]) => i);
}
