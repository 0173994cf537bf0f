import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  canonicalJson,
  ConfigError,
  loadConfigFile,
  parseConfigText,
  resolveRun,
  resolveRuns,
  runId,
  withEngine,
  withoutDefaults,
} from './resolve.js';
import { buildExperiment, modelFor, pipelineFor, plannedWork } from './build.js';
import { configJsonSchema } from './json-schema.js';

const base = { extends: 'mini-mnist-lenet300', method: { name: 'lrr', targetSparsity: 0.9 } };

describe('resolving configurations', () => {
  test('a preset fills model, data and training; defaults fill the rest', () => {
    const config = resolveRun(base);
    expect(config.model).toEqual({
      name: 'lenet-300-100',
      prunable: { first: true, last: true, shortcuts: true },
    });
    expect(config.data).toEqual({
      dataset: 'mnist',
      trainPerClass: 500,
      testPerClass: 200,
      labelNoise: 0,
      augmentation: 'none',
    });
    expect(config.training).toMatchObject({
      backend: 'wasm',
      batchSize: 128,
      peak: 0.05,
      epochsPerCycle: 4,
      momentum: 0.9,
    });
    expect(config.method).toEqual({
      name: 'lrr',
      rate: 0.2,
      targetSparsity: 0.9,
      lastLevel: 'clamp',
      scope: 'global',
      resetMomentum: true,
    });
    expect(config.seed).toBe(0);
  });
  test('the configuration overrides its preset, key by key', () => {
    const config = resolveRun({
      ...base,
      training: { epochsPerCycle: 10 },
      data: { trainPerClass: 50 },
    });
    expect(config.training.epochsPerCycle).toBe(10);
    expect(config.training.peak).toBe(0.05);
    expect(config.data.trainPerClass).toBe(50);
    expect(config.data.testPerClass).toBe(200);
  });
  test('CIFAR data augments with crop and flip by default', () => {
    expect(
      resolveRun({
        extends: 'cifar10-resnet20-paper',
        data: { dir: '/data' },
        method: { name: 'dense' },
      }).data.augmentation,
    ).toBe('crop-flip');
  });
  test('the PyTorch engine: device cuda and precision fp32 by default, recorded and in the run id', () => {
    const torch = resolveRun({ ...base, training: { backend: 'torch' } });
    expect(torch.training).toMatchObject({ backend: 'torch', device: 'cuda', precision: 'fp32' });
    const cpu = resolveRun({ ...base, training: { backend: 'torch', device: 'cpu' } });
    const bf16 = resolveRun({ ...base, training: { backend: 'torch', precision: 'bf16' } });
    const ids = [resolveRun(base), torch, cpu, bf16].map(runId);
    expect(new Set(ids).size).toBe(4);
    // Which GPU of a machine ran it is not what was computed: cuda:1 is the run cuda is.
    expect(runId(resolveRun({ ...base, training: { backend: 'torch', device: 'cuda:1' } }))).toBe(
      runId(torch),
    );
    expect(resolveRun(base).training.device).toBeUndefined();
  });
  test('a device or precision for a TF.js backend, or an unknown device, is refused by name', () => {
    expect(() => resolveRun({ ...base, training: { device: 'cuda' } }, 'x.yaml')).toThrow(
      /training\.device: expected no device for backend wasm \(only backend torch takes one\)/,
    );
    expect(() =>
      resolveRun({ ...base, training: { backend: 'native', precision: 'bf16' } }, 'x.yaml'),
    ).toThrow(/training\.precision: expected no precision for backend native/);
    expect(() =>
      resolveRun({ ...base, training: { backend: 'torch', device: 'gpu' } }, 'x.yaml'),
    ).toThrow(/training\.device: expected cpu, cuda, cuda:N or mps/);
    expect(() =>
      resolveRun({ ...base, training: { backend: 'torch', precision: 'fp16' } }, 'x.yaml'),
    ).toThrow(/training\.precision: Invalid option: expected one of "fp32"\|"tf32"\|"bf16"/);
  });
  test('an engine override switches backend cleanly and is validated again', () => {
    const torch = withEngine(resolveRun(base), { backend: 'torch', device: 'cpu' });
    expect(torch.training).toMatchObject({ backend: 'torch', device: 'cpu', precision: 'fp32' });
    const back = withEngine(torch, { backend: 'native' });
    expect(back.training.backend).toBe('native');
    expect(back.training.device).toBeUndefined();
    expect(back.training.precision).toBeUndefined();
    expect(withEngine(torch, {})).toBe(torch);
    expect(withEngine(torch, { precision: 'tf32' }).training.device).toBe('cpu');
    expect(() => withEngine(resolveRun(base), { device: 'cpu' })).toThrow(
      /training\.device: expected no device for backend wasm/,
    );
  });
  test('pruning at initialisation records the settings its criterion uses, and refuses the others', () => {
    const pai = (method: Record<string, unknown>) =>
      resolveRun({ ...base, method: { name: 'pai', sparsity: 0.9, ...method } }, 'x.yaml').method;
    expect(pai({ criterion: 'random' })).toEqual({
      name: 'pai',
      criterion: 'random',
      sparsity: 0.9,
      cycles: 1,
      distribution: 'erk',
      sampling: 'exact',
    });
    expect(pai({ criterion: 'snip' })).toEqual({
      name: 'pai',
      criterion: 'snip',
      sparsity: 0.9,
      cycles: 1,
      scope: 'global',
    });
    expect(pai({ criterion: 'synflow', scope: 'layerwise' })).toMatchObject({
      scope: 'layerwise',
      synflowIterations: 100,
    });
    expect(() => pai({ criterion: 'snip', distribution: 'er' })).toThrow(
      /method\.distribution: expected no distribution for criterion snip \(it uses scope\)/,
    );
    expect(() => pai({ criterion: 'random', scope: 'layerwise' })).toThrow(
      /method\.scope: expected no scope for criterion random \(it uses distribution and sampling\)/,
    );
    expect(() => pai({ criterion: 'snip', synflowIterations: 5 })).toThrow(
      /method\.synflowIterations: expected no synflowIterations for criterion snip/,
    );
    expect(() =>
      resolveRun(
        {
          ...base,
          method: { name: 'sculpt', targetSparsity: 0.9, start: 'snip', sampling: 'exact' },
        },
        'x.yaml',
      ),
    ).toThrow(/method\.sampling: expected no sampling for start snip \(it uses scope\)/);
  });
  test('conventions: a preset or rules, resolved to the rules the run uses, refusing the rest', () => {
    const lrr = resolveRun({ ...base, conventions: 'torch' });
    expect(lrr.conventions).toEqual({
      counting: 'round-half-even',
      levels: 'compound',
      lrBoundaries: 'ceil',
    });
    expect(runId(lrr)).not.toBe(runId(resolveRun(base)));
    // The same rules spelt out are the same run.
    expect(
      runId(
        resolveRun({
          ...base,
          conventions: { counting: 'round-half-even', levels: 'compound', lrBoundaries: 'ceil' },
        }),
      ),
    ).toBe(runId(lrr));
    // cyclesparse's rules are the defaults: naming them changes no id.
    expect(runId(resolveRun({ ...base, conventions: 'cyclesparse' }))).toBe(
      runId(resolveRun(base)),
    );
    const pai = resolveRun({
      ...base,
      method: { name: 'pai', criterion: 'random', sparsity: 0.9 },
      conventions: { preset: 'rigl', counting: 'round-half-even' },
    });
    expect(pai.conventions).toEqual({
      counting: 'round-half-even',
      layerCounts: 'per-layer',
      lrBoundaries: 'ceil',
    });
    // A stored (resolved) configuration resolves to itself.
    expect(resolveRun(pai)).toEqual(pai);
    expect(() =>
      resolveRun(
        {
          ...base,
          method: { name: 'pai', criterion: 'snip', sparsity: 0.9 },
          conventions: { levels: 'compound' },
        },
        'x.yaml',
      ),
    ).toThrow(
      /conventions\.levels: expected no levels for method pai with shape \S+ \(it uses counting, lrBoundaries/,
    );
    expect(() => resolveRun({ ...base, conventions: 'pytorch' }, 'x.yaml')).toThrow(
      /conventions\.preset: .*torch/,
    );
    expect(() =>
      resolveRun({ ...base, conventions: { counting: 'stochastic' } }, 'x.yaml'),
    ).toThrow(/conventions\.counting/);
  });
  test('conventions act: compounding levels, ceil LR boundaries, recorded with the pipeline', () => {
    const config = resolveRun({ ...base, conventions: 'torch' });
    const pipeline = pipelineFor(config, modelFor(config));
    const prunes = pipeline.phases.filter((p) => p.kind === 'prune');
    expect(prunes.length).toBeGreaterThan(0);
    // Every level compounds 20% of what is left; the last is clamped to the target (lastLevel).
    for (const p of prunes.slice(0, -1)) {
      expect(p).toMatchObject({
        counting: 'round-half-even',
        target: { fractionOfRemaining: 0.2 },
      });
    }
    expect(prunes.at(-1)).toMatchObject({ target: { sparsity: 0.9 } });
    expect(pipeline.options.conventions).toEqual({
      counting: 'round-half-even',
      levels: 'compound',
    });
    const plain = pipelineFor(resolveRun(base), modelFor(resolveRun(base)));
    expect(plain.options.conventions).toBeUndefined();
    const first = plain.phases.find((p) => p.kind === 'prune');
    expect(first?.kind === 'prune' && first.target.sparsity).toBeCloseTo(0.2, 12);
    expect(buildExperiment(config).setup.schedule.boundaries).toBe('ceil');
    expect(buildExperiment(resolveRun(base)).setup.schedule).not.toHaveProperty('boundaries');
  });
  test('every problem is reported with its path', () => {
    const bad = {
      ...base,
      training: { batchSize: 0, shape: 'sawtooth' },
      method: { name: 'pai', criterion: 'grasp', sparsity: 1.5 },
    };
    try {
      resolveRun(bad, 'bad.yaml');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toContain('training.batchSize: Too small: expected number to be >=1');
      expect(
        problems.some((p) =>
          p.startsWith('training.shape: Invalid option: expected one of "cifar-step-warmup"'),
        ),
      ).toBe(true);
      expect(problems.some((p) => p.startsWith('method.criterion: Invalid option'))).toBe(true);
      expect(problems).toContain('method.sparsity: Too big: expected number to be <1');
      expect((error as Error).message).toMatch(
        /^bad\.yaml: invalid configuration\n {2}training\.batchSize/,
      );
    }
  });
  test('checks across fields', () => {
    expect(() => resolveRun({ ...base, method: { name: 'lrr' } })).toThrow(
      /method\.levels: expected either levels or targetSparsity \(exactly one\)/,
    );
    expect(() =>
      resolveRun({ extends: 'cifar10-resnet20-paper', method: { name: 'dense' } }),
    ).toThrow(/data\.dir: expected the directory of the cifar10 binary files/);
    expect(() => resolveRun({ ...base, model: { name: 'vgg-16', stem: 'imagenet' } })).toThrow(
      /model\.stem: expected no stem for vgg-16/,
    );
    expect(() => resolveRun({ ...base, extends: 'tiny' })).toThrow(
      /extends: expected one of mini-mnist-lenet300, /,
    );
    expect(() =>
      resolveRun({ ...base, method: { name: 'lrr', targetSparsity: 0.9, speed: 'fast' } }),
    ).toThrow(/method: Unrecognized key: "speed"/);
  });
  test('YAML syntax errors carry line and column', () => {
    expect(() => parseConfigText('model:\n  name: [unclosed\n', 'x.yaml')).toThrow(
      /^x\.yaml: invalid configuration\n {2}line \d+, column \d+: /,
    );
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'list.yaml'), '- 1\n- 2\n');
    expect(() => loadConfigFile(join(dir, 'list.yaml'))).toThrow(
      /expected a mapping at the top level/,
    );
    expect(() => loadConfigFile(join(dir, 'missing.yaml'))).toThrow(
      /missing\.yaml: invalid configuration\n {2}cannot read/,
    );
  });
});

describe('image-file data sets (ImageNet, folder)', () => {
  const imagenet = (data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    resolveRun({
      model: { name: 'resnet-18', stem: 'imagenet' },
      data: { dataset: 'imagenet', dir: '/data/imagenet', ...data },
      method: { name: 'dense' },
      ...extra,
    });
  test('a 224 crop, an eval resize of 256/224 of it, and RandomResizedCrop with flips by default', () => {
    expect(imagenet().data).toEqual({
      dataset: 'imagenet',
      dir: '/data/imagenet',
      labelNoise: 0,
      augmentation: 'random-resized-crop-flip',
      imageSize: 224,
      resize: 256,
    });
    // torchvision's ratio for other crops: round(160 · 256 / 224) = round(182.86).
    expect(imagenet({ imageSize: 160 }).data).toMatchObject({ imageSize: 160, resize: 183 });
    expect(imagenet({ imageSize: 64, resize: 64, augmentation: 'none' }).data).toMatchObject({
      imageSize: 64,
      resize: 64,
      augmentation: 'none',
    });
    expect(modelFor(imagenet({ imageSize: 96 })).input).toEqual([96, 96, 3]);
    expect(modelFor(imagenet()).classes).toBe(1000);
    // A default written explicitly is the same run.
    expect(runId(imagenet({ imageSize: 224, resize: 256 }))).toBe(runId(imagenet()));
    expect(runId(imagenet({ imageSize: 160 }))).not.toBe(runId(imagenet()));
  });
  test('options that would do nothing, and augmentations for the other kind of data, are refused naming the field', () => {
    const cifar = { extends: 'cifar10-resnet20-paper', method: { name: 'dense' } };
    expect(() => resolveRun({ ...cifar, data: { dir: '/c', imageSize: 32 } })).toThrow(
      /data\.imageSize: expected no imageSize for data set cifar10/,
    );
    expect(() => resolveRun({ ...base, data: { resize: 32 } })).toThrow(
      /data\.resize: expected no resize for data set mnist/,
    );
    expect(() =>
      resolveRun({ ...base, data: { augmentation: 'random-resized-crop-flip' } }),
    ).toThrow(/data\.augmentation: expected none or crop-flip for data set mnist/);
    expect(() => imagenet({ augmentation: 'crop-flip' })).toThrow(
      /data\.augmentation: expected none or random-resized-crop-flip for data set imagenet/,
    );
    expect(() =>
      resolveRun({
        model: { name: 'resnet-20' },
        data: { dataset: 'folder', dir: '/f', augmentation: 'crop-flip' },
        method: { name: 'dense' },
      }),
    ).toThrow(/data\.augmentation: expected none or random-resized-crop-flip for data set folder/);
    expect(() => imagenet({ imageSize: 224, resize: 200 })).toThrow(
      /data\.resize: expected at least data\.imageSize \(224\).*got 200/,
    );
    expect(() => imagenet({ dir: undefined })).toThrow(
      /data\.dir: expected the directory of the imagenet images/,
    );
  });
  test('a folder data set: classes and sizes from listing it, loaded as files with its subsets and label noise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-folder-config-'));
    // The folder index is cached beside the images, and both go when the test ends.
    const cache = process.env.CYCLESPARSE_CACHE;
    process.env.CYCLESPARSE_CACHE = join(dir, 'cache');
    onTestFinished(() => {
      if (cache === undefined) delete process.env.CYCLESPARSE_CACHE;
      else process.env.CYCLESPARSE_CACHE = cache;
      rmSync(dir, { recursive: true, force: true });
    });
    // Three classes; 4, 3 and 3 training images, 2 validation images each (tiny real PNGs).
    const image = await sharp({
      create: { width: 12, height: 9, channels: 3, background: { r: 200, g: 10, b: 90 } },
    })
      .png()
      .toBuffer();
    for (const [split, counts] of [
      ['train', [4, 3, 3]],
      ['val', [2, 2, 2]],
    ] as const)
      counts.forEach((count, c) => {
        mkdirSync(join(dir, split, `class-${c}`), { recursive: true });
        for (let i = 0; i < count; i++)
          writeFileSync(join(dir, split, `class-${c}`, `${i}.png`), image);
      });
    const folder = (data: Record<string, unknown> = {}) =>
      resolveRun({
        model: { name: 'resnet-20' },
        data: { dataset: 'folder', dir, imageSize: 8, ...data },
        method: { name: 'dense' },
      });
    expect(folder().data).toMatchObject({ imageSize: 8, resize: 9 }); // round(8 · 256/224)
    const spec = modelFor(folder());
    expect(spec.input).toEqual([8, 8, 3]);
    expect(spec.classes).toBe(3);
    expect(plannedWork(folder())).toMatchObject({ trainImages: 10, testImages: 6 });
    // A folder is named by its directory: another folder is another data set, another run.
    const elsewhere = { ...folder(), data: { ...folder().data, dir: join(dir, 'other') } };
    expect(runId(elsewhere)).not.toBe(runId(folder()));
    expect(runId(imagenet({ dir: '/elsewhere' }))).toBe(runId(imagenet()));
    // ...by its absolute path: however it is spelled, one folder is one id.
    const spelled = (written: string) => runId(folder({ dir: written }));
    const fromHere = relative(process.cwd(), dir);
    expect(spelled(fromHere)).toBe(runId(folder()));
    expect(spelled(`./${fromHere}`)).toBe(runId(folder()));
    expect(spelled(`${dir}/`)).toBe(runId(folder()));
    // A folder that is not ILSVRC-2012 is refused as imagenet, naming the counts and `folder`.
    expect(() => buildExperiment(imagenet({ dir }))).toThrow(
      `data.dir: expected ILSVRC-2012 for data set imagenet (train/: exactly 1,000 classes and 1,281,167 images), got 3 classes and 10 images in the train split of ${dir}; for any other image folder (a subset, a copy with files removed) write data.dataset: folder`,
    );
    expect(plannedWork(folder({ trainPerClass: 3 })).trainImages).toBe(9);
    expect(() => plannedWork(folder({ trainPerClass: 4 }))).toThrow(
      /data\.trainPerClass: expected at most 3 \(images of the smallest class in folder\/train\)/,
    );
    const { setup } = buildExperiment(folder({ trainPerClass: 3, labelNoise: 0.5 }));
    expect(setup.train).toMatchObject({ kind: 'files', count: 9, classes: 3, shape: [8, 8, 3] });
    expect(setup.test).toMatchObject({ kind: 'files', count: 6, resize: 9 });
    expect(setup.normalization.mean).toEqual([0.485, 0.456, 0.406]);
    expect(setup.augmentation).not.toEqual(
      buildExperiment(folder({ augmentation: 'none' })).setup.augmentation,
    );
    // Half the 9 labels flipped (prunedCount rounds 4.5 half up), each to another class.
    const clean = buildExperiment(folder({ trainPerClass: 3 })).setup.train;
    const flipped = [...setup.train.labels].filter((label, i) => label !== clean.labels[i]);
    expect(flipped).toHaveLength(5);
  });
  test('sized from the published counts without the data: subsets up to the smallest class, label noise', () => {
    const work = plannedWork(imagenet({ trainPerClass: 732, testPerClass: 50, labelNoise: 0.15 }));
    expect(work.trainImages).toBe(732_000);
    expect(work.testImages).toBe(50_000);
    expect(() => plannedWork(imagenet({ trainPerClass: 733 }))).toThrow(
      'data.trainPerClass: expected at most 732 (images of the smallest class in imagenet/train), got 733',
    );
    expect(() => plannedWork(imagenet({ testPerClass: 51 }))).toThrow(/data\.testPerClass/);
  });
});

describe('run ids', () => {
  // Frozen: stored results are found by these ids. If a change here is intended, stored runs
  // are orphaned: say so in the release notes.
  test('are stable across releases', () => {
    expect(runId(resolveRun(base))).toBe('lrr-9cb7d152ca280873');
    expect(
      runId(
        resolveRun({
          ...base,
          method: { name: 'pai', criterion: 'random', sparsity: 0.9 },
          seed: 3,
        }),
      ),
    ).toBe('pai-97e4210965720a44');
    expect(
      runId(
        resolveRun({
          extends: 'cifar10-resnet20-paper',
          data: { dir: '/data/cifar' },
          method: { name: 'sculpt', targetSparsity: 0.9 },
        }),
      ),
    ).toBe('sculpt-35f5f004b187f60e');
  });
  test('omit defaults: writing a default explicitly gives the same id', () => {
    const explicit = {
      ...base,
      training: { momentum: 0.9, backend: 'wasm' },
      method: { name: 'lrr', targetSparsity: 0.9, rate: 0.2, scope: 'global' },
      seed: 0,
    };
    expect(runId(resolveRun(explicit))).toBe(runId(resolveRun(base)));
    expect(canonicalJson(withoutDefaults(resolveRun(base)))).toBe(
      '{"data":{"dataset":"mnist","testPerClass":200,"trainPerClass":500},"method":{"name":"lrr","targetSparsity":0.9},"model":{"name":"lenet-300-100"},"training":{"epochsPerCycle":4,"peak":0.05}}',
    );
  });
  test('do not depend on where the data sits', () => {
    const at = (dir: string) =>
      runId(
        resolveRun({ extends: 'cifar10-resnet20-paper', data: { dir }, method: { name: 'dense' } }),
      );
    expect(at('/data/cifar')).toBe(at('/mnt/elsewhere'));
  });
  test('change with every value that changes the computation', () => {
    const ids = [
      base,
      { ...base, seed: 1 },
      { ...base, method: { name: 'lrr', targetSparsity: 0.8 } },
      { ...base, method: { name: 'imp', targetSparsity: 0.9 } },
      { ...base, method: { name: 'lrr', targetSparsity: 0.9, rate: 0.5 } },
      { ...base, data: { dataset: 'fashion-mnist' } },
      { ...base, data: { labelNoise: 0.15 } },
      { ...base, model: { name: 'lenet-5' } },
      { ...base, training: { backend: 'cpu' } },
      { ...base, method: { name: 'pai', criterion: 'random', sparsity: 0.9 } },
      { ...base, method: { name: 'pai', criterion: 'snip', sparsity: 0.9 } },
      { ...base, method: { name: 'coupling', init: 'fresh', targetSparsity: 0.9 } },
      { ...base, method: { name: 'coupling', init: 'warmup', targetSparsity: 0.9 } },
    ].map((c) => runId(resolveRun(c)));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('sweeps', () => {
  test('expand methods × sparsities × seeds, and dense methods only once per seed', () => {
    const runs = resolveRuns({
      ...base,
      method: { name: 'pai', criterion: 'random', sparsity: 0.5 },
      sweep: {
        methods: [{}, { criterion: 'snip' }, { name: 'cyclic', cycles: 3 }, { name: 'lrr' }],
        sparsities: [0.5, 0.9],
        seeds: [0, 1, 2],
      },
    });
    expect(runs).toHaveLength(2 * 2 * 3 + 3 + 2 * 3);
    expect(new Set(runs.map(runId)).size).toBe(runs.length);
    expect(
      runs
        .filter((r) => r.method.name === 'lrr')
        .map((r) => (r.method as { targetSparsity: number }).targetSparsity),
    ).toEqual([0.5, 0.5, 0.5, 0.9, 0.9, 0.9]);
  });
  test('report bad sweep settings with their path', () => {
    expect(() => resolveRuns({ ...base, sweep: { sparsities: [0.5, 0.999, 1] } })).toThrow(
      /sweep\.sparsities\[2\]: Too big: expected number to be <1/,
    );
    expect(() => resolveRuns({ ...base, sweep: { seeds: [] } })).toThrow(/sweep\.seeds: Too small/);
  });
});

describe('the published JSON Schema', () => {
  test('docs/config.schema.json is what `cyclesparse schema` generates from the zod schemas', () => {
    const committed = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../docs/config.schema.json'), 'utf8'),
    ) as unknown;
    expect(committed).toEqual(configJsonSchema());
  });
});

describe('the example configurations', () => {
  const dir = join(import.meta.dirname, '../../examples/configs');
  test.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s resolves', (file) => {
    const runs = resolveRuns(loadConfigFile(join(dir, file)), file);
    expect(runs.length).toBeGreaterThan(0);
    if (file === 'pai-sweep.yaml') expect(runs).toHaveLength(27);
  });
});

describe('hostile configuration files', () => {
  test('an alias bomb is refused, naming the file, without expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from({ length: 8 }, (_, i) => {
        const [from, to] = [String.fromCharCode(97 + i), String.fromCharCode(98 + i)];
        return `${to}: &${to} [${Array(10).fill(`*${from}`).join(', ')}]`;
      }),
    ].join('\n');
    const started = performance.now();
    expect(() => parseConfigText(bomb, 'bomb.yaml')).toThrow(
      /^bomb\.yaml: invalid configuration\n {2}Excessive alias count .* \(at most 100 aliases are expanded\)$/,
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });
  test('a device, a directory or an oversized file is refused naming it, without reading it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-'));
    expect(() => loadConfigFile('/dev/zero')).toThrow(
      /^\/dev\/zero: invalid configuration\n {2}expected a regular file, got a device, pipe or socket$/,
    );
    expect(() => loadConfigFile(dir)).toThrow(/expected a regular file, got a directory/);
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(1024 * 1024)}\n`);
    expect(() => loadConfigFile(join(dir, 'big.yaml'))).toThrow(
      /big\.yaml: invalid configuration\n {2}expected a file of at most 1048576 bytes, got 1048579 bytes/,
    );
  });
});
