/**
 * The manifest of a pruning artifact (docs/VERIFY.md): what a run saved, level by level, and
 * what it claims — method, scope, counting rule, distribution, rewind point. Without one, the
 * layout `level-<k>/{masks,weights,start,scores}.<npz|safetensors|npy>` (+ `rewind.*`) is read
 * and the rest is inferred, and the report says what was inferred.
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DISTRIBUTIONS } from '../core/densities.js';
import { COUNTING_RULES } from '../contracts/counting.js';
import { ArtifactError, TENSOR_FILE_EXTENSIONS } from './tensors.js';

export const ARTIFACT_METHODS = ['imp', 'wr', 'lrr', 'pai', 'sculpt', 'custom'] as const;

const levelSchema = z
  .object({
    /** Target sparsity of the prunable weights after this level's pruning (cumulative). */
    sparsity: z.number().min(0).max(1).optional(),
    /** Or: the fraction of the still-unpruned weights this level prunes (torch.nn.utils.prune's `amount`). */
    rate: z.number().min(0).max(1).optional(),
    /** The mask this level trains with (1 = kept). */
    masks: z.string().min(1),
    /** Weights at the end of this level's training. */
    weights: z.string().min(1).optional(),
    /** Weights this level's training started from. */
    start: z.string().min(1).optional(),
    /** Scores that chose this level's mask from the previous one (smaller = pruned first). */
    scores: z.string().min(1).optional(),
  })
  .strict()
  .refine((level) => level.sparsity === undefined || level.rate === undefined, {
    message: 'give sparsity or rate, not both',
  });

export const manifestSchema = z
  .object({
    format: z.literal('cyclesparse-pruning/1').optional(),
    method: z.enum(ARTIFACT_METHODS).default('custom'),
    scope: z.enum(['global', 'layerwise']).optional(),
    countingRule: z.enum(COUNTING_RULES).optional(),
    tieBreak: z.enum(['lowest-flat-index', 'unspecified']).optional(),
    distribution: z.enum(DISTRIBUTIONS).optional(),
    /** Prunable layers kept fully dense by the distribution. */
    denseLayers: z.array(z.string()).default([]),
    /** Axis order of weights, for ER's channel counts: PyTorch's [out, in, kh, kw] or TF's [kh, kw, in, out]. */
    layout: z.enum(['pytorch', 'tensorflow']).default('pytorch'),
    /** Tensors that are pruned; default: every tensor in the mask files. */
    prunable: z.array(z.string().min(1)).min(1).optional(),
    /** Pruned weights are stored as exact zeros in the weight files (false for orig + mask storage). */
    storedZero: z.boolean().default(true),
    /** Absolute tolerance for weight equalities (stored zeros, rewinding); 0 = exact. */
    tolerance: z.number().min(0).default(0),
    /** The mask before the first level (default all ones). */
    initialMasks: z.string().min(1).optional(),
    /** Weights each level rewinds to (IMP: the initialisation; WR: the rewind point). */
    rewind: z
      .object({ weights: z.string().min(1), point: z.string().optional() })
      .strict()
      .optional(),
    levels: z.array(levelSchema).min(1),
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;

export interface LoadedManifest {
  readonly manifest: Manifest;
  /** Directory the manifest's relative paths resolve against. */
  readonly root: string;
  /** Where it came from: a file, or "inferred from the directory layout". */
  readonly source: string;
  /** What was inferred rather than declared, for the report. */
  readonly inferred: string[];
}

const MANIFEST_NAMES = ['manifest.yaml', 'manifest.yml', 'manifest.json'];

/** Loads `path`: a manifest file, a directory holding one, or a directory in the level layout. */
export function loadManifest(path: string): LoadedManifest {
  if (!existsSync(path)) throw new ArtifactError(path, undefined, 'no such file or directory');
  if (statSync(path).isDirectory()) {
    const named = MANIFEST_NAMES.map((n) => join(path, n)).find((p) => existsSync(p));
    return named === undefined ? inferManifest(path) : readManifestFile(named);
  }
  return readManifestFile(path);
}

function readManifestFile(file: string): LoadedManifest {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ArtifactError(file, undefined, `unreadable manifest: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length === 0 ? 'manifest' : issue.path.join('.');
    throw new ArtifactError(file, undefined, `${where}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const inferred: string[] = [];
  if (manifest.scope === undefined) inferred.push('scope');
  if (manifest.countingRule === undefined) inferred.push('counting rule');
  if (manifest.prunable === undefined)
    inferred.push('prunable tensors (every tensor in the mask files)');
  return { manifest, root: dirname(resolve(file)), source: file, inferred };
}

/** The first file in `dir` named `stem` with a tensor extension, or a directory `stem/`. */
function findTensorFile(dir: string, stem: string): string | undefined {
  for (const ext of TENSOR_FILE_EXTENSIONS) {
    if (existsSync(join(dir, stem + ext))) return stem + ext;
  }
  if (existsSync(join(dir, stem)) && statSync(join(dir, stem)).isDirectory()) return stem;
  return undefined;
}

function inferManifest(dir: string): LoadedManifest {
  const levelDirs = readdirSync(dir)
    .map((name) => ({ name, match: /^level[-_]?(\d+)$/.exec(name) }))
    .filter((e) => e.match !== null && statSync(join(dir, e.name)).isDirectory())
    .sort((a, b) => Number(a.match![1]) - Number(b.match![1]));
  if (levelDirs.length === 0) {
    throw new ArtifactError(
      dir,
      undefined,
      `no manifest (${MANIFEST_NAMES.join(', ')}) and no level-<k>/ directories to infer one from`,
    );
  }
  const levels = levelDirs.map(({ name }) => {
    const at = join(dir, name);
    const file = (stem: string) => {
      const found = findTensorFile(at, stem);
      return found === undefined ? undefined : join(name, found);
    };
    const masks = file('masks');
    if (masks === undefined) {
      throw new ArtifactError(
        at,
        undefined,
        'no masks file (masks.npz, masks.safetensors or masks/*.npy)',
      );
    }
    const optional = Object.fromEntries(
      (['weights', 'start', 'scores'] as const)
        .map((stem) => [stem, file(stem)] as const)
        .filter(([, found]) => found !== undefined),
    );
    return { masks, ...optional };
  });
  const rewindFile = findTensorFile(dir, 'rewind');
  const manifest = manifestSchema.parse({
    levels,
    ...(rewindFile === undefined ? {} : { rewind: { weights: rewindFile } }),
  });
  return {
    manifest,
    root: resolve(dir),
    source: `inferred from the directory layout of ${dir}`,
    inferred: [
      'method (custom)',
      'target sparsities (taken from the masks, so exact counts are not checkable)',
      'scope',
      'counting rule',
      'prunable tensors (every tensor in the mask files)',
    ],
  };
}
