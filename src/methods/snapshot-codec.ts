/**
 * A pipeline's tensors as one flat map for a checkpoint, and back: the model's values and momentum
 * in the checkpoint's own keys (`train/checkpoint.ts`), and every named snapshot in the same keys
 * under `snapshot:<name>:`. A stored format: checkpoints written earlier read back unchanged.
 */

import { joinTrainingTensors, splitTrainingTensors } from '../train/checkpoint.js';
import type { Snapshot } from './types.js';

const snapshotPrefix = (name: string): string => `snapshot:${name}:`;

const join = (snapshot: Snapshot) => joinTrainingTensors(snapshot.weights, snapshot.momentum);

function split(tensors: ReadonlyMap<string, Float32Array>): Snapshot {
  const { params, momentum } = splitTrainingTensors(tensors);
  return { weights: params, momentum };
}

export function encodeTensors(
  current: Snapshot,
  snapshots: ReadonlyMap<string, Snapshot> = new Map(),
): Map<string, Float32Array> {
  const out = join(current);
  for (const [name, snapshot] of snapshots)
    for (const [key, values] of join(snapshot)) out.set(`${snapshotPrefix(name)}${key}`, values);
  return out;
}

/** The model's values and momentum, and the snapshots named in `snapshotNames`. */
export function decodeTensors(
  tensors: ReadonlyMap<string, Float32Array>,
  snapshotNames: readonly string[] = [],
): { current: Snapshot; snapshots: Map<string, Snapshot> } {
  const under = (prefix: string) =>
    new Map(
      [...tensors]
        .filter(([key]) => key.startsWith(prefix))
        .map(([key, values]) => [key.slice(prefix.length), values] as const),
    );
  return {
    current: split(tensors),
    snapshots: new Map(snapshotNames.map((name) => [name, split(under(snapshotPrefix(name)))])),
  };
}
