/**
 * `cyclesparse verify`: the pruning contract's invariants checked on what another framework
 * saved. The per-step checks are the contract's own functions (contracts/checks.ts,
 * contracts/distribution.ts), so an artifact is held to exactly what the property suites hold
 * cyclesparse's pruners to. Levels are read one at a time: only the previous level's masks and
 * weights are kept, so memory is about two levels of one model.
 */

import { resolve } from 'node:path';
import { layerSize, type LayerSpec, type WeightLayout } from '../core/mask.js';
import type { Scope } from '../core/prune.js';
import {
  countingRulesMatching,
  maskValuesViolation,
  prunedIn,
  revivalViolation,
  scoreOrderViolation,
  tieBreakViolation,
  tieResolution,
  type PruningStep,
  type TieResolution,
} from '../contracts/checks.js';
import { COUNTING_RULES, prunedCountBy, type CountingRule } from '../contracts/counting.js';
import { proportionalityViolation } from '../contracts/distribution.js';
import { loadManifest, type Manifest } from './manifest.js';
import { ArtifactError, readTensors, size, type Tensor } from './tensors.js';

export const CHECKS = {
  masks: 'binary masks with the expected names and shapes',
  counts: 'exact pruned count at every level',
  monotone: 'masks only shrink from level to level',
  'stored-zero': 'pruned weights are stored as zeros',
  rewind: 'each level starts from its rewind weights ⊙ its mask',
  distribution: 'per-layer densities follow the declared distribution',
  'score-order': 'every pruned score ≤ every kept score',
  collapse: 'no prunable layer is pruned away entirely',
} as const;
export type CheckId = keyof typeof CHECKS;
export type CheckStatus = 'pass' | 'fail' | 'not-checkable';

export interface Offence {
  readonly level: number;
  readonly file?: string | undefined;
  readonly layer?: string;
  readonly index?: number;
}

export interface CheckOutcome {
  readonly id: CheckId;
  readonly title: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** The first offending level, file, tensor and flat index, for a failure. */
  readonly where?: Offence;
}

export interface VerifyReport {
  readonly artifact: string;
  readonly manifest: string;
  readonly inferred: readonly string[];
  readonly method: Manifest['method'];
  readonly levels: number;
  readonly layers: number;
  readonly weights: number;
  /** Observed sparsity of the prunable weights at each level. */
  readonly sparsities: readonly number[];
  readonly checks: readonly CheckOutcome[];
  /** True when every checkable invariant holds. */
  readonly passed: boolean;
  readonly seconds: number;
}

type Masks = Record<string, Uint8Array>;

/** What one check has seen so far: its first failure, how many levels it could check, notes. */
class Tally {
  failure: { detail: string; where: Offence } | undefined;
  checked = 0;
  readonly notes: string[] = [];
  fail(detail: string, where: Offence): void {
    this.failure ??= { detail, where };
  }
}

const MAGNITUDE_METHODS = new Set<Manifest['method']>(['imp', 'wr', 'lrr', 'sculpt']);

function layoutOf(manifest: Manifest, shape: readonly number[]): WeightLayout | undefined {
  if (shape.length === 2) return manifest.layout === 'pytorch' ? 'oi' : 'io';
  if (shape.length === 4) return manifest.layout === 'pytorch' ? 'oihw' : 'hwio';
  return undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function verifyArtifact(path: string): VerifyReport {
  const started = performance.now();
  const { manifest, root, source, inferred } = loadManifest(path);
  const at = (file: string) => resolve(root, file);
  const tally = Object.fromEntries(Object.keys(CHECKS).map((id) => [id, new Tally()])) as Record<
    CheckId,
    Tally
  >;
  const tolerance = manifest.tolerance;

  // Layers: the prunable tensors, shaped as the first level's masks have them.
  const firstFile = at(manifest.levels[0]!.masks);
  const first = readTensors(firstFile);
  const names = manifest.prunable ?? [...first.keys()];
  for (const name of names) {
    if (!first.has(name)) {
      throw new ArtifactError(
        firstFile,
        name,
        `declared prunable but absent (it has ${[...first.keys()].join(', ')})`,
      );
    }
  }
  const layers: LayerSpec[] = names.map((name) => {
    const shape = first.get(name)!.shape;
    const layout = layoutOf(manifest, shape);
    return layout === undefined ? { name, shape } : { name, shape, layout };
  });
  const total = layers.reduce((s, l) => s + layerSize(l), 0);

  let previous: Masks = manifest.initialMasks
    ? initialMasks(at(manifest.initialMasks), layers)
    : Object.fromEntries(layers.map((l) => [l.name, new Uint8Array(layerSize(l)).fill(1)]));
  // Pruned weights per layer of `previous`, carried from level to level.
  let previousPruned = layers.map((l) => prunedIn(previous[l.name]!));
  let previousWeights: Map<string, Tensor> | undefined;
  const rewind = manifest.rewind ? readTensors(at(manifest.rewind.weights)) : undefined;
  if (rewind !== undefined) requireWeights(rewind, at(manifest.rewind!.weights), layers);

  let rewindSource: RewindSource | undefined = REWINDS_TO[manifest.method];
  // The scopes and counting rules every level so far is consistent with. A level that cannot
  // tell (level 0 at sparsity 0, or counts that match both scopes) keeps both scopes open.
  const declaredRules: CountingRule[] = manifest.countingRule
    ? [manifest.countingRule]
    : [...COUNTING_RULES];
  let candidates = new Map<Scope, CountingRule[]>(
    (manifest.scope ? [manifest.scope] : (['global', 'layerwise'] as const)).map((s) => [
      s,
      declaredRules,
    ]),
  );
  /** The scope, once only one is left. */
  const decided = (): Scope | undefined =>
    candidates.size === 1 ? candidates.keys().next().value : undefined;
  const ties = new Set<TieResolution>();
  const sparsities: number[] = [];

  manifest.levels.forEach((level, k) => {
    const masksFile = at(level.masks);
    const masks = binaryMasks(
      k === 0 ? first : readTensors(masksFile),
      masksFile,
      layers,
      k,
      tally.masks,
    );
    if (masks === undefined) return; // reported under `masks`; the other checks need 0/1 masks
    const weightsFile = level.weights && at(level.weights);
    const startFile = level.start && at(level.start);
    const weights = weightsFile
      ? requireWeights(readTensors(weightsFile), weightsFile, layers)
      : undefined;
    const start = startFile ? requireWeights(readTensors(startFile), startFile, layers) : undefined;
    const prunedPerLayer = layers.map((l) => prunedIn(masks[l.name]!));
    const prunedTotal = prunedPerLayer.reduce((a, b) => a + b, 0);
    sparsities.push(prunedTotal / total);

    // Masks only shrink.
    tally.monotone.checked++;
    const revived = revivalViolation(layers, previous, masks);
    if (revived)
      tally.monotone.fail(`level ${k}: ${revived.message}`, {
        level: k,
        file: masksFile,
        ...where(revived),
      });

    // Exact counts under a counting rule, globally or per layer.
    const previousTotal = previousPruned.reduce((a, b) => a + b, 0);
    const target = level.sparsity ?? level.rate;
    if (target !== undefined) {
      tally.counts.checked++;
      const ofRemaining = level.rate !== undefined;
      const matches = (n: number, pruned: number, before: number) =>
        ofRemaining
          ? countingRulesMatching(target, n - before, pruned - before)
          : countingRulesMatching(target, n, pruned);
      const globalRules = matches(total, prunedTotal, previousTotal);
      const layerRules = COUNTING_RULES.filter((rule) =>
        layers.every((l, i) =>
          matches(layerSize(l), prunedPerLayer[i]!, previousPruned[i]!).includes(rule),
        ),
      );
      const matchingIn = (candidate: Scope) =>
        candidate === 'layerwise' ? layerRules : globalRules;
      const next = new Map<Scope, CountingRule[]>();
      for (const [candidate, rules] of candidates) {
        const kept = rules.filter((r) => matchingIn(candidate).includes(r));
        if (kept.length > 0) next.set(candidate, kept);
      }
      if (next.size === 0) {
        // Report against the preferred open scope (global unless only layerwise was left).
        const [scope, rules] = [...candidates][0]!;
        const matching = matchingIn(scope);
        const asked = `${ofRemaining ? 'rate' : 'sparsity'} ${target}`;
        const offender =
          scope === 'layerwise'
            ? layers.find(
                (l, i) =>
                  !rules.some((r) =>
                    matches(layerSize(l), prunedPerLayer[i]!, previousPruned[i]!).includes(r),
                  ),
              )
            : undefined;
        const all = expectedCounts(target, ofRemaining, total, previousTotal);
        tally.counts.fail(
          `level ${k}: pruned ${prunedTotal} of ${total} weights (${candidates.size === 1 ? scope : 'global or layerwise'}) at ${asked}; ` +
            (manifest.countingRule
              ? `the declared ${manifest.countingRule} does not give this (${all})`
              : `no single counting rule gives every level so far (${all})`) +
            (matching.length > 0 ? `; this level alone matches ${matching.join(', ')}` : '') +
            (offender ? `; first layer off its count: ${offender.name}` : ''),
          { level: k, file: masksFile, ...(offender ? { layer: offender.name } : {}) },
        );
      } else {
        candidates = next;
      }
    }

    // Pruned weights stored as zeros.
    if (manifest.storedZero) {
      for (const [label, tensors, file] of [
        ['end', weights, weightsFile],
        ['start', start, startFile],
      ] as const) {
        if (tensors === undefined) continue;
        tally['stored-zero'].checked++;
        for (const layer of layers) {
          const w = tensors.get(layer.name)!.values;
          const m = masks[layer.name]!;
          for (let i = 0; i < m.length; i++) {
            if (m[i] === 0 && Math.abs(w[i]!) > tolerance) {
              tally['stored-zero'].fail(
                `level ${k} (${label} weights): ${layer.name}[${i}] is ${w[i]} but its mask is 0`,
                { level: k, file, layer: layer.name, index: i },
              );
              break;
            }
          }
        }
      }
    }

    // Rewinding: start = reference ⊙ mask, the reference being the rewind weights (IMP, WR) or
    // the previous level's end weights (LRR, SCULPT); for other methods the first level that can
    // tell decides which, and every later level must follow it.
    if (start !== undefined && k > 0) {
      const candidates: [RewindSource, Map<string, Tensor> | undefined][] =
        rewindSource === 'rewind'
          ? [['rewind', rewind]]
          : rewindSource === 'previous'
            ? [['previous', previousWeights]]
            : [
                ['rewind', rewind],
                ['previous', previousWeights],
              ];
      const available = candidates.filter(([, reference]) => reference !== undefined);
      if (available.length > 0) {
        tally.rewind.checked++;
        const mismatches = available.map(([source, reference]) => ({
          source,
          mismatch: rewindMismatch(layers, masks, start, reference!, tolerance),
        }));
        const match = mismatches.find((m) => m.mismatch === undefined);
        if (match !== undefined) {
          if (rewindSource === undefined)
            tally.rewind.notes.push(`inferred: levels start from ${REWIND_TEXT[match.source]}`);
          rewindSource = match.source;
        } else {
          const first = mismatches[0]!;
          const m = first.mismatch!;
          tally.rewind.fail(
            `level ${k}: ${m.layer}[${m.index}] starts at ${m.actual}, ${REWIND_TEXT[first.source]} ⊙ mask is ${m.expected}` +
              (mismatches.length > 1
                ? ` (nor does it match ${REWIND_TEXT[mismatches[1]!.source]} ⊙ mask)`
                : ''),
            { level: k, file: startFile, layer: m.layer, index: m.index },
          );
        }
      }
    }

    // Score order (and how ties went) for the weights this level pruned.
    const changed = layers.some((l, i) => prunedPerLayer[i] !== previousPruned[i]);
    const scoreFile = level.scores && at(level.scores);
    const scores = scoreFile
      ? requireWeights(readTensors(scoreFile), scoreFile, layers)
      : MAGNITUDE_METHODS.has(manifest.method) && previousWeights !== undefined
        ? magnitudes(previousWeights, layers)
        : undefined;
    if (changed && scores !== undefined) {
      tally['score-order'].checked++;
      if (!scoreFile && tally['score-order'].notes.length === 0)
        tally['score-order'].notes.push("scores are |previous level's end weights|");
      const stepIn = (scope: Scope): PruningStep => ({
        layers,
        scores: Object.fromEntries(layers.map((l) => [l.name, scores.get(l.name)!.values])),
        mask: previous,
        scope,
        exclude: [],
      });
      // With both scopes still open, the score order decides between them where it can.
      const open = [...candidates.keys()];
      const orderedIn = open.filter(
        (scope) => scoreOrderViolation(stepIn(scope), masks) === undefined,
      );
      if (orderedIn.length > 0 && orderedIn.length < open.length)
        candidates = new Map(orderedIn.map((scope) => [scope, candidates.get(scope)!]));
      const step = stepIn(orderedIn[0] ?? open[0]!);
      const misordered = scoreOrderViolation(step, masks);
      if (misordered) {
        tally['score-order'].fail(`level ${k}: ${misordered.message}`, {
          level: k,
          file: masksFile,
          ...where(misordered),
        });
      } else {
        ties.add(tieResolution(step, masks));
        const broken =
          manifest.tieBreak === 'lowest-flat-index' ? tieBreakViolation(step, masks) : undefined;
        if (broken)
          tally['score-order'].fail(`level ${k}: ${broken.message}`, {
            level: k,
            file: masksFile,
            ...where(broken),
          });
      }
    }

    // Declared distribution of layer densities.
    if (manifest.distribution !== undefined && prunedTotal > 0) {
      tally.distribution.checked++;
      const kept = Object.fromEntries(
        layers.map((l, i) => [l.name, layerSize(l) - prunedPerLayer[i]!]),
      );
      for (const name of manifest.denseLayers) {
        if (kept[name] !== undefined && prunedPerLayer[names.indexOf(name)]! > 0)
          tally.distribution.fail(`level ${k}: ${name} is declared dense but has pruned weights`, {
            level: k,
            layer: name,
          });
      }
      // Tolerance 1: one weight either side of the exact share, whatever the counting rule.
      const skewed = proportionalityViolation(
        { layers, distribution: manifest.distribution, denseLayers: manifest.denseLayers },
        kept,
        1,
      );
      if (skewed)
        tally.distribution.fail(`level ${k}: ${skewed.message}`, {
          level: k,
          file: masksFile,
          ...where(skewed),
        });
    }

    // Layer collapse.
    tally.collapse.checked++;
    layers.forEach((l, i) => {
      if (prunedPerLayer[i] === layerSize(l))
        tally.collapse.fail(
          `level ${k}: every weight of ${l.name} is pruned (${layerSize(l)} of ${layerSize(l)})`,
          {
            level: k,
            file: masksFile,
            layer: l.name,
          },
        );
    });

    previous = masks;
    previousPruned = prunedPerLayer;
    previousWeights = weights;
  });

  const outcome = (id: CheckId, passDetail: string, uncheckable: string): CheckOutcome => {
    const t = tally[id];
    const title = CHECKS[id];
    if (t.failure)
      return { id, title, status: 'fail', detail: t.failure.detail, where: t.failure.where };
    if (t.checked === 0) return { id, title, status: 'not-checkable', detail: uncheckable };
    return {
      id,
      title,
      status: 'pass',
      detail: [passDetail, ...t.notes].filter((s) => s.length > 0).join('; '),
    };
  };
  const levels = manifest.levels.length;
  const tieText = [...ties].filter((t) => t !== 'no-ties');
  const checks: CheckOutcome[] = [
    outcome(
      'masks',
      `${levels} level(s), ${layers.length} prunable tensors, ${total} weights`,
      'no masks',
    ),
    outcome(
      'counts',
      `${tally.counts.checked} level(s) match ${[...new Set([...candidates.values()].flat())].join(' / ')}` +
        `${manifest.countingRule ? ' (declared)' : ' (inferred)'}, scope ${decided() ?? [...candidates.keys()].join(' or ')}${manifest.scope ? '' : ' (inferred)'}`,
      'no level declares a target sparsity or rate',
    ),
    outcome('monotone', `${levels} level(s)`, 'fewer than one level'),
    outcome(
      'stored-zero',
      `${tally['stored-zero'].checked} weight file(s)`,
      manifest.storedZero
        ? 'no weight files given'
        : 'the manifest says pruned weights are not stored as zeros',
    ),
    outcome(
      'rewind',
      `${tally.rewind.checked} level(s)${rewindSource === undefined ? '' : ` from ${REWIND_TEXT[rewindSource]}`}`,
      rewindSource === 'previous'
        ? "needs start weights and the previous level's end weights"
        : rewindSource === 'rewind'
          ? 'needs start weights per level and rewind weights'
          : 'needs start weights per level, and rewind weights or end weights',
    ),
    outcome(
      'distribution',
      `${manifest.distribution} at ${tally.distribution.checked} level(s)`,
      'no distribution declared',
    ),
    outcome(
      'score-order',
      `${tally['score-order'].checked} level(s); ties at the threshold: ${tieText.length === 0 ? 'none' : tieText.join(', ')}`,
      'no scores given (and none derivable: give scores, or weights with a magnitude method)',
    ),
    outcome('collapse', `${levels} level(s)`, 'no masks'),
  ];
  return {
    artifact: path,
    manifest: source,
    inferred,
    method: manifest.method,
    levels,
    layers: layers.length,
    weights: total,
    sparsities,
    checks,
    passed: checks.every((c) => c.status !== 'fail'),
    seconds: (performance.now() - started) / 1000,
  };
}

type RewindSource = 'rewind' | 'previous';
const REWINDS_TO: Partial<Record<Manifest['method'], RewindSource>> = {
  imp: 'rewind',
  wr: 'rewind',
  lrr: 'previous',
  sculpt: 'previous',
};
const REWIND_TEXT: Record<RewindSource, string> = {
  rewind: 'the rewind weights',
  previous: "the previous level's end weights",
};

/** The first weight where start ≠ reference ⊙ mask (beyond `tolerance`). */
function rewindMismatch(
  layers: readonly LayerSpec[],
  masks: Masks,
  start: Map<string, Tensor>,
  reference: Map<string, Tensor>,
  tolerance: number,
): { layer: string; index: number; actual: number; expected: number } | undefined {
  for (const layer of layers) {
    const s = start.get(layer.name)!.values;
    const r = reference.get(layer.name)!.values;
    const m = masks[layer.name]!;
    for (let i = 0; i < m.length; i++) {
      const expected = m[i] === 1 ? r[i]! : 0;
      if (Math.abs(s[i]! - expected) > tolerance)
        return { layer: layer.name, index: i, actual: s[i]!, expected };
    }
  }
  return undefined;
}

function where(v: { layer?: string; index?: number }): { layer?: string; index?: number } {
  return {
    ...(v.layer === undefined ? {} : { layer: v.layer }),
    ...(v.index === undefined ? {} : { index: v.index }),
  };
}

/** What each counting rule would have pruned in total at this level. */
function expectedCounts(
  target: number,
  ofRemaining: boolean,
  total: number,
  before: number,
): string {
  const n = ofRemaining ? total - before : total;
  return COUNTING_RULES.map(
    (rule) => `${rule} ${(ofRemaining ? before : 0) + prunedCountBy(rule, target, n)}`,
  ).join(', ');
}

/** The declared mask before the first level: it must be valid for anything to be checked. */
function initialMasks(file: string, layers: readonly LayerSpec[]): Masks {
  const tally = new Tally();
  const masks = binaryMasks(readTensors(file), file, layers, -1, tally);
  if (masks === undefined)
    throw new ArtifactError(file, tally.failure?.where.layer, tally.failure!.detail);
  return masks;
}

/** The level's masks as 0/1 bytes, or undefined after reporting why they are not. */
function binaryMasks(
  tensors: Map<string, Tensor>,
  file: string,
  layers: readonly LayerSpec[],
  level: number,
  tally: Tally,
): Masks | undefined {
  tally.checked++;
  const at = level < 0 ? 'initial masks' : `level ${level}`;
  const raw: Record<string, ArrayLike<number>> = {};
  for (const layer of layers) {
    const t = tensors.get(layer.name);
    if (t === undefined) {
      tally.fail(`${at}: ${file} has no mask for ${layer.name}`, {
        level,
        file,
        layer: layer.name,
      });
      return undefined;
    }
    if (!sameShape(t.shape, layer.shape)) {
      tally.fail(
        `${at}: ${layer.name} has shape [${t.shape.join(', ')}], expected [${layer.shape.join(', ')}]`,
        {
          level,
          file,
          layer: layer.name,
        },
      );
      return undefined;
    }
    raw[layer.name] = t.values;
  }
  const bad = maskValuesViolation(layers, raw);
  if (bad) {
    tally.fail(`${at}: ${bad.message}`, { level, file, ...where(bad) });
    return undefined;
  }
  return Object.fromEntries(layers.map((l) => [l.name, Uint8Array.from(raw[l.name]!)]));
}

/** Weight-like tensors (weights, scores) must hold every prunable tensor with its shape. */
function requireWeights(
  tensors: Map<string, Tensor>,
  file: string,
  layers: readonly LayerSpec[],
): Map<string, Tensor> {
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
  return tensors;
}

function magnitudes(
  weights: Map<string, Tensor>,
  layers: readonly LayerSpec[],
): Map<string, Tensor> {
  return new Map(
    layers.map((l) => {
      const t = weights.get(l.name)!;
      return [l.name, { ...t, values: Float64Array.from(t.values, Math.abs) }];
    }),
  );
}
