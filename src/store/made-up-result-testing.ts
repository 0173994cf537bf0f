/**
 * Test helper (excluded from the build by its name): made-up but well-formed run results, as the
 * store keeps them, for tests of verdicts, reports and the CLI that must not train. Each test
 * says only what it varies — a cycle's accuracy and sparsity — and gets the rest filled in.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../config/schema.js';
import type { PipelineResult } from '../methods/types.js';

export interface MadeUpCycle {
  /** Best test accuracy of the cycle. */
  readonly best: number;
  /** Final test accuracy (default: best − 0.001). */
  readonly final?: number;
  readonly sparsity: number;
  /** Default 'p'. */
  readonly phase?: string;
  /** Default: the cycle's index. */
  readonly level?: number;
  /** Default 0. */
  readonly cycle?: number;
  /** Default 1e12. */
  readonly flopsDense?: number;
  /** Default 2e11. */
  readonly flopsSparse?: number;
}

/**
 * A completed result of 4-epoch, 160-step cycles on the wasm backend. Its cost is the cycles'
 * sums unless given.
 */
export function madeUpResult(
  config: RunConfig,
  cycles: readonly MadeUpCycle[],
  options: { levels?: PipelineResult['levels']; cost?: PipelineResult['cost'] } = {},
): PipelineResult {
  const records = cycles.map((c, i) => ({
    phase: c.phase ?? 'p',
    level: c.level ?? i,
    cycle: c.cycle ?? 0,
    epochs: 4,
    steps: 160,
    sparsity: c.sparsity,
    layers: [],
    trainLoss: { final: 0.1, best: 0.1 },
    trainAccuracy: { final: 0.99, best: 0.99 },
    testLoss: { final: 0.2, best: 0.2 },
    testAccuracy: { final: c.final ?? c.best - 0.001, best: c.best },
    flopsDense: c.flopsDense ?? 1e12,
    flopsSparse: c.flopsSparse ?? 2e11,
  }));
  const sum = (of: (r: (typeof records)[number]) => number) =>
    records.reduce((s, r) => s + of(r), 0);
  return {
    method: config.method.name,
    options: {},
    setup: {
      model: 'lenet-300-100',
      train: [],
      test: [],
      batchSize: 128,
      schedule: { peak: 0.05, shape: { kind: 'constant' }, granularity: 'epoch' },
      sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
      seed: config.seed,
      prunable: {},
    },
    backend: { name: 'wasm', tfjsVersion: '4.22.0', threads: 1, simd: true, provider: null },
    status: 'completed',
    cycles: records,
    levels: options.levels ?? [],
    cost: options.cost ?? {
      epochs: sum((r) => r.epochs),
      steps: sum((r) => r.steps),
      flopsDense: sum((r) => r.flopsDense),
      flopsSparse: sum((r) => r.flopsSparse),
    },
  };
}

/** Writes `resultOf(config)` as result.json of every run, into a store directory. */
export function writeMadeUpStore(
  storeDir: string,
  runs: ReadonlyMap<string, RunConfig>,
  resultOf: (config: RunConfig) => unknown,
): void {
  for (const [id, config] of runs) {
    mkdirSync(join(storeDir, id), { recursive: true });
    writeFileSync(join(storeDir, id, 'result.json'), JSON.stringify(resultOf(config)));
  }
}
