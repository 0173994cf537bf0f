import { describe, expect, test } from 'vitest';
import { LrSchedule } from '../core/lr-schedule.js';
import { METHODS } from '../methods/registry.js';
import { modelFor, plannedWork } from './build.js';
import { cycleShapeOf } from './lr-shape.js';
import { PRESET_NAMES } from './presets.js';
import { resolveRun, runId } from './resolve.js';
import type { RunConfig } from './schema.js';

/** One valid method section per registered method (a new method must add its own here). */
const METHOD_EXAMPLES: Record<string, Record<string, unknown>> = {
  dense: {},
  'one-cycle': {},
  cyclic: {},
  imp: { levels: 3 },
  wr: { levels: 3 },
  lrr: { targetSparsity: 0.9 },
  pai: { criterion: 'snip', sparsity: 0.9 },
  coupling: { init: 'warmup', targetSparsity: 0.9 },
  sculpt: { targetSparsity: 0.9 },
};

const PAPER_PRESETS = PRESET_NAMES.filter((name) => /-(paper|turboprune)$/.test(name));

const resolved = (preset: string, method: Record<string, unknown> = { name: 'dense' }) =>
  resolveRun({ extends: preset, data: { dir: '/data' }, method }, preset);

/** The LR of every step of one cycle, as a run of `config` would set it. */
function cycleRates(config: RunConfig): { rates: number[]; stepsPerEpoch: number } {
  const stepsPerEpoch = Math.ceil(plannedWork(config).trainImages / config.training.batchSize);
  const schedule = new LrSchedule({
    peak: config.training.peak,
    shape: cycleShapeOf(config.training.shape),
    granularity: config.training.granularity,
    stepsPerEpoch,
    cycleEpochs: [config.training.epochsPerCycle],
  });
  const rates = Array.from({ length: schedule.totalSteps }, (_, s) => schedule.learningRateAt(s));
  return { rates, stepsPerEpoch };
}

describe('the presets of the paper’s experiments', () => {
  test('one paper and one TurboPrune preset for each experiment of the paper', () => {
    // Issue 19: ResNet-20 and VGG-16 on CIFAR-10, ResNet-18 on CIFAR-100, ResNet-50 on ImageNet.
    for (const experiment of [
      'cifar10-resnet20',
      'cifar10-vgg16',
      'cifar100-resnet18',
      'imagenet-resnet50',
    ])
      for (const source of ['paper', 'turboprune'])
        expect(PRESET_NAMES).toContain(`${experiment}-${source}`);
  });

  test.each(PAPER_PRESETS)(
    '%s resolves with every method, on the model and data set its name says',
    (preset) => {
      const [dataset, model] = preset.split('-') as [string, string];
      for (const method of METHODS) {
        const example = METHOD_EXAMPLES[method.name];
        expect(example, `an example for method ${method.name}`).toBeDefined();
        const config = resolved(preset, { name: method.name, ...example });
        expect(config.data.dataset).toBe(dataset);
        expect(config.model.name).toBe(model.replace(/(\d+)$/, '-$1'));
        expect(() => plannedWork(config)).not.toThrow();
      }
    },
  );

  test('ImageNet presets: 224×224 crops of 1,000 classes, a ResNet-50 with the ImageNet stem, 5,005 steps an epoch at batch 256', () => {
    const config = resolved('imagenet-resnet50-paper');
    expect(config.data).toMatchObject({
      imageSize: 224,
      resize: 256,
      augmentation: 'random-resized-crop-flip',
    });
    const spec = modelFor(config);
    expect(spec.input).toEqual([224, 224, 3]);
    expect(spec.classes).toBe(1000);
    expect(config.model.stem).toBe('imagenet');
    // ILSVRC-2012: 1,281,167 training images; 50,000 validation images.
    const work = plannedWork(config);
    expect(work.trainImages).toBe(1_281_167);
    expect(work.testImages).toBe(50_000);
    expect(work.steps).toBe(90 * Math.ceil(1_281_167 / 256));
  });

  test('paper presets follow METHODS.md’s cycles: CIFAR step-warmup over 150 epochs, ImageNet over 90', () => {
    for (const preset of PAPER_PRESETS.filter((p) => p.endsWith('-paper'))) {
      const config = resolved(preset);
      const { rates, stepsPerEpoch } = cycleRates(config);
      // Rounded to 12 places: the schedule multiplies in floating point.
      const atEpoch = (e: number) => Math.round(rates[e * stepsPerEpoch]! * 1e12) / 1e12;
      expect(config.training.granularity, preset).toBe('epoch');
      expect(config.training.precision, preset).toBeUndefined(); // fp32 on any engine
      if (preset.startsWith('imagenet')) {
        // Epochs 0–9 at 0.1·lr, 10–39 lr, 40–69 0.1·lr, 70–89 0.01·lr; weight decay 1e-4.
        expect(rates).toHaveLength(90 * stepsPerEpoch);
        expect([0, 9, 10, 39, 40, 69, 70, 89].map(atEpoch)).toEqual([
          0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001,
        ]);
        expect(config.training.weightDecay).toBe(1e-4);
      } else {
        // Epochs 0–9 warm up lr·(e+1)/10; 10–69 lr; 70–129 0.1·lr; 130–149 0.01·lr; wd 5e-4.
        expect(rates).toHaveLength(150 * stepsPerEpoch);
        expect([0, 4, 10, 69, 70, 129, 130, 149].map(atEpoch)).toEqual([
          0.01, 0.05, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001,
        ]);
        expect(config.training.weightDecay).toBe(5e-4);
      }
      expect(config.training.batchSize).toBe(256);
      expect(config.training.momentum).toBe(0.9);
    }
  });

  test('TurboPrune presets: batch 512, bf16 on the PyTorch engine, per-step triangle peaking at 0.2 at 20% of the cycle', () => {
    for (const preset of PAPER_PRESETS.filter((p) => p.endsWith('-turboprune'))) {
      const config = resolved(preset);
      expect(config.training).toMatchObject({
        backend: 'torch',
        precision: 'bf16',
        batchSize: 512,
        momentum: 0.9,
        granularity: 'step',
      });
      // 5e-4 on CIFAR-10; 1e-4 on CIFAR-100 and ImageNet.
      expect(config.training.weightDecay).toBe(preset.startsWith('cifar10-') ? 5e-4 : 1e-4);
      const { rates, stepsPerEpoch } = cycleRates(config);
      expect(rates).toHaveLength((preset.startsWith('imagenet') ? 90 : 150) * stepsPerEpoch);
      const peakStep = Math.round(0.2 * rates.length);
      expect(rates[peakStep]).toBeCloseTo(0.2, 12);
      expect(rates.reduce((a, b) => Math.max(a, b))).toBeCloseTo(0.2, 12);
      expect(rates[0]).toBeCloseTo(0.2 * 0.2, 12); // the multiplier starts at 0.2
      // Down to 0 at the cycle's end: the last step is one step of the descent above it.
      expect(rates.at(-1)!).toBeCloseTo(0.2 / Math.round(0.8 * rates.length), 12);
      // Changes every step (not once an epoch): rising before the peak, falling after.
      expect(rates[1]!).toBeGreaterThan(rates[0]!);
      expect(rates[peakStep + 1]!).toBeLessThan(rates[peakStep]!);
    }
  });

  test('the presets that existed keep their resolved configurations, and so their run ids', () => {
    // Frozen before the ImageNet and TurboPrune presets were added (issue 19).
    const lrr = { name: 'lrr', levels: 3 };
    const ids = Object.fromEntries(
      [
        'mini-mnist-lenet300',
        'mini-fashion-lenet5',
        'cifar10-resnet20-paper',
        'cifar100-resnet18-paper',
      ].map((preset) => [preset, runId(resolved(preset, lrr))]),
    );
    expect(ids).toEqual({
      'mini-mnist-lenet300': 'lrr-d9b131d960107421',
      'mini-fashion-lenet5': 'lrr-6cbee12045975af4',
      'cifar10-resnet20-paper': 'lrr-de1e1828e02cd921',
      'cifar100-resnet18-paper': 'lrr-c56290446ff56081',
    });
    expect(resolved('cifar100-resnet18-paper', lrr).data).toEqual({
      dataset: 'cifar100',
      dir: '/data',
      labelNoise: 0,
      augmentation: 'crop-flip',
    });
  });
});
