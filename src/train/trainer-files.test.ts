import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { CONSTANT, LrSchedule } from '../core/lr-schedule.js';
import { randomStream } from '../core/random.js';
import { drawAugmentation, NORMALIZATIONS, RESIZED_CROP_AUGMENTATION } from '../data/batches.js';
import type { FileDataset } from '../data/dataset.js';
import { loadFolderSplit } from '../data/folder.js';
import type { TrainPlan } from '../engine/engine.js';
import { TfjsEngine } from '../engine/tfjs-engine.js';
import { initialValues } from '../models/init.js';
import { modelSpec } from '../models/zoo.js';
import { Trainer } from './trainer.js';

let dir = '';
let engine: TfjsEngine;

/** A folder data set of 2 classes (dark and bright images of odd sizes), 6 train and 2 val each. */
beforeAll(async () => {
  engine = await TfjsEngine.open('wasm');
  dir = mkdtempSync(join(tmpdir(), 'cyclesparse-trainer-files-'));
  for (const [label, name] of ['dark', 'bright'].entries()) {
    for (const [split, count] of [
      ['train', 6],
      ['val', 2],
    ] as const) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < count; i++) {
        const [w, h] = [20 + 3 * i, 30 - 2 * i];
        const stream = randomStream(label * 10 + i, `test/${split}`);
        const pixels = Buffer.from(
          Array.from({ length: w * h * 3 }, () => stream.int(0, 60) + 150 * label),
        );
        const jpeg = await sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
          .jpeg()
          .toBuffer();
        writeFileSync(join(dir, split, name, `${i}.jpg`), jpeg);
      }
    }
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const spec = modelSpec('lenet-300-100', { input: [12, 12, 3], classes: 2 });

async function trainer(dataset: FileDataset): Promise<Trainer> {
  const model = await engine.model(spec, initialValues(spec, 0));
  const schedule = new LrSchedule({
    peak: 0.05,
    shape: CONSTANT,
    granularity: 'epoch',
    stepsPerEpoch: 3,
    cycleEpochs: [2],
  });
  const data = {
    dataset,
    normalization: NORMALIZATIONS.imagenet,
    augmentation: RESIZED_CROP_AUGMENTATION,
    batchSize: 4,
  };
  return new Trainer(model, data, schedule, { seed: 3 });
}

const options = () => ({ imageSize: 12, resize: 14, cacheDir: join(dir, 'cache') });

describe('training on image files (wasm)', () => {
  test('the plan carries five choices per image; training runs and evaluation reads the val folder', async () => {
    const run = await trainer(loadFolderSplit(dir, 'train', options()));
    const plans: TrainPlan[] = [];
    const original = run.model.train.bind(run.model);
    vi.spyOn(run.model, 'train').mockImplementation((plan: TrainPlan) => {
      plans.push(plan);
      return original(plan);
    });
    const outcome = await run.run();
    expect(outcome.status).toBe('completed');
    expect(outcome.epochs.map((e) => e.steps)).toEqual([3, 3]);
    expect(plans.length).toBe(2);
    for (const plan of plans) {
      expect(plan.indices.length).toBe(12);
      expect(plan.augmentation!.length).toBe(5 * 12);
    }
    for (const e of outcome.epochs) expect(Number.isFinite(e.trainLoss)).toBe(true);
    const evaluation = await run.model.evaluate(
      loadFolderSplit(dir, 'test', options()),
      NORMALIZATIONS.imagenet,
      3,
    );
    expect(evaluation.count).toBe(4);
    expect(Number.isFinite(evaluation.loss)).toBe(true);
    await run.model.dispose();
  });

  test('gradients over file samples: batches of 2 sum to the batch of 4 (five choices per image)', async () => {
    const dataset = loadFolderSplit(dir, 'train', options());
    const model = await engine.model(spec, initialValues(spec, 1));
    const indices = Uint32Array.from([7, 0, 11, 4]);
    const samples = {
      dataset,
      normalization: NORMALIZATIONS.imagenet,
      indices,
      augmentation: drawAugmentation(
        RESIZED_CROP_AUGMENTATION,
        dataset,
        indices,
        randomStream(5, 'augmentation'),
      ),
    };
    const gradients = (batchSize: number) =>
      model.gradients({
        input: { kind: 'samples', samples, batchSize },
        mode: 'train',
        objective: 'cross-entropy-sum',
        wrt: ['fc1.weight'],
      });
    const [two, four] = [await gradients(2), await gradients(4)];
    expect(two.value).toBeCloseTo(four.value, 4);
    const a = two.gradients.get('fc1.weight')!;
    const b = four.gradients.get('fc1.weight')!;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(await model.batchStatistics(samples)).toEqual([]); // no BatchNorm in LeNet
    await model.dispose();
  });

  test('a corrupt image fails the step, naming the file', async () => {
    const dataset = loadFolderSplit(dir, 'train', options());
    const run = await trainer(dataset);
    // Cut the body of one image after indexing: its header still reads, its decode fails.
    const path = join(dir, 'train', 'bright', '3.jpg');
    const jpeg = readFileSync(path);
    writeFileSync(path, jpeg.subarray(0, jpeg.length >> 1));
    await expect(run.run()).rejects.toThrow(/train\/bright\/3\.jpg: cannot be decoded/);
    await run.model.dispose();
  });
});
