/**
 * An artifact as the checks see it: its manifest, its prunable layers, and its levels read one
 * at a time. Only the level being checked and the one before it are held (`Level.before`), so
 * memory is about two levels of one model.
 */

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { layerSize, type LayerSpec, type WeightLayout } from '../core/mask.js';
import { maskValuesViolation, prunedIn } from '../contracts/checks.js';
import { offenceAt, type Offence } from './offence.js';
import { OpenClaims } from './claims.js';
import { loadManifest, type Manifest } from './manifest.js';
import { refusedPath } from './paths.js';
import { ArtifactError, readTensors, size, type ReadOptions, type Tensor } from './tensors.js';

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
  /**
   * The manifest's path `file` (its field `field`) resolved against the artifact's directory;
   * refused when it leads outside it, unless that was allowed.
   */
  readonly at: (file: string, field: string) => string;
  /** Reads a tensor file within the artifact's limits ({@link VerifyOptions}). */
  readonly read: (file: string) => Tensors;
  /** The first level's mask file, already read for the layers' shapes. */
  readonly firstMasks: Tensors;
}

/** Admits a level's mask tensors as 0/1 masks, or reports why not and refuses them. */
export type AdmitMasks = (tensors: Tensors, file: string, index: number) => Masks | undefined;

/** What `verify` may read (docs/VERIFY.md, "Limits"). */
export interface VerifyOptions {
  /**
   * Read files the manifest names outside the artifact's directory: absolute paths, paths
   * through `..`, symlinks that lead out (CLI: `--allow-outside`). Devices and FIFOs are never read.
   */
  readonly allowOutside?: boolean;
  /** Most bytes of tensor data one file may hold (default 4 GiB; CLI: `--max-bytes`). */
  readonly maxBytes?: number;
}

/** Reads the manifest, the layers, the initial masks and the rewind weights. */
export function openArtifact(path: string, options: VerifyOptions = {}): Artifact {
  const { manifest, root, source, inferred } = loadManifest(path);
  const allowOutside = options.allowOutside ?? false;
  const at = (file: string, field: string) => {
    const resolved = resolve(root, file);
    const refused = allowOutside ? undefined : refusedPath(root, file);
    if (refused !== undefined) {
      throw new ArtifactError(
        resolved,
        undefined,
        `${field} (${JSON.stringify(file)} in ${source}) ${refused}; verify reads only files ` +
          `inside the artifact's directory ${root} unless --allow-outside is given`,
      );
    }
    return resolved;
  };
  const limits: ReadOptions = {
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    ...(allowOutside ? {} : { within: realpathSync(root) }),
  };
  const read = (file: string) => readTensors(file, limits);
  const firstFile = at(manifest.levels[0]!.masks, 'levels[0].masks');
  const firstMasks = read(firstFile);
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
  const initialFile = manifest.initialMasks && at(manifest.initialMasks, 'initialMasks');
  const masks = initialFile
    ? initialMasks(read(initialFile), initialFile, layers)
    : Object.fromEntries(layers.map((l) => [l.name, new Uint8Array(layerSize(l)).fill(1)]));
  return {
    manifest,
    source,
    inferred,
    layers,
    total: layers.reduce((s, l) => s + layerSize(l), 0),
    rewind:
      manifest.rewind && readWeights(read, at(manifest.rewind.weights, 'rewind.weights'), layers),
    initial: { masks, pruned: prunedCounts(layers, masks), weights: undefined },
    claims: new OpenClaims(manifest),
    at,
    read,
    firstMasks,
  };
}

/** The levels in order, each read once the one before has been checked; `admit` turns away bad masks. */
export function* readLevels(artifact: Artifact, admit: AdmitMasks): Generator<Level> {
  const { manifest, layers, at } = artifact;
  let before = artifact.initial;
  for (const [index, entry] of manifest.levels.entries()) {
    const read = (field: 'weights' | 'start' | 'scores') => {
      const file = entry[field];
      return file === undefined
        ? undefined
        : readWeights(artifact.read, at(file, `levels[${index}].${field}`), layers);
    };
    const masksFile = at(entry.masks, `levels[${index}].masks`);
    const tensors = index === 0 ? artifact.firstMasks : artifact.read(masksFile);
    const masks = admit(tensors, masksFile, index);
    if (masks === undefined) continue; // the other checks need 0/1 masks
    const pruned = prunedCounts(layers, masks);
    const weights = read('weights');
    const start = read('start');
    const scores = read('scores');
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
function initialMasks(tensors: Tensors, file: string, layers: readonly LayerSpec[]): Masks {
  const read = readMasks(tensors, file, layers, -1);
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
function readWeights(
  read: (file: string) => Tensors,
  file: string,
  layers: readonly LayerSpec[],
): TensorFile {
  const tensors = read(file);
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
