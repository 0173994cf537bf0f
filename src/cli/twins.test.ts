/**
 * Scaled-down twins of the paper-scale suites: each suite file is loaded unchanged and run on the
 * PyTorch engine's CPU path, scaled down only by `key=value` overrides set in every run (2-epoch
 * cycles, 2 images per class, small batches, 32-pixel crops) and two of its seeds, on data of the
 * suite's own format: CIFAR-10 binary files built from the real subset in ../shared/data
 * (generated records of the same format where a checkout has none, as CI may), CIFAR-100 binary
 * files and an ImageNet-layout folder of JPEG files the test writes. What they check is that
 * every path of the suites runs — data, models, methods, analyses, claims, report and the dry
 * run's estimate — not that the claims hold at this scale.
 *
 * In CI (`npm test`), within the test suite's budget: each suite's dry run from the command line,
 * which resolves every run of the suite under the overrides, reads the data's format and measures
 * a step of each distinct model once (the minimum: CYCLESPARSE_SLOW_STEP_MS=0) on the PyTorch
 * engine to print the suite's estimate; the three run at once.
 *
 * With `npm run test:twins` (CYCLESPARSE_TWINS=1): the end-to-end twins, every claim decided from
 * runs trained here and the report written. They take minutes each on 2 cores, not the seconds a
 * test may take (measured 2026-11-28 on this 2-core machine under load: imagenet-resnet50 495 s,
 * cifar10-resnet20 560 s): ResNet-50 and ResNet-18 write a checkpoint of ~100-200 MB every
 * epoch (ResNet-50 about 10 s an epoch even at 32 pixels, 88 epochs), and cifar10-resnet20's 46
 * runs take about 4 minutes of training plus more than 3 of barrier and sharpness analyses.
 */

import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, test } from 'vitest';
import { loadSuite, suiteRuns } from '../claims/claims.js';
import { parseOverrides } from '../config/overrides.js';
import { TORCH_PYTHON } from '../engine/torch/torch-testing.js';
import { CLI_MAIN } from './cli-testing.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SUBSET = join(root, '../shared/data/cifar10-subset/data_batch_1_first4000.bin');
const RECORDS = 10_000;
const PIXELS = 3072;

const work = mkdtempSync(join(tmpdir(), 'cyclesparse-twins-'));
// The folder index cache of the CLI children, removed with the rest (not ~/.cache).
const cache = join(work, 'cache');
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A small deterministic byte stream (the pixels only need to be the same on every machine). */
function bytes(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Full-size CIFAR-10 files (the loader checks every file's size): 10,000 records built by
 * repeating the real subset's, or generated ones (label i mod 10) without it; the six files are
 * links to one.
 */
function cifar10Dir(): { dir: string; real: boolean } {
  const dir = join(work, 'cifar10');
  mkdirSync(dir);
  const real = existsSync(SUBSET);
  const source = real ? readFileSync(SUBSET) : undefined;
  const record = 1 + PIXELS;
  const file = new Uint8Array(RECORDS * record);
  if (source !== undefined) {
    const have = source.length / record;
    for (let i = 0; i < RECORDS; i++)
      file.set(source.subarray((i % have) * record, ((i % have) + 1) * record), i * record);
  } else {
    const pixels = bytes(RECORDS * PIXELS, 10);
    for (let i = 0; i < RECORDS; i++) {
      file[i * record] = i % 10;
      file.set(pixels.subarray(i * PIXELS, (i + 1) * PIXELS), i * record + 1);
    }
  }
  writeFileSync(join(dir, 'data_batch_1.bin'), file);
  for (const name of ['data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
    linkSync(join(dir, 'data_batch_1.bin'), join(dir, `${name}.bin`));
  return { dir, real };
}

/** CIFAR-100 files (train.bin 50,000 records, test.bin 10,000): coarse, fine label, pixels. */
function cifar100Dir(): string {
  const dir = join(work, 'cifar100');
  mkdirSync(dir);
  const record = 2 + PIXELS;
  const pixels = bytes(RECORDS * PIXELS, 100);
  const write = (name: string, count: number) => {
    const file = new Uint8Array(count * record);
    for (let i = 0; i < count; i++) {
      const j = i % RECORDS;
      file[i * record] = (i % 100) % 20;
      file[i * record + 1] = i % 100;
      file.set(pixels.subarray(j * PIXELS, (j + 1) * PIXELS), i * record + 2);
    }
    writeFileSync(join(dir, name), file);
  };
  write('train.bin', 5 * RECORDS);
  write('test.bin', RECORDS);
  return dir;
}

/**
 * An ImageNet-layout folder: `classes` class folders in train/ and val/, real JPEG files of
 * varied sizes (so the resize and crops have work to do) with a colour per class.
 */
async function imageFolder(classes: number, train: number, val: number): Promise<string> {
  const dir = join(work, 'imagenet');
  const noise = bytes(64 * 64 * 3, 7);
  for (const [split, count] of [
    ['train', train],
    ['val', val],
  ] as const)
    for (let c = 0; c < classes; c++) {
      const folder = join(dir, split, `n0000${c}`);
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < count; i++) {
        const width = 40 + 8 * ((i + c) % 4);
        const height = 36 + 6 * (i % 3);
        const pixels = Buffer.alloc(width * height * 3);
        for (let p = 0; p < width * height; p++)
          for (let k = 0; k < 3; k++)
            pixels[p * 3 + k] =
              (noise[(p * 3 + k) % noise.length]! >> 2) + (k === c % 3 ? 160 : 40);
        await sharp(pixels, { raw: { width, height, channels: 3 } })
          .jpeg({ quality: 90 })
          .toFile(join(folder, `${split}_${c}_${i}.JPEG`));
      }
    }
  return dir;
}

/** What scales every suite down, set in every run after its side (docs/CONFIG.md, Overrides). */
const SCALE = ['training.epochsPerCycle=2', 'data.trainPerClass=2', 'data.testPerClass=2'];
const ENGINE = ['--backend', 'torch', '--device', 'cpu', '--precision', 'fp32'];

/**
 * The CLI in a child process, not waited on synchronously: the three dry runs start together
 * (each mostly waits on its own Python start-up). CYCLESPARSE_SLOW_STEP_MS=0: the dry
 * run times each model's minimum (a cold and two timed steps, one evaluation batch, one
 * checkpoint) instead of a second of epochs and repeated checkpoints — the estimate line is
 * printed either way, which is what the test asserts.
 */
const cli = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI_MAIN, ...args], {
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
      env: {
        ...process.env,
        CYCLESPARSE_PYTHON: TORCH_PYTHON,
        CYCLESPARSE_CACHE: cache,
        CYCLESPARSE_SLOW_STEP_MS: '0',
      },
    });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      status: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    };
  }
};

/**
 * Every run and the report: the suite file as packaged, its first two seeds, scaled down by
 * `overrides`, through the gate the CLI's reproduce calls. In a child process under tsx, as the
 * CLI runs: the gate's pool starts its workers from the TypeScript sources.
 */
const GATE = `
import { loadSuite } from ${JSON.stringify(join(root, 'src/claims/claims.ts'))};
import { parseOverrides } from ${JSON.stringify(join(root, 'src/config/overrides.ts'))};
import { gateAndReport } from ${JSON.stringify(join(root, 'src/cli/commands/gate.ts'))};
import { closeEngines } from ${JSON.stringify(join(root, 'src/engine/open.ts'))};
const [file, dir, store, report, ...overrides] = process.argv.slice(2);
const loaded = loadSuite(file, { data: { dir } }, { backend: 'torch', device: 'cpu', precision: 'fp32' }, parseOverrides(overrides));
const twin = { ...loaded, suite: { ...loaded.suite, seeds: loaded.suite.seeds.slice(0, 2) } };
const verdict = await gateAndReport(twin, { store, run: true, concurrency: 2, report, json: true });
await closeEngines();
process.exitCode = verdict === undefined ? 9 : process.exitCode;
`;

/** The number of runs the CLI resolves for a suite under `overrides` (all its seeds). */
function runsOf(name: string, dir: string, overrides: readonly string[]): number {
  const loaded = loadSuite(
    join(root, 'baselines', `${name}.claims.yaml`),
    { data: { dir } },
    { backend: 'torch', device: 'cpu', precision: 'fp32' },
    parseOverrides(overrides),
  );
  return suiteRuns(loaded.suite).size;
}

/** Every run (two seeds), the verdict and the report, from the gate the CLI's reproduce calls. */
function runTwin(name: string, dir: string, overrides: readonly string[]) {
  const store = join(work, `${name}-runs`);
  const report = join(work, `${name}-report`);
  const script = join(work, 'gate-twin.mts');
  writeFileSync(script, GATE);
  const file = join(root, 'baselines', `${name}.claims.yaml`);
  const ran = spawnSync(
    process.execPath,
    ['--import', 'tsx', script, file, dir, store, report, ...overrides],
    {
      encoding: 'utf8',
      env: { ...process.env, CYCLESPARSE_PYTHON: TORCH_PYTHON, CYCLESPARSE_CACHE: cache },
      cwd: root,
    },
  );
  // 0 pass, 1 fail, 5 inconclusive: what the verdict says at this scale is not the point.
  expect([0, 1, 5], ran.stderr.slice(-4000)).toContain(ran.status);
  expect(ran.stdout, ran.stderr.slice(-4000)).toMatch(/^\{/);
  const verdict = JSON.parse(ran.stdout) as {
    claims: { id: string; verdict: string; detail: string }[];
  };
  const suite = loadSuite(file, { data: { dir } });
  expect(verdict.claims.map((c) => c.id)).toEqual(suite.suite.claims.map((c) => c.id));
  for (const claim of verdict.claims)
    expect(['holds', 'contradicted', 'inconclusive'], `${claim.id}: ${claim.detail}`).toContain(
      claim.verdict,
    );
  expect(existsSync(join(report, 'index.md'))).toBe(true);
  return verdict;
}

/** Each suite's data and the overrides that scale it down. */
const TWINS = {
  'cifar10-resnet20': () => ({
    dir: cifar10Dir().dir,
    overrides: [...SCALE, 'training.batchSize=10'],
  }),
  'cifar100-resnet18': () => ({
    dir: cifar100Dir(),
    overrides: [...SCALE, 'training.batchSize=25'],
  }),
  'imagenet-resnet50': async () => ({
    dir: await imageFolder(3, 4, 2),
    overrides: [...SCALE, 'training.batchSize=6', 'data.dataset=folder', 'data.imageSize=32'],
  }),
} as const;
const data = new Map<string, Promise<{ dir: string; overrides: string[] }>>();
const twinData = (name: keyof typeof TWINS) => {
  let made = data.get(name);
  if (made === undefined) {
    made = Promise.resolve(TWINS[name]());
    data.set(name, made);
  }
  return made;
};

describe.runIf(TORCH_PYTHON !== undefined)('paper-scale suites scaled down, dry run', () => {
  test.concurrent.for(Object.keys(TWINS) as (keyof typeof TWINS)[])(
    '%s: every run resolves on its data and the estimate is printed',
    { timeout: 240_000 },
    async (name, { expect }) => {
      const { dir, overrides } = await twinData(name);
      const store = join(work, `${name}-dry`);
      const dry = await cli(
        'reproduce',
        name,
        '--data-dir',
        dir,
        ...ENGINE,
        '--dry-run',
        '--store',
        store,
        ...overrides,
      );
      expect(dry.status, dry.stderr).toBe(0);
      const runs = runsOf(name, dir, overrides);
      expect(dry.stdout).toMatch(new RegExp(`^suite ${name}: ${runs} runs, about`, 'm'));
    },
  );
});

describe.runIf(TORCH_PYTHON !== undefined && process.env.CYCLESPARSE_TWINS === '1')(
  'paper-scale suites scaled down, end to end (CYCLESPARSE_TWINS=1)',
  () => {
    test.each(Object.keys(TWINS) as (keyof typeof TWINS)[])(
      '%s: every claim decided from runs trained here, the report written',
      async (name) => {
        const { dir, overrides } = await twinData(name);
        runTwin(name, dir, overrides);
      },
      1_800_000,
    );
  },
);
