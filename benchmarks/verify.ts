/**
 * `verify` at ResNet-50 scale (25.5 M prunable weights): an IMP-style artifact of three levels
 * (0, 0.5, 0.8 global magnitude sparsity) with masks, scores, start and end weights per level
 * and rewind weights, written as .npz by cyclesparse's own pruner; then timed: reading plus every
 * check. Prints seconds per run (tinybench) and the artifact's size on disk.
 */

import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { Mask, layerSize, type LayerSpec } from '../src/core/mask.js';
import { prune } from '../src/core/prune.js';
import { randomStream } from '../src/core/random.js';
import { prunableLayers } from '../src/models/spec.js';
import { modelSpec } from '../src/models/zoo.js';
import { verifyArtifact } from '../src/verify/verify.js';
import { encodeNpz } from '../src/verify/write.js';

function writeArtifact(layers: readonly LayerSpec[], dir: string): void {
  const stream = randomStream(0, 'bench/verify');
  const init = Object.fromEntries(
    layers.map((l) => [
      l.name,
      Float32Array.from({ length: layerSize(l) }, () => stream.normal() * 0.05),
    ]),
  );
  const npz = (record: Record<string, Float32Array | Uint8Array>) =>
    encodeNpz(
      Object.fromEntries(layers.map((l) => [l.name, { values: record[l.name]!, shape: l.shape }])),
    );
  writeFileSync(join(dir, 'rewind.npz'), npz(init));
  let mask = Mask.dense(layers);
  let end = init;
  const levels = [0, 0.5, 0.8].map((sparsity, k) => {
    const scores = Object.fromEntries(layers.map((l) => [l.name, end[l.name]!.map(Math.abs)]));
    if (sparsity > 0) mask = prune(mask, scores, { sparsity, scope: 'global', exclude: [] });
    const masks = Object.fromEntries(
      layers.map((l) => [l.name, Uint8Array.from(mask.toArray(l.name))]),
    );
    const start = Object.fromEntries(
      layers.map((l) => [l.name, init[l.name]!.map((w, i) => w * masks[l.name]![i]!)]),
    );
    // "Training": a deterministic nudge of the kept weights.
    end = Object.fromEntries(layers.map((l) => [l.name, start[l.name]!.map((w) => w * 1.01)]));
    const level = join(dir, `level-${k}`);
    mkdirSync(level);
    writeFileSync(join(level, 'masks.npz'), npz(masks));
    writeFileSync(join(level, 'start.npz'), npz(start));
    writeFileSync(join(level, 'weights.npz'), npz(end));
    if (sparsity > 0) writeFileSync(join(level, 'scores.npz'), npz(scores));
    return {
      sparsity,
      masks: `level-${k}/masks.npz`,
      start: `level-${k}/start.npz`,
      weights: `level-${k}/weights.npz`,
      ...(sparsity > 0 ? { scores: `level-${k}/scores.npz` } : {}),
    };
  });
  const manifest = {
    method: 'imp',
    scope: 'global',
    countingRule: 'round-half-up',
    tieBreak: 'lowest-flat-index',
    layout: 'tensorflow',
    rewind: { weights: 'rewind.npz' },
    levels,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

function bytesUnder(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((s, e) => s + statSync(join(e.parentPath, e.name)).size, 0);
}

export async function verifyBench(): Promise<Bench> {
  const layers = prunableLayers(modelSpec('resnet-50', { stem: 'imagenet' }));
  const dir = mkdtempSync(join(tmpdir(), 'verify-bench-'));
  try {
    writeArtifact(layers, dir);
    const weights = layers.reduce((s, l) => s + layerSize(l), 0);
    const bench = new Bench({
      name: `verify, ResNet-50 (${weights} weights, 3 levels, ${(bytesUnder(dir) / 2 ** 30).toFixed(2)} GiB of .npz)`,
      iterations: 3,
      time: 0,
      warmupIterations: 0,
    });
    bench.add('verify', () => {
      const report = verifyArtifact(dir);
      if (!report.passed)
        throw new Error(`the benchmark artifact failed: ${JSON.stringify(report.checks)}`);
    });
    await bench.run();
    return bench;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
