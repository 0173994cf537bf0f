/**
 * What a scorer is, in the manner of jaxpruner: one module with a name, a zod schema of its own
 * options (defaults included) and `score(context, options)` → one Float32Array per masked layer
 * (smaller is pruned first). Counts and ties stay with `core/prune.ts`, in the scope the options
 * name. A scorer whose mask is not one ranking of its scores (SynFlow's rounds, random layer
 * densities from a dense start) overrides `select` as well.
 *
 * The registry (`registry.ts`) lists scorers once; configuration enums, the JSON Schema, the docs
 * tables and method options derive from it, so an option a scorer does not read cannot be written.
 */

import { z } from 'zod';
import type { ConventionRule, LayerCountRule } from '../core/conventions.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { LayerSpec, Mask } from '../core/mask.js';
import { prune, targetOf, type LayerScores, type PruneTarget } from '../core/prune.js';
import type { RandomStream } from '../core/random.js';
import type { CountingRule } from '../core/selection.js';
import type { EngineModel, Samples } from '../engine/engine.js';

/**
 * When a scorer may prune: a dense network at initialisation (PaI, SCULPT's start mask) or a
 * trained one (iterative levels, SCULPT's coupling prune).
 */
export const STAGES = ['initialisation', 'trained'] as const;
export type Stage = (typeof STAGES)[number];

/** Ranks all weights together (global) or each layer on its own: an option of ranking scorers. */
export const scopeOption = z.enum(['global', 'layerwise']).default('global');

/** Everything a scorer may read at one prune. */
export interface ScoreContext {
  readonly model: EngineModel;
  /** The mask before this prune (masks only shrink). */
  readonly mask: Mask;
  readonly layers: readonly LayerSpec[];
  /** This prune's own random stream (`maskSampling/<stream key>`). */
  readonly stream: RandomStream;
  readonly target: PruneTarget;
  readonly counting: CountingRule;
  readonly layerCounts: LayerCountRule;
  /** One training batch drawn for this prune, augmented as training is (draws from `stream`). */
  readonly trainingBatch: () => Samples;
}

export interface Scorer<Name extends string = string, Options extends object = object> {
  readonly name: Name;
  /** One line for docs and CLI help. */
  readonly description: string;
  readonly stages: readonly Stage[];
  /** The scorer's own options, with their defaults (strict: nothing else can be written). */
  readonly options: z.ZodType<Options, Partial<Options>>;
  /** Convention rules it reads beyond `counting` (which every prune reads). */
  readonly conventions?: readonly ConventionRule[];
  score(context: ScoreContext, options: Options): Promise<LayerScores>;
  /** The next mask, where it is not `score` ranked once by `core/prune.ts` in `options.scope`. */
  select?(context: ScoreContext, options: Options): Promise<Mask>;
}

/** Declares a scorer; its option types follow from its schema. */
export function defineScorer<const Name extends string, Shape extends z.ZodRawShape>(scorer: {
  readonly name: Name;
  readonly description: string;
  readonly stages: readonly Stage[];
  readonly options: z.ZodObject<Shape>;
  readonly conventions?: readonly ConventionRule[];
  score(context: ScoreContext, options: z.output<z.ZodObject<Shape>>): Promise<LayerScores>;
  select?(context: ScoreContext, options: z.output<z.ZodObject<Shape>>): Promise<Mask>;
}): Scorer<Name, z.output<z.ZodObject<Shape>>> {
  return { ...scorer, options: scorer.options.strict() } as unknown as Scorer<
    Name,
    z.output<z.ZodObject<Shape>>
  >;
}

/** The field names of a scorer's options. */
export function optionNames(scorer: Scorer): string[] {
  return Object.keys((scorer.options as unknown as z.ZodObject).shape);
}

/** The sparsity to prune to, for scorers that need one: a fraction of what is kept only from dense. */
export function sparsityOf(context: ScoreContext, scorer: string): number {
  const target = targetOf(context.target);
  if (target.kind === 'sparsity' || context.mask.totalKept === context.mask.totalSize)
    return target.value;
  throw new InvalidArgumentError(
    'target',
    `a sparsity for criterion ${scorer} on a pruned mask`,
    context.target,
  );
}

/** The mask `scorer` chooses at this prune. */
export async function selectMask<Options extends object>(
  scorer: Scorer<string, Options>,
  context: ScoreContext,
  options: Options,
): Promise<Mask> {
  if (scorer.select !== undefined) return scorer.select(context, options);
  // Scorers without a scope option rank all weights together.
  const { scope = 'global' } = options as { scope?: 'global' | 'layerwise' };
  return prune(context.mask, await scorer.score(context, options), {
    ...context.target,
    scope,
    counting: context.counting,
  });
}
