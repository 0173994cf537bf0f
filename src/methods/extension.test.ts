/**
 * "A new scorer and a new method are each one file and one registry line", kept true: a copy of
 * `src/` gets the toy scorer and toy method of `fixtures/extension/` and one line in each registry,
 * and the copy's CLI trains the new method with the new scorer end to end, and refuses an option
 * the new scorer does not read.
 */

import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
let copy: string;

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(copy, 'src/cli/main.ts'), ...args], {
    cwd: copy,
    encoding: 'utf8',
    timeout: 240_000,
  });
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'cyclesparse-extension-'));
  cpSync(join(ROOT, 'src'), join(copy, 'src'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  // The two new files…
  cpSync(join(ROOT, 'fixtures/extension/src'), join(copy, 'src'), { recursive: true });
  // …and one line in each registry.
  appendFileSync(join(copy, 'src/prune/scorers.ts'), "export { position } from './position.js';\n");
  appendFileSync(
    join(copy, 'src/methods/catalog/index.ts'),
    "export { oneShot } from './one-shot.js';\n",
  );
});

afterAll(() => {
  if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
});

const BASE = `model: { name: lenet-300-100 }
data: { dataset: mnist, trainPerClass: 20, testPerClass: 5 }
training: { epochsPerCycle: 1, batchSize: 50 }
`;

test('a toy method pruning with a toy scorer trains end to end through the CLI', () => {
  writeFileSync(
    join(copy, 'one-shot.yaml'),
    `${BASE}method: { name: one-shot, criterion: position, reverse: true, sparsity: 0.5 }\n`,
  );
  const run = cli('run', 'one-shot.yaml', '--store', 'runs');
  expect(run.stderr + run.stdout).not.toMatch(/FAILED|Error/);
  expect(run.status).toBe(0);
  const [id] = readdirSync(join(copy, 'runs'));
  expect(id).toMatch(/^one-shot-[0-9a-f]{16}$/);
  const result = JSON.parse(readFileSync(join(copy, 'runs', id!, 'result.json'), 'utf8')) as {
    method: string;
    options: Record<string, unknown>;
    levels: { sparsity: number; mask: { layers: { shape: number[]; bits: string }[] } }[];
    cycles: unknown[];
  };
  expect(result.method).toBe('one-shot');
  // The scorer's own options, defaults filled, are recorded with the method's.
  expect(result.options).toEqual({
    criterion: 'position',
    reverse: true,
    scope: 'global',
    sparsity: 0.5,
    epochsPerCycle: 1,
  });
  expect(result.cycles).toHaveLength(2);
  const [level] = result.levels;
  expect(level!.sparsity).toBeCloseTo(0.5, 6);
  // Reversed positions: the last weights of the network go first, so in the flat order of all
  // layers the kept weights are a prefix.
  const kept = level!.mask.layers.flatMap((layer) => {
    const bytes = Buffer.from(layer.bits, 'base64');
    const size = layer.shape.reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, i) => (bytes[i >> 3]! >> (i & 7)) & 1);
  });
  const firstPruned = kept.indexOf(0);
  expect(firstPruned).toBeGreaterThan(0);
  expect(kept.slice(firstPruned).every((bit) => bit === 0)).toBe(true);
});

test("the registry's choices reach the configuration: an option the scorer does not read is refused", () => {
  writeFileSync(
    join(copy, 'refused.yaml'),
    `${BASE}method: { name: pai, criterion: position, sparsity: 0.5, distribution: erk }\n`,
  );
  const run = cli('run', 'refused.yaml', '--store', 'runs');
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(
    /method\.distribution: expected no distribution for criterion position \(it uses scope and reverse\)/,
  );
});

test('the CLI lists the new method and scorer with their options', () => {
  const listed = cli('methods');
  expect(listed.status).toBe(0);
  expect(listed.stdout).toMatch(
    /\| `one-shot` \| train, prune once, retrain \(a fixture\) \| `criterion` \(magnitude, position, random, snip\) \[magnitude\], `sparsity`/,
  );
  expect(listed.stdout).toMatch(
    /\| `position` \|.*\| initialisation, trained \| `scope` \(global, layerwise\) \[global\], `reverse` \[false\] \|/,
  );
});
