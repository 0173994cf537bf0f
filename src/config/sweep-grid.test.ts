import { describe, expect, test } from 'vitest';
import { resolveRun, resolveRuns, runId } from './resolve.js';

const base = { extends: 'mini-mnist-lenet300', method: { name: 'lrr', targetSparsity: 0.9 } };

describe('sweeps over any key', () => {
  test('grid: every combination of its lists, crossed with seeds', () => {
    const runs = resolveRuns({
      ...base,
      sweep: {
        grid: { 'training.epochsPerCycle': [4, 8], 'training.peak': [0.1, 0.05, 0.02] },
        seeds: [0, 1],
      },
    });
    expect(runs).toHaveLength(2 * 3 * 2);
    expect(new Set(runs.map(runId)).size).toBe(12);
    const cells = runs.map((r) => [r.training.epochsPerCycle, r.training.peak, r.seed]);
    // Every combination once (compared as a set, not an order).
    const expected: number[][] = [];
    for (const e of [4, 8])
      for (const p of [0.1, 0.05, 0.02]) for (const s of [0, 1]) expected.push([e, p, s]);
    expect(new Set(cells.map((c) => c.join('/')))).toEqual(
      new Set(expected.map((c) => c.join('/'))),
    );
  });
  test('a cell has the id of the file that sets its values directly', () => {
    const runs = resolveRuns({
      ...base,
      sweep: { grid: { 'training.epochsPerCycle': [4, 8], 'data.labelNoise': [0, 0.1] } },
    });
    const direct = resolveRun({
      ...base,
      training: { epochsPerCycle: 8 },
      data: { labelNoise: 0.1 },
    });
    expect(runs.map(runId)).toContain(runId(direct));
    // The preset's own value (4 epochs, no noise) is the unswept configuration's run.
    expect(runs.map(runId)).toContain(runId(resolveRun(base)));
  });
  test('zip: the lists side by side, crossed with the grid', () => {
    const runs = resolveRuns({
      ...base,
      sweep: {
        zip: { 'training.batchSize': [32, 64, 128], 'training.peak': [0.025, 0.05, 0.1] },
        grid: { 'method.targetSparsity': [0.5, 0.9] },
      },
    });
    expect(runs).toHaveLength(3 * 2);
    for (const run of runs)
      expect(run.training.peak).toBeCloseTo(run.training.batchSize / 1280, 12);
    expect(runs.map((r) => (r.method as { targetSparsity: number }).targetSparsity).sort()).toEqual(
      [0.5, 0.5, 0.5, 0.9, 0.9, 0.9],
    );
  });
  test('zip lists of different lengths are refused naming the keys and lengths', () => {
    expect(() =>
      resolveRuns({
        ...base,
        sweep: { zip: { 'training.batchSize': [32, 64, 128], 'training.peak': [0.1, 0.2] } },
      }),
    ).toThrow(
      /sweep\.zip: expected lists of one length, got training\.batchSize \(3\), training\.peak \(2\)/,
    );
  });
  test('unknown keys, keys swept twice and bad values are refused naming them', () => {
    expect(() =>
      resolveRuns({ ...base, sweep: { grid: { 'training.epochPerCycle': [4] } } }),
    ).toThrow(
      /sweep\.grid\.training\.epochPerCycle: "epochPerCycle" is not a field of training \(did you mean epochsPerCycle\?\)/,
    );
    expect(() =>
      resolveRuns({ ...base, sweep: { grid: { seed: [1] }, zip: { seed: [2] } } }),
    ).toThrow(/sweep\.zip\.seed: also in sweep\.grid/);
    expect(() => resolveRuns({ ...base, sweep: { grid: { seed: [1] }, seeds: [0] } })).toThrow(
      /sweep\.grid\.seed: the sweep already sets seed from sweep\.seeds/,
    );
    expect(() => resolveRuns({ ...base, sweep: { grid: { 'training.peak': [] } } })).toThrow(
      /sweep\.grid\.training\.peak: Too small/,
    );
    // Each cell is validated by the run schema, naming the cell.
    expect(() =>
      resolveRuns({ ...base, sweep: { grid: { 'training.epochsPerCycle': [4, -1] } } }),
    ).toThrow(
      /training\.epochsPerCycle=-1\): invalid configuration\n {2}training\.epochsPerCycle: Too small/,
    );
  });
  test('sweeps without grid or zip give the same runs as before', () => {
    const plain = resolveRuns({ ...base, sweep: { sparsities: [0.5, 0.9], seeds: [0, 1] } });
    expect(plain.map(runId)).toEqual(
      [0.5, 0.9].flatMap((t) =>
        [0, 1].map((seed) =>
          runId(resolveRun({ ...base, method: { name: 'lrr', targetSparsity: t }, seed })),
        ),
      ),
    );
  });
});
