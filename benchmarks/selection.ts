/**
 * Global "prune k of n" selection on real layer lists: ResNet-20 (270,896 weights) and ResNet-50
 * (25,502,912), at 90% sparsity, fast path against the sort-based reference. Two score
 * distributions: magnitudes of Kaiming-normal weights (continuous, what magnitude pruning at
 * initialisation sees) and the same quantised to 256 levels (heavy ties, what SynFlow scores
 * that underflow or low-precision checkpoints look like).
 */

import { Bench } from 'tinybench';
import { allOnes } from '../src/core/bits.js';
import { layerSize, type LayerSpec } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import {
  keptCount,
  selectToPrune,
  selectToPruneReference,
  type ScoreSegment,
} from '../src/core/selection.js';
import { prunableLayers } from '../src/models/spec.js';
import { modelSpec } from '../src/models/zoo.js';

function kaimingMagnitudes(layers: readonly LayerSpec[], quantise: boolean): ScoreSegment[] {
  const stream = randomStream(0, 'bench/scores');
  return layers.map((layer) => {
    const fanIn =
      layer.shape.length === 4
        ? layer.shape[0]! * layer.shape[1]! * layer.shape[2]!
        : layer.shape[0]!;
    const std = Math.sqrt(2 / fanIn);
    const scores = new Float32Array(layerSize(layer));
    for (let i = 0; i < scores.length; i++) {
      const magnitude = Math.abs(std * stream.normal());
      scores[i] = quantise ? Math.round(magnitude * 256) / 256 : magnitude;
    }
    return { scores, alive: allOnes(scores.length) };
  });
}

export interface SelectionBenchOptions {
  /** Leave out the sort-based reference on 25.6M weights (about half a minute per run). */
  readonly skipSlow: boolean;
}

export async function selectionBenches(options: SelectionBenchOptions): Promise<Bench[]> {
  const models = [
    // Small model: many samples of both. Large: a time budget for the fast path, and one run of
    // the reference (its sort takes seconds, so its one sample is its time).
    {
      label: 'ResNet-20 (270,896 weights)',
      layers: prunableLayers(modelSpec('resnet-20')),
      time: 1000,
      warmup: true,
    },
    {
      label: 'ResNet-50 (25,502,912 weights)',
      layers: prunableLayers(modelSpec('resnet-50', { stem: 'imagenet' })),
      time: 2000,
      warmup: false,
    },
  ];
  const benches: Bench[] = [];
  for (const { label, layers, time, warmup } of models) {
    const bench = new Bench({
      name: `global selection at 90%, ${label}`,
      time,
      iterations: 1,
      warmup,
    });
    for (const quantise of [false, true]) {
      const segments = kaimingMagnitudes(layers, quantise);
      const total = segments.reduce((n, s) => n + s.scores.length, 0);
      const k = total - keptCount(0.9, total);
      const scores = quantise ? '256 levels (ties)' : 'continuous';
      bench.add(`fast, ${scores}`, () => {
        selectToPrune(segments, k);
      });
      if (total < 1e6 || !options.skipSlow) {
        bench.add(`reference, ${scores}`, () => {
          selectToPruneReference(segments, k);
        });
      }
    }
    await bench.run();
    benches.push(bench);
  }
  return benches;
}
