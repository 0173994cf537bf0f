/**
 * From a configuration file to resolved runs and their ids.
 *
 * - A file is YAML (or JSON): an optional `extends: <preset>`, the run settings (model, data,
 *   training, method, seed), and, for sweeps, a `sweep` of methods × sparsities × seeds.
 * - Resolving fills every default; the stored configuration is the resolved one.
 * - The run id is a hash of the canonical JSON of the resolved configuration with defaults
 *   omitted and keys sorted (as open_lth does): adding an option with a default later does not
 *   change the id of any stored run. A regression test freezes ids.
 */

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { CyclesparseError } from '../core/errors.js';
import type { BackendName, Precision } from '../engine/engine.js';
import { conventionsOf, type ConventionRule, type Conventions } from '../core/conventions.js';
import { shapeHasBoundaries } from '../core/lr-schedule.js';
import {
  conventionsUsed,
  ownOptions,
  requiredOptions,
  withScorerOptions,
  type MethodDefinition,
} from '../methods/method.js';
import { METHODS, methodNamed } from '../methods/registry.js';
import { MODELS_WITH_STEMS } from '../models/zoo.js';
import { keysAt, resolveKey, setPath } from './keys.js';
import { cycleShapeOf, shapeProblems } from './lr-shape.js';
import { PRESETS, PRESET_NAMES } from './presets.js';
import {
  defaultResize,
  DEFAULT_IMAGE_SIZE,
  isFileDatasetName,
  runConfigSchema,
  sweepSchema,
  type MethodConfig,
  type RunConfig,
  type SweepConfig,
} from './schema.js';
import { nearest } from './suggest.js';

/** Bad configuration: every problem with its path, one a line. Exit code 2 in the CLI. */
export class ConfigError extends CyclesparseError {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super('invalid-argument', `${source}: invalid configuration\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Input = Record<string, unknown>;

function path(segments: readonly PropertyKey[]): string {
  return segments.reduce<string>(
    (out, s) =>
      typeof s === 'number' ? `${out}[${s}]` : out === '' ? String(s) : `${out}.${String(s)}`,
    '',
  );
}

/**
 * One line per zod issue, its path first; an unknown key gets the nearest known key of its
 * section ("did you mean") — of the method the input names, for method options.
 */
export function issueLines(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  prefix: readonly PropertyKey[] = [],
): string[] {
  return issues.flatMap((issue): string[] => {
    const at = [...prefix, ...issue.path];
    // A value matching none of a union's forms (a name or a section, as training.shape): the
    // problems of the one form of the value's type say more than zod's "Invalid input".
    if (issue.code === 'invalid_union') {
      const without = (branches: typeof issue.errors, code: string) =>
        branches.filter((branch) => !branch.some((i) => i.path.length === 0 && i.code === code));
      const typed = without(issue.errors, 'invalid_type');
      const fitting = typed.length > 1 ? without(typed, 'invalid_value') : typed;
      if (fitting.length === 1) return issueLines(fitting[0]!, input, at);
    }
    const line = `${at.length === 0 ? '(top level)' : path(at)}: ${issue.message}`;
    if (issue.code !== 'unrecognized_keys') return [line];
    const known = knownKeys(at, input);
    if (known === undefined) return [line];
    const hints = issue.keys.flatMap((key) => {
      const near = nearest(key, known);
      return near === undefined ? [] : [issue.keys.length === 1 ? near : `${near} for ${key}`];
    });
    return [hints.length === 0 ? line : `${line} (did you mean ${hints.join(', ')}?)`];
  });
}

/** The keys the section at `at` of a configuration document takes. */
function knownKeys(at: readonly PropertyKey[], input: unknown): readonly string[] | undefined {
  if (at.length === 1 && at[0] === 'method' && isRecord(input) && isRecord(input.method)) {
    const method = METHODS.find((m) => m.name === (input.method as Input).name);
    if (method !== undefined) return ['name', ...Object.keys(method.options.shape)];
  }
  return keysAt(at);
}

function isRecord(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, anything else in `over` replaces `base`. */
export function merge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const out: Input = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = merge(base[key], value);
  return out;
}

/**
 * Aliases a document may expand. yaml's own default (100) stops exponential "billion laughs"
 * documents; a configuration needs a handful.
 */
export const MAX_ALIASES = 100;
/** Largest configuration or claims file read (a config is a few hundred bytes). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Parses YAML with errors that carry line and column. */
export function parseConfigText(text: string, source: string): Input {
  const document = YAML.parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map(
        (e) =>
          `line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`,
      ),
    );
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    // An alias expanding past the limit (a resource exhaustion attack) or an alias cycle.
    throw new ConfigError(source, [
      `${(error as Error).message.split('\n')[0]} (at most ${MAX_ALIASES} aliases are expanded)`,
    ]);
  }
  if (!isRecord(value)) throw new ConfigError(source, ['expected a mapping at the top level']);
  return value;
}

/**
 * The text of a configuration (or claims, or results) file: a regular file of at most
 * {@link MAX_CONFIG_BYTES}, so `/dev/zero`, a FIFO or a directory is refused naming the path
 * instead of being read without end.
 */
export function readConfigText(file: string): string {
  try {
    const stat = statSync(file);
    if (!stat.isFile())
      throw new ConfigError(file, [
        `expected a regular file, got ${stat.isDirectory() ? 'a directory' : 'a device, pipe or socket'}`,
      ]);
    if (stat.size > MAX_CONFIG_BYTES)
      throw new ConfigError(file, [
        `expected a file of at most ${MAX_CONFIG_BYTES} bytes, got ${stat.size} bytes`,
      ]);
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
}

export function loadConfigFile(file: string): Input {
  return parseConfigText(readConfigText(file), file);
}

/** The input with its preset (if any) merged underneath. */
function withPreset(input: Input, source: string): Input {
  const { extends: preset, name: _label, sweep: _sweep, ...rest } = input;
  if (preset === undefined) return rest;
  if (typeof preset !== 'string' || !(PRESET_NAMES as string[]).includes(preset)) {
    throw new ConfigError(source, [
      `extends: expected one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(preset)}`,
    ]);
  }
  return merge(PRESETS[preset as keyof typeof PRESETS], rest) as Input;
}

function crossChecks(config: RunConfig): string[] {
  const problems: string[] = shapeProblems(config.training.shape, config.training.epochsPerCycle);
  const { issues } = withScorerOptions(methodNamed(config.method.name), ownOptions(config.method));
  const method = methodNamed(config.method.name) as MethodDefinition<string, object>;
  for (const issue of [...issues, ...(method.check?.(ownOptions(config.method)) ?? [])])
    problems.push(`method${issue.path === '' ? '' : `.${issue.path}`}: expected ${issue.expected}`);
  if (config.model.stem !== undefined && !MODELS_WITH_STEMS.includes(config.model.name)) {
    problems.push(
      `model.stem: expected no stem for ${config.model.name} (only ${MODELS_WITH_STEMS.join(' and ')} take one)`,
    );
  }
  for (const field of ['device', 'precision'] as const) {
    if (config.training.backend !== 'torch' && config.training[field] !== undefined)
      problems.push(
        `training.${field}: expected no ${field} for backend ${config.training.backend} (only backend torch takes one)`,
      );
  }
  if (
    (config.data.dataset === 'cifar10' || config.data.dataset === 'cifar100') &&
    config.data.dir === undefined
  ) {
    problems.push(
      `data.dir: expected the directory of the ${config.data.dataset} binary files (CIFAR cannot be downloaded on every machine)`,
    );
  }
  return [...problems, ...dataProblems(config.data)];
}

/**
 * The rules of the file data sets (ImageNet, folder) against the pixel ones: image size and
 * resize only where images are resized, each augmentation only on the data it is defined for.
 */
function dataProblems(data: RunConfig['data']): string[] {
  const problems: string[] = [];
  if (!isFileDatasetName(data.dataset)) {
    for (const field of ['imageSize', 'resize'] as const)
      if (data[field] !== undefined)
        problems.push(
          `data.${field}: expected no ${field} for data set ${data.dataset} (only imagenet and folder data are resized; ${data.dataset} images have one size)`,
        );
    if (data.augmentation === 'random-resized-crop-flip')
      problems.push(
        `data.augmentation: expected none or crop-flip for data set ${data.dataset} (random-resized-crop-flip is for imagenet and folder data)`,
      );
    return problems;
  }
  if (data.dir === undefined)
    problems.push(
      `data.dir: expected the directory of the ${data.dataset} images (train/ and val/ class folders, or train.txt and val.txt lists)`,
    );
  if (data.augmentation === 'crop-flip')
    problems.push(
      `data.augmentation: expected none or random-resized-crop-flip for data set ${data.dataset} (crop-flip pads and crops images of one size: CIFAR)`,
    );
  if (data.imageSize !== undefined && data.resize !== undefined && data.resize < data.imageSize)
    problems.push(
      `data.resize: expected at least data.imageSize (${data.imageSize}): the centre crop is taken from the resized image, got ${data.resize}`,
    );
  return problems;
}

/**
 * The data section with its defaults: an augmentation for every data set; an image size and a
 * resize for file data sets only (absent elsewhere, so the resolved configurations, and the run
 * ids, of the pixel data sets are what they were before file data sets existed).
 */
function dataDefaults(data: RunConfig['data']): RunConfig['data'] {
  if (!isFileDatasetName(data.dataset))
    return {
      ...data,
      augmentation: data.augmentation ?? (data.dataset.startsWith('cifar') ? 'crop-flip' : 'none'),
    };
  const imageSize = data.imageSize ?? DEFAULT_IMAGE_SIZE;
  return {
    ...data,
    augmentation: data.augmentation ?? 'random-resized-crop-flip',
    imageSize,
    resize: data.resize ?? defaultResize(imageSize),
  };
}

/** Validates the schema and fills every default (without the checks across fields). */
function fillDefaults(input: Input, source: string): RunConfig {
  const document = withPreset(input, source);
  const parsed = runConfigSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(source, issueLines(parsed.error.issues, document));
  const config = parsed.data;
  const conventions = resolveConventions(config, source);
  const training =
    config.training.backend === 'torch'
      ? {
          ...config.training,
          device: config.training.device ?? 'cuda',
          precision: config.training.precision ?? 'fp32',
        }
      : config.training;
  return {
    ...config,
    training,
    conventions,
    method: withScorerDefaults(config.method),
    data: dataDefaults(config.data),
  };
}

/**
 * The convention rules the run uses (its method's, plus the LR boundaries where its shape has
 * any), filled from the preset; a rule named explicitly that the run would not use is refused.
 */
function resolveConventions(config: RunConfig, source: string): Partial<Conventions> {
  const { preset = 'cyclesparse', ...explicit } = config.conventions ?? {};
  const rules = conventionsOf(preset, explicit);
  const used = conventionsUsed(methodNamed(config.method.name), ownOptions(config.method));
  if (shapeHasBoundaries(cycleShapeOf(config.training.shape))) used.push('lrBoundaries');
  const unused = Object.keys(explicit).filter((rule) => !used.includes(rule as ConventionRule));
  if (unused.length > 0)
    throw new ConfigError(
      source,
      unused.map(
        (rule) =>
          `conventions.${rule}: expected no ${rule} for method ${config.method.name} with shape ${typeof config.training.shape === 'string' ? config.training.shape : JSON.stringify(config.training.shape)} (it uses ${used.length === 0 ? 'no convention rule' : used.join(', ')}; a preset name such as conventions: torch is always accepted)`,
      ),
    );
  return Object.fromEntries(used.map((rule) => [rule, rules[rule]]));
}

/**
 * A method that names a scorer, with the defaults of that scorer's options filled in (the others
 * stay absent: they would do nothing). An option of another scorer is left for the cross-field
 * checks to refuse.
 */
function withScorerDefaults(method: MethodConfig): MethodConfig {
  const { options } = withScorerOptions(methodNamed(method.name), ownOptions(method));
  return { ...options, name: method.name } as MethodConfig;
}

/** Validates and fills every default of one run's configuration. */
export function resolveRun(input: Input, source = 'config'): RunConfig {
  const resolved = fillDefaults(input, source);
  const problems = crossChecks(resolved);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return resolved;
}

/** Which engine to run on instead of the one a configuration names (any field may be left out). */
export interface EngineOverride {
  readonly backend?: BackendName | undefined;
  readonly device?: string | undefined;
  readonly precision?: Precision | undefined;
}

/**
 * `config` on another engine: a new backend drops the old one's device and precision, and the
 * result is validated and resolved again (a device for a TF.js backend is refused, naming it).
 */
export function withEngine(config: RunConfig, override: EngineOverride): RunConfig {
  if (Object.values(override).every((v) => v === undefined)) return config;
  const { device, precision, ...rest } = config.training;
  const switched = override.backend !== undefined && override.backend !== config.training.backend;
  const training = {
    ...rest,
    ...(switched ? {} : { device, precision }),
    ...Object.fromEntries(Object.entries(override).filter(([, v]) => v !== undefined)),
  };
  return resolveRun({ ...config, training }, 'engine override (--backend/--device/--precision)');
}

/** The fields of a method that have no default (they identify the run), from a resolved method. */
function methodSkeleton(method: MethodConfig): Input {
  const required = requiredOptions(methodNamed(method.name));
  return {
    name: method.name,
    ...Object.fromEntries(required.map((key) => [key, (method as Input)[key]])),
  };
}

/** The resolved configuration with every value equal to its default removed. */
export function withoutDefaults(config: RunConfig): Json {
  // The fields without a default identify the run: they are kept whatever their value.
  const skeleton = {
    model: { name: config.model.name },
    data: { dataset: config.data.dataset, ...(config.data.dir ? { dir: config.data.dir } : {}) },
    method: methodSkeleton(config.method),
  };
  const defaults = fillDefaults(skeleton, 'defaults');
  const strip = (value: unknown, fallback: unknown): Json | undefined => {
    if (isRecord(value)) {
      const out: { [key: string]: Json } = {};
      for (const key of Object.keys(value).sort()) {
        const kept = strip(value[key], isRecord(fallback) ? fallback[key] : undefined);
        if (kept !== undefined) out[key] = kept;
      }
      return Object.keys(out).length === 0 && isRecord(fallback) ? undefined : out;
    }
    return JSON.stringify(value) === JSON.stringify(fallback) ? undefined : (value as Json);
  };
  const canonical = merge(strip(config, defaults) ?? {}, skeleton) as {
    data: Input;
    training?: Input;
  };
  // Where the data sits, and which of a machine's GPUs runs it, is not what was computed: the
  // same run elsewhere keeps its id. A folder data set is the exception: its directory is what
  // names it (two folders are two data sets, whose runs must not share ids), by its absolute,
  // normalised path: `./x` and `x` are one folder, `x` from two working directories two.
  if (config.data.dataset !== 'folder') delete canonical.data.dir;
  else if (typeof canonical.data.dir === 'string')
    canonical.data.dir = resolvePath(canonical.data.dir);
  if (typeof canonical.training?.device === 'string')
    canonical.training.device = canonical.training.device.replace(/^cuda:\d+$/, 'cuda');
  return canonical as unknown as Json;
}

/** Canonical JSON: sorted keys at every level, no whitespace. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `<method>-<16 hex of sha256(canonical JSON without defaults)>`. */
export function runId(config: RunConfig): string {
  const hash = createHash('sha256')
    .update(canonicalJson(withoutDefaults(config)))
    .digest('hex');
  return `${config.method.name}-${hash.slice(0, 16)}`;
}

/** One assignment of a sweep's grid and zip keys: the key paths to set and their values. */
interface SweepPoint {
  readonly sets: readonly {
    readonly key: string;
    readonly path: readonly string[];
    readonly value: unknown;
  }[];
}

/**
 * The points of a sweep's `grid` (every combination, the last key varying fastest) crossed with
 * its `zip` rows (the i-th value of every list together). Keys are checked against the
 * configuration's fields; zip lists of different lengths, a key in both sections, or a key the
 * sweep already varies (`seed` with `seeds`) are refused naming the keys.
 */
function sweepPoints(sweep: SweepConfig, source: string): SweepPoint[] {
  const grid = Object.entries(sweep.grid ?? {});
  const zip = Object.entries(sweep.zip ?? {});
  const problems: string[] = [];
  const resolved = new Map<string, readonly string[]>();
  for (const [section, entries] of [
    ['grid', grid],
    ['zip', zip],
  ] as const) {
    for (const [key] of entries) {
      try {
        const keyPath = resolveKey(key);
        if (keyPath[0] === 'sweep')
          problems.push(
            `sweep.${section}.${key}: expected a key of the run configuration, not of the sweep`,
          );
        resolved.set(key, keyPath);
      } catch (error) {
        problems.push(`sweep.${section}.${(error as Error).message}`);
      }
    }
  }
  for (const [key] of zip)
    if (sweep.grid?.[key] !== undefined)
      problems.push(`sweep.zip.${key}: also in sweep.grid (a key is swept in one of them)`);
  for (const [section, entries] of [
    ['grid', grid],
    ['zip', zip],
  ] as const) {
    for (const [key] of entries) {
      if (key === 'seed' && sweep.seeds !== undefined)
        problems.push(`sweep.${section}.seed: the sweep already sets seed from sweep.seeds`);
      if (key === 'method' && sweep.methods !== undefined)
        problems.push(`sweep.${section}.method: the sweep already sets method from sweep.methods`);
    }
  }
  const lengths = new Set(zip.map(([, values]) => values.length));
  if (lengths.size > 1)
    problems.push(
      `sweep.zip: expected lists of one length, got ${zip.map(([key, values]) => `${key} (${values.length})`).join(', ')}`,
    );
  if (problems.length > 0) throw new ConfigError(source, problems);
  let points: SweepPoint[] = [{ sets: [] }];
  for (const [key, values] of grid)
    points = points.flatMap((point) =>
      values.map((value) => ({ sets: [...point.sets, { key, path: resolved.get(key)!, value }] })),
    );
  if (zip.length > 0) {
    const rows = zip[0]![1].length;
    points = points.flatMap((point) =>
      Array.from({ length: rows }, (_, r) => ({
        sets: [
          ...point.sets,
          ...zip.map(([key, values]) => ({ key, path: resolved.get(key)!, value: values[r] })),
        ],
      })),
    );
  }
  return points;
}

/**
 * Every run a file describes: one, or the cells of its sweep (methods × sparsities × grid × zip
 * × seeds).
 */
export function resolveRuns(input: Input, source = 'config'): RunConfig[] {
  if (input.sweep === undefined) return [resolveRun(input, source)];
  const sweep = sweepSchema.safeParse(input.sweep);
  if (!sweep.success)
    throw new ConfigError(source, issueLines(sweep.error.issues, input, ['sweep']));
  const { methods, sparsities, seeds } = sweep.data;
  const points = sweepPoints(sweep.data, source);
  const base = isRecord(input.method) ? input.method : {};
  const runs: RunConfig[] = [];
  const seen = new Set<string>();
  (methods ?? [{}]).forEach((override, m) => {
    for (const sparsity of sparsities ?? [undefined]) {
      for (const point of points) {
        for (const seed of seeds ?? [undefined]) {
          // An override naming another method replaces the base method instead of merging into it.
          const method = (
            override.name !== undefined && override.name !== base.name
              ? { ...override }
              : merge(base, override)
          ) as Input;
          const target = METHODS.find((d) => d.name === method.name)?.target;
          if (sparsity !== undefined && target !== undefined) {
            method[target.field] = sparsity;
            for (const field of target.replaces ?? []) delete method[field];
          }
          let cell: Input = { ...input, method, ...(seed === undefined ? {} : { seed }) };
          const where = [
            `sweep.methods[${m}]`,
            ...(sparsity === undefined ? [] : [`sparsity ${sparsity}`]),
            ...point.sets.map((set) => `${set.key}=${JSON.stringify(set.value)}`),
            ...(seed === undefined ? [] : [`seed ${seed}`]),
          ];
          const at = `${source} (${where.join(', ')})`;
          try {
            for (const set of point.sets) cell = setPath(cell, set.path, set.value);
          } catch (error) {
            throw new ConfigError(at, [(error as Error).message]);
          }
          const run = resolveRun(cell, at);
          const id = runId(run);
          if (!seen.has(id)) runs.push(run); // dense methods ignore sparsity: one run, not one per sparsity
          seen.add(id);
        }
      }
    }
  });
  return runs;
}
