import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { claimSides, loadSuite, suiteRuns, type Suite } from '../claims/claims.js';
import { modelFor, pipelineFor } from '../config/build.js';
import type { RunConfig } from '../config/schema.js';
import { scorerNamesFor } from '../prune/registry.js';
import { CLI_MAIN } from './cli-testing.js';
import { SUITE_NAMES, SUITES, type SuiteName } from './commands/reproduce.js';

const baselines = fileURLToPath(new URL('../../baselines/', import.meta.url));
/** The CLI in a child process, awaited: the test's two commands start together. */
const cli = async (...args: string[]) => {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [CLI_MAIN, ...args], {
      encoding: 'utf8',
    });
    return { status: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { status: failed.code ?? -1, stderr: failed.stderr ?? String(error) };
  }
};

const PAPER_SCALE = ['cifar10-resnet20', 'cifar100-resnet18', 'imagenet-resnet50'] as const;
const load = (name: SuiteName) =>
  loadSuite(join(baselines, `${name}.claims.yaml`), { data: { dir: '/data/set' } }).suite;

/** The runs of one side of a claim, by id. */
const sideConfigs = (suite: Suite, id: string, key: 'a' | 'b'): readonly RunConfig[] => {
  const index = suite.claims.findIndex((c) => c.id === id);
  expect(index, id).toBeGreaterThanOrEqual(0);
  const side = claimSides(suite, index)[key];
  if (side?.kind !== 'runs') throw new Error(`${id}.${key} is not runs`);
  return side.configs;
};

/** Epochs a run trains, summed over its pipeline's train phases. */
const epochsOf = (config: RunConfig) =>
  pipelineFor(config, modelFor(config)).phases.reduce(
    (n, p) => n + (p.kind === 'train' ? p.cycles * p.epochsPerCycle - (p.startEpoch ?? 0) : 0),
    0,
  );

describe('the packaged suites', () => {
  test('reproduce knows mini and the three paper-scale suites, each with a file of its name', () => {
    expect(SUITE_NAMES).toEqual(['mini', ...PAPER_SCALE]);
    for (const name of SUITE_NAMES)
      expect(
        loadSuite(
          join(baselines, `${name}.claims.yaml`),
          name === 'mini' ? {} : { data: { dir: '/d' } },
        ).suite.suite,
      ).toBe(name);
  });

  test.each([
    ['cifar10-resnet20', 'cifar10', ['resnet-20', 'resnet-18']],
    ['cifar100-resnet18', 'cifar100', ['resnet-18']],
    ['imagenet-resnet50', 'imagenet', ['resnet-50']],
  ] as const)('%s: every run reads %s from --data-dir, on %j, 3 seeds', (name, dataset, models) => {
    const suite = load(name);
    expect(suite.seeds).toEqual([0, 1, 2]);
    const runs = [...suiteRuns(suite).values()];
    expect(runs.length).toBeGreaterThan(0);
    for (const config of runs) {
      expect(config.data).toMatchObject({ dataset, dir: '/data/set' });
      expect(models).toContain(config.model.name);
    }
  });

  test('each suite states the claims of the paper its header says it does', () => {
    const papers = (name: SuiteName) =>
      new Set(load(name).claims.flatMap((c) => (c.paper === undefined ? [] : [c.paper])));
    const all = [1, 2, 3, 4, 5, 6, 7].map((k) => `claim ${k}`);
    expect([...papers('cifar10-resnet20')].sort()).toEqual(all);
    expect([...papers('cifar100-resnet18')].sort()).toEqual(all);
    expect([...papers('imagenet-resnet50')].sort()).toEqual(['claim 3', 'claim 5']);
  });

  test('claim 6 compares SCULPT-ing’s coupling criteria: magnitude against each other scorer of trained weights', () => {
    // The scorers sculpt accepts as `criterion` (prune/registry.ts): magnitude, random, snip.
    const allowed = scorerNamesFor('trained');
    for (const name of ['cifar10-resnet20', 'cifar100-resnet18'] as const) {
      const suite = load(name);
      const claim6 = suite.claims.filter((c) => c.paper === 'claim 6');
      const others = claim6.map((c) => {
        const [a] = sideConfigs(suite, c.id, 'a');
        const [b] = sideConfigs(suite, c.id, 'b');
        expect(a!.method).toMatchObject({ name: 'sculpt', criterion: 'magnitude' });
        // Only the criterion differs between the sides.
        expect({ ...b!.method, criterion: 'magnitude' }).toEqual(a!.method);
        return (b!.method as { criterion: string }).criterion;
      });
      expect(others.sort()).toEqual(allowed.filter((s) => s !== 'magnitude').sort());
    }
  });

  test('claim 7: both sides flip 15% of the training labels; only the mask differs', () => {
    for (const name of ['cifar10-resnet20', 'cifar100-resnet18'] as const) {
      const suite = load(name);
      const [a] = sideConfigs(suite, 'claim7-noisy-labels-sparse-beats-dense', 'a');
      const [b] = sideConfigs(suite, 'claim7-noisy-labels-sparse-beats-dense', 'b');
      expect(a!.data.labelNoise).toBe(0.15);
      expect(b!.data.labelNoise).toBe(0.15);
      expect(a!.training).toEqual(b!.training);
      expect(b!.method).toEqual({ name: 'cyclic', cycles: 4 });
      expect(epochsOf(a!)).toBe(epochsOf(b!));
    }
  });

  test('claim 5 on ImageNet: SCULPT-ing trains less than half the epochs of the LRR it is claimed to match', () => {
    const suite = load('imagenet-resnet50');
    const [sculpt] = sideConfigs(suite, 'claim5-sculpt-matches-lrr', 'a');
    const [lrr] = sideConfigs(suite, 'claim5-sculpt-matches-lrr', 'b');
    // 4 cycles and 1 after the prune, 90 epochs each; LRR: the dense cycle and 11 levels.
    expect(epochsOf(sculpt!)).toBe(450);
    expect(epochsOf(lrr!)).toBe(1080);
  });

  // The oracle is baselines/paper.json read as plain JSON, and LRR's sparsity after k levels of
  // 20%: 1 − 0.8^k, as the records give it (percent, two decimals).
  test('every absolute claim is a record of baselines/paper.json: value, sparsity and delta', () => {
    interface PaperRecord {
      dataset: string;
      model: string;
      method: string;
      sparsity: number;
      mean: number;
    }
    const records = (
      JSON.parse(readFileSync(join(baselines, 'paper.json'), 'utf8')) as {
        records: PaperRecord[];
      }
    ).records;
    const matches = (dataset: string, model: RegExp, method: RegExp) =>
      records.filter((r) => r.dataset === dataset && model.test(r.model) && method.test(r.method));
    const cases = [
      ['cifar10-resnet20', 'CIFAR10', /^ResNet-18 \(torchvision, CIFAR stem\)$/, 0.005],
      ['cifar100-resnet18', 'CIFAR100', /^ResNet-18 \(torchvision, CIFAR stem\)$/, 0.01],
    ] as const;
    for (const [name, dataset, model, delta] of cases) {
      const suite = load(name);
      const absolute = suite.claims.filter((c) => c.kind === 'at-least' && c.metric === undefined);
      const curve = matches(dataset, model, /^LRR/).filter((r) => r.sparsity < 90);
      expect(absolute).toHaveLength(curve.length);
      for (const claim of absolute) {
        if (claim.kind !== 'at-least') continue;
        expect(claim.gate).toBe(false);
        expect(claim.delta).toBe(delta);
        const level = (claim.cycle as number) - 1;
        const sparsity = Math.round((1 - 0.8 ** level) * 1e4) / 100;
        const record = curve.find((r) => Math.abs(r.sparsity - sparsity) < 1e-9);
        expect(record, `${claim.id}: ${sparsity}%`).toBeDefined();
        expect(claim.value).toBeCloseTo(record!.mean / 100, 10);
        const [config] = sideConfigs(suite, claim.id, 'a');
        expect(config!.model).toMatchObject({ name: 'resnet-18', stem: 'cifar' });
        expect(config!.method).toMatchObject({ name: 'lrr', levels: 10 });
      }
    }
    const imagenet = load('imagenet-resnet50');
    const [sculpt] = matches('ImageNet', /^ResNet-50$/, /^SCULPT/);
    const claim = imagenet.claims.find((c) => c.id === 'paper-sculpt-resnet50-imagenet-90')!;
    expect(claim).toMatchObject({ kind: 'at-least', gate: false, value: sculpt!.mean / 100 });
    expect(sideConfigs(imagenet, claim.id, 'a')[0]!.method).toMatchObject({
      name: 'sculpt',
      targetSparsity: sculpt!.sparsity / 100,
    });
  });

  test('each paper-scale suite asks for --data-dir by the layout it reads; reproduce paper names the three', async () => {
    for (const name of PAPER_SCALE) expect(SUITES[name].data).toMatch(/directory/);
    const [paper, imagenet] = await Promise.all([
      cli('reproduce', 'paper'),
      cli('reproduce', 'imagenet-resnet50'),
    ]);
    expect(paper.status).toBe(2);
    expect(paper.stderr).toMatch(
      /suite: paper was split into cifar10-resnet20, cifar100-resnet18, imagenet-resnet50/,
    );
    expect(imagenet.status).toBe(2);
    expect(imagenet.stderr).toMatch(
      /--data-dir: expected the ImageNet directory in folder layout: DIR\/train\/<class>\/\*\.JPEG and DIR\/val\/<class>\/\*\.JPEG/,
    );
  }, 60_000);
});
