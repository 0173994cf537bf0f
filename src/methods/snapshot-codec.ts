/**
 * A pipeline's tensors as one flat map for a checkpoint, and back: the model's values and momentum
 * (`param:<name>`, `momentum:<name>`) and every named snapshot (`snapshot:<snapshot>:param:<name>`,
 * `snapshot:<snapshot>:momentum:<name>`). The keys are a stored format: checkpoints written by
 * earlier versions read back unchanged.
 */

import type { Snapshot } from './types.js';

const PARAM = 'param:';
const MOMENTUM = 'momentum:';
const snapshotPrefix = (name: string): string => `snapshot:${name}:`;

function withPrefix(
  out: Map<string, Float32Array>,
  prefix: string,
  tensors: ReadonlyMap<string, Float32Array>,
): void {
  for (const [name, values] of tensors) out.set(`${prefix}${name}`, values);
}

/** The entries of `tensors` under `prefix`, without it. */
function underPrefix(
  tensors: ReadonlyMap<string, Float32Array>,
  prefix: string,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [key, values] of tensors)
    if (key.startsWith(prefix)) out.set(key.slice(prefix.length), values);
  return out;
}

export function encodeTensors(
  current: Snapshot,
  snapshots: ReadonlyMap<string, Snapshot> = new Map(),
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  withPrefix(out, PARAM, current.weights);
  withPrefix(out, MOMENTUM, current.momentum);
  for (const [name, snapshot] of snapshots) {
    withPrefix(out, `${snapshotPrefix(name)}${PARAM}`, snapshot.weights);
    withPrefix(out, `${snapshotPrefix(name)}${MOMENTUM}`, snapshot.momentum);
  }
  return out;
}

/** The model's values and momentum, and the snapshots named in `snapshotNames`. */
export function decodeTensors(
  tensors: ReadonlyMap<string, Float32Array>,
  snapshotNames: readonly string[] = [],
): { current: Snapshot; snapshots: Map<string, Snapshot> } {
  const split = (map: ReadonlyMap<string, Float32Array>): Snapshot => ({
    weights: underPrefix(map, PARAM),
    momentum: underPrefix(map, MOMENTUM),
  });
  return {
    current: split(tensors),
    snapshots: new Map(
      snapshotNames.map((name) => [name, split(underPrefix(tensors, snapshotPrefix(name)))]),
    ),
  };
}
