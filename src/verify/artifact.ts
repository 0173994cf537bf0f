/**
 * An artifact as the checks see it: its manifest, its prunable layers, and its levels read one
 * at a time. Only the level being checked and the one before it are held (`Level.before`), so
 * memory is about two levels of one model.
 */

import { resolve } from 'node:path';
import { layerSize, type LayerSpec, type WeightLayout } from '../core/mask.js';
import { maskValuesViolation, prunedIn } from '../contracts/checks.js';
import { offenceAt, type Offence } from './offence.js';
import { OpenClaims } from './claims.js';
import { loadManifest, type Manifest } from './manifest.js';
import { ArtifactError, readTensors, size, type Tensor } from './tensors.js';

export type Masks = Record<string, Uint8Array>;
export type Tensors = Map<string, Tensor>;

/** Tensors read from one file, every prunable tensor present with its mask's shape. */
export interface TensorFile {
  readonly file: string;
  readonly tensors: Tensors;
}

export interface PrunedCounts {
  /** Pruned weights of each layer, in the layers' order. */
  readonly perLayer: readonly number[];
  readonly total: number;
}

/** What is kept of the level before (or of the initial masks, before the first level). */
export interface Before {
  readonly masks: Masks;
  readonly pruned: PrunedCounts;
  /** Its end weights, where given. */
  readonly weights: TensorFile | undefined;
}

/** One level whose masks are 0/1 masks of every prunable tensor. */
export interface Level {
  /** Its position in the manifest. */
  readonly index: number;
  /** The manifest's entry: target sparsity or rate, file names. */
  readonly entry: Manifest['levels'][number];
  readonly masksFile: string;
  readonly masks: Masks;
  readonly pruned: PrunedCounts;
  /** End weights, start weights and scores, where given. */
  readonly weights: TensorFile | undefined;
  readonly start: TensorFile | undefined;
  readonly scores: TensorFile | undefined;
  readonly before: Before;
}

export interface Artifact {
  readonly manifest: Manifest;
  /** The manifest file, or how the manifest was inferred. */
  readonly source: string;
  /** What was inferred rather than declared. */
  readonly inferred: readonly string[];
  /** The prunable tensors, shaped as the first level's masks have them. */
  readonly layers: readonly LayerSpec[];
  /** Prunable weights in all. */
  readonly total: number;
  /** The weights each level rewinds to, where given. */
  readonly rewind: TensorFile | undefined;
  /** The mask before the first level: declared, or all ones. */
  readonly initial: Before;
  /** Scopes and counting rules still open; `counts` and `score-order` narrow them level by level. */
  readonly claims: OpenClaims;
  /** The manifest's path resolved against its directory. */
  readonly at: (file: string) => string;
  /** The first level's mask file, already read for the layers' shapes. */
  readonly firstMasks: Tensors;
}

/** Admits a level's mask tensors as 0/1 masks, or reports why not and refuses them. */
export type AdmitMasks = (tensors: Tensors, file: string, index: number) => Masks | undefined;

/** Reads the manifest, the layers, the initial masks and the rewind weights. */
export function openArtifact(path: string): Artifact {
  const { manifest, root, source, inferred } = loadManifest(path);
  const at = (file: string) => resolve(root, file);
  const firstFile = at(manifest.levels[0]!.masks);
  const firstMasks = readTensors(firstFile);
  const names = manifest.prunable ?? [...firstMasks.keys()];
  for (const name of names) {
    if (!firstMasks.has(name)) {
      throw new ArtifactError(
        firstFile,
        name,
        `declared prunable but absent (it has ${[...firstMasks.keys()].join(', ')})`,
      );
    }
  }
  const layers: LayerSpec[] = names.map((name) => {
    const shape = firstMasks.get(name)!.shape;
    const layout = layoutOf(manifest, shape);
    return layout === undefined ? { name, shape } : { name, shape, layout };
  });
  const masks = manifest.initialMasks
    ? initialMasks(at(manifest.initialMasks), layers)
    : Object.fromEntries(layers.map((l) => [l.name, new Uint8Array(layerSize(l)).fill(1)]));
  return {
    manifest,
    source,
    inferred,
    layers,
    total: layers.reduce((s, l) => s + layerSize(l), 0),
    rewind: manifest.rewind && readWeights(at(manifest.rewind.weights), layers),
    initial: { masks, pruned: prunedCounts(layers, masks), weights: undefined },
    claims: new OpenClaims(manifest),
    at,
    firstMasks,
  };
}

/** The levels in order, each read once the one before has been checked; `admit` turns away bad masks. */
export function* readLevels(artifact: Artifact, admit: AdmitMasks): Generator<Level> {
  const { manifest, layers, at } = artifact;
  const read = (file: string | undefined) =>
    file === undefined ? undefined : readWeights(at(file), layers);
  let before = artifact.initial;
  for (const [index, entry] of manifest.levels.entries()) {
    const masksFile = at(entry.masks);
    const tensors = index === 0 ? artifact.firstMasks : readTensors(masksFile);
    const masks = admit(tensors, masksFile, index);
    if (masks === undefined) continue; // the other checks need 0/1 masks
    const pruned = prunedCounts(layers, masks);
    const weights = read(entry.weights);
    const start = read(entry.start);
    const scores = read(entry.scores);
    yield { index, entry, masksFile, masks, pruned, weights, start, scores, before };
    before = { masks, pruned, weights };
  }
}

function prunedCounts(layers: readonly LayerSpec[], masks: Masks): PrunedCounts {
  const perLayer = layers.map((l) => prunedIn(masks[l.name]!));
  return { perLayer, total: perLayer.reduce((a, b) => a + b, 0) };
}

function layoutOf(manifest: Manifest, shape: readonly number[]): WeightLayout | undefined {
  if (shape.length === 2) return manifest.layout === 'pytorch' ? 'oi' : 'io';
  if (shape.length === 4) return manifest.layout === 'pytorch' ? 'oihw' : 'hwio';
  return undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The declared mask before the first level: it must be valid for anything to be checked. */
function initialMasks(file: string, layers: readonly LayerSpec[]): Masks {
  const read = readMasks(readTensors(file), file, layers, -1);
  if ('fault' in read) throw new ArtifactError(file, read.fault.where.layer, read.fault.detail);
  return read.masks;
}

/** Mask tensors as 0/1 bytes, or the first reason they are not (level -1: the initial masks). */
export function readMasks(
  tensors: Tensors,
  file: string,
  layers: readonly LayerSpec[],
  level: number,
): { masks: Masks } | { fault: { detail: string; where: Offence } } {
  const at = level < 0 ? 'initial masks' : `level ${level}`;
  const fault = (detail: string, where: { layer?: string; index?: number }) => ({
    fault: { detail: `${at}: ${detail}`, where: offenceAt(level, file, where) },
  });
  const raw: Record<string, ArrayLike<number>> = {};
  for (const layer of layers) {
    const t = tensors.get(layer.name);
    if (t === undefined)
      return fault(`${file} has no mask for ${layer.name}`, { layer: layer.name });
    if (!sameShape(t.shape, layer.shape)) {
      return fault(
        `${layer.name} has shape [${t.shape.join(', ')}], expected [${layer.shape.join(', ')}]`,
        { layer: layer.name },
      );
    }
    raw[layer.name] = t.values;
  }
  const bad = maskValuesViolation(layers, raw);
  if (bad) return fault(bad.message, bad);
  return { masks: Object.fromEntries(layers.map((l) => [l.name, Uint8Array.from(raw[l.name]!)])) };
}

/** Weight-like tensors (weights, scores) must hold every prunable tensor with its shape. */
function readWeights(file: string, layers: readonly LayerSpec[]): TensorFile {
  const tensors = readTensors(file);
  for (const layer of layers) {
    const t = tensors.get(layer.name);
    if (t === undefined)
      throw new ArtifactError(file, layer.name, 'missing (every prunable tensor is needed)');
    if (!sameShape(t.shape, layer.shape)) {
      throw new ArtifactError(
        file,
        layer.name,
        `shape [${t.shape.join(', ')}] differs from its mask's [${layer.shape.join(', ')}]`,
      );
    }
    if (size(t.shape) !== t.values.length)
      throw new ArtifactError(file, layer.name, 'value count differs from the shape');
  }
  return { file, tensors };
}
