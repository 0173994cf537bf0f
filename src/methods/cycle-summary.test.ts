import { describe, expect, test } from 'vitest';
import { Mask } from '../core/mask.js';
import { modelSpec } from '../models/zoo.js';
import { prunableLayers } from '../models/spec.js';
import { addCost, NO_COST, summariseCycles } from './cycle-summary.js';
import { decodeTensors, encodeTensors } from './snapshot-codec.js';
import type { EpochRecord } from './types.js';

const spec = modelSpec('lenet-300-100');
const mask = Mask.dense(prunableLayers(spec));

function epoch(
  cycle: number,
  epochNumber: number,
  trainLoss: number,
  accuracy: number,
): EpochRecord {
  return {
    phase: 'p',
    level: 0,
    metrics: {
      epoch: epochNumber,
      cycle,
      steps: 10,
      trainLoss,
      trainAccuracy: accuracy,
      learningRate: 0.1,
      seconds: 1,
    },
    test: { loss: trainLoss + 1, accuracy: accuracy - 0.1 },
  };
}

describe('cycle summaries', () => {
  test('one record per cycle: final and best of each metric, epochs, steps and FLOPs', () => {
    const records = [epoch(0, 0, 2, 0.5), epoch(0, 1, 1, 0.4), epoch(1, 2, 3, 0.9)];
    const cycles = summariseCycles(records, { label: 'cyclic', level: 1 }, mask, {
      spec,
      trainImages: 100,
    });
    expect(cycles.map((c) => [c.cycle, c.epochs, c.steps])).toEqual([
      [0, 2, 20],
      [1, 1, 10],
    ]);
    expect(cycles[0]!.trainLoss).toEqual({ final: 1, best: 1 });
    expect(cycles[0]!.trainAccuracy).toEqual({ final: 0.4, best: 0.5 });
    expect(cycles[0]!.testLoss).toEqual({ final: 2, best: 2 });
    expect(cycles[0]!.testAccuracy.final).toBeCloseTo(0.3);
    expect(cycles[0]!.testAccuracy.best).toBeCloseTo(0.4);
    // LeNet-300-100: 266,200 MACs per image, 6 FLOPs per MAC in training.
    expect(cycles[0]!.flopsDense).toBe(6 * 266_200 * 200);
    expect(cycles[1]!.flopsSparse).toBe(6 * 266_200 * 100);
    expect(addCost(NO_COST, cycles)).toEqual({
      epochs: 3,
      steps: 30,
      flopsDense: 6 * 266_200 * 300,
      flopsSparse: 6 * 266_200 * 300,
    });
  });
});

describe('the snapshot codec', () => {
  test('values, momentum and named snapshots survive a round trip under the stored keys', () => {
    const t = (v: number) => new Float32Array([v]);
    const current = {
      weights: new Map([['fc1.weight', t(1)]]),
      momentum: new Map([['fc1.weight', t(2)]]),
    };
    const rewind = {
      weights: new Map([['fc1.weight', t(3)]]),
      momentum: new Map([['fc1.weight', t(4)]]),
    };
    const tensors = encodeTensors(current, new Map([['rewind', rewind]]));
    expect([...tensors.keys()]).toEqual([
      'param:fc1.weight',
      'momentum:fc1.weight',
      'snapshot:rewind:param:fc1.weight',
      'snapshot:rewind:momentum:fc1.weight',
    ]);
    const decoded = decodeTensors(tensors, ['rewind']);
    expect(decoded.current).toEqual(current);
    expect(decoded.snapshots.get('rewind')).toEqual(rewind);
  });
});
