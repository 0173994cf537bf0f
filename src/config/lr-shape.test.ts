import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { CIFAR_STEP_WARMUP, cycleMultiplier } from '../core/lr-schedule.js';
import { TORCH_MISSING, TORCH_PYTHON } from '../engine/torch/torch-testing.js';
import { cycleShapeOf, shapeProblems, trainingShapeSchema } from './lr-shape.js';

const read = (text: string) => trainingShapeSchema.parse(YAML.parse(text));

describe('training.shape as data (config side)', () => {
  test('a name is the named shape; data fills its defaults', () => {
    expect(cycleShapeOf(read('cifar-step-warmup'))).toBe(CIFAR_STEP_WARMUP);
    expect(read('{ factors: [1, 0.1], milestones: [0.5] }')).toEqual({
      unit: 'fraction',
      warmup: 0,
      warmupStartFactor: 0.1,
      milestones: [0.5],
      factors: [1, 0.1],
    });
  });
  test('the file form evaluates as written: epochs 0–2 warm-up from 0.25, ×0.1 from epoch 6', () => {
    const shape = cycleShapeOf(
      read(
        '{ unit: epoch, warmup: 3, warmupStartFactor: 0.25, milestones: [6], factors: [1, 0.1] }',
      ),
    );
    // By hand: 0.25 + 0.75 · e / 3 for e < 3, 1 until epoch 6, 0.1 after.
    const expected = [0.25, 0.5, 0.75, 1, 1, 1, 0.1, 0.1];
    Array.from({ length: 8 }, (_, e) => cycleMultiplier(shape, e, 8)).forEach((m, e) =>
      expect(m).toBeCloseTo(expected[e]!, 14),
    );
  });
  test('problems name the field: bad lists, and epochs past the cycle', () => {
    expect(shapeProblems(read('{ milestones: [0.5], factors: [1] }'), 4)).toEqual([
      expect.stringMatching(/^training\.shape\.factors: expected 2 factors/),
    ]);
    expect(
      shapeProblems(
        read('{ unit: epoch, warmup: 1, milestones: [2, 4], factors: [1, 0.1, 0.01] }'),
        4,
      ),
    ).toEqual([
      'training.shape.milestones[1]: expected an epoch below training.epochsPerCycle (4), got 4',
    ]);
    expect(shapeProblems(read('cosine'), 4)).toEqual([]);
    expect(() => read('{ factors: [1], speed: 2 }')).toThrow(/speed/);
  });
});

/**
 * PyTorch's own schedulers as the oracle: LinearLR (the warm-up) chained with MultiStepLR (the
 * drops, each ×gamma) on an SGD optimiser of learning rate 1, read once per epoch.
 */
function torchRates(
  warmup: number,
  start: number,
  milestones: number[],
  gamma: number,
  epochs: number,
): number[] {
  const script = `
import json, torch
p = torch.nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([p], lr=1.0)
s = torch.optim.lr_scheduler.ChainedScheduler([
    torch.optim.lr_scheduler.LinearLR(opt, start_factor=${start}, end_factor=1.0, total_iters=${warmup}),
    torch.optim.lr_scheduler.MultiStepLR(opt, milestones=${JSON.stringify(milestones)}, gamma=${gamma}),
])
rates = []
for _ in range(${epochs}):
    rates.append(opt.param_groups[0]["lr"])
    opt.step()
    s.step()
print(json.dumps(rates))
`;
  const run = spawnSync(TORCH_PYTHON!, ['-c', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as number[];
}

describe.skipIf(TORCH_PYTHON === undefined)(
  `against PyTorch's schedulers (${TORCH_PYTHON === undefined ? TORCH_MISSING : 'torch'})`,
  () => {
    test('warm-up epochs from a start factor, then ×0.2 at epochs 30 and 60, as LinearLR + MultiStepLR', () => {
      const shape = cycleShapeOf(
        read(
          '{ unit: epoch, warmup: 5, warmupStartFactor: 0.1, milestones: [30, 60], factors: [1, 0.2, 0.04] }',
        ),
      );
      const expected = torchRates(5, 0.1, [30, 60], 0.2, 90);
      Array.from({ length: 90 }, (_, e) => cycleMultiplier(shape, e, 90)).forEach((m, e) =>
        expect(m).toBeCloseTo(expected[e]!, 12),
      );
    });
  },
);
