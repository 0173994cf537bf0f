/**
 * Conventions: the integer rules on which pruning libraries disagree. cyclesparse's own rules are
 * chosen to be exact and monotone (see each module); a user replicating or checking another
 * library needs that library's rules, so each rule can be switched, alone or as a named preset.
 *
 * | rule          | cyclesparse            | torch               | open_lth      | rigl            |
 * |---------------|------------------------|---------------------|---------------|-----------------|
 * | counting      | round-half-up (snapped)| round-half-even     | ceil          | floor           |
 * | levels        | cumulative             | compound            | compound      | cumulative      |
 * | layerCounts   | apportion              | per-layer           | per-layer     | per-layer       |
 * | lrBoundaries  | round-half-up          | ceil                | ceil          | ceil            |
 *
 * - counting: how `s·n` becomes the number pruned (`selection.ts`).
 * - levels: `cumulative` counts level k from its target 1 − (1 − r)^k over all n weights;
 *   `compound` prunes count(r · remaining) at each level (torch's PruningContainer, open_lth).
 * - layerCounts: `apportion` splits the network's exact budget among layers (Webster);
 *   `per-layer` computes each layer's sparsity as a real number (rigl's ERK loop) and counts
 *   each layer by itself, so the total may miss the budget by up to a weight per layer.
 * - lrBoundaries: the unit where a fraction f of a U-unit cycle starts: round-half-up(f·U), or
 *   the first unit whose start reaches it, ceil(f·U) (a `step >= f * total` comparison).
 */

import { InvalidArgumentError } from './errors.js';
import { COUNTING_RULE, COUNTING_RULES, type CountingRule } from './selection.js';

export const LEVEL_RULES = ['cumulative', 'compound'] as const;
export type LevelRule = (typeof LEVEL_RULES)[number];
export const LAYER_COUNT_RULES = ['apportion', 'per-layer'] as const;
export type LayerCountRule = (typeof LAYER_COUNT_RULES)[number];
export const BOUNDARY_RULES = ['round-half-up', 'ceil'] as const;
export type BoundaryRule = (typeof BOUNDARY_RULES)[number];

export interface Conventions {
  readonly counting: CountingRule;
  readonly levels: LevelRule;
  readonly layerCounts: LayerCountRule;
  readonly lrBoundaries: BoundaryRule;
}

export const CONVENTION_RULES = ['counting', 'levels', 'layerCounts', 'lrBoundaries'] as const;
export type ConventionRule = (typeof CONVENTION_RULES)[number];

/** The values each rule may take. */
export const RULE_VALUES: { readonly [R in ConventionRule]: readonly Conventions[R][] } = {
  counting: COUNTING_RULES,
  levels: LEVEL_RULES,
  layerCounts: LAYER_COUNT_RULES,
  lrBoundaries: BOUNDARY_RULES,
};

export const CONVENTION_NAMES = ['cyclesparse', 'torch', 'open_lth', 'rigl'] as const;
export type ConventionName = (typeof CONVENTION_NAMES)[number];

export const CONVENTIONS: { readonly [N in ConventionName]: Conventions } = Object.freeze({
  cyclesparse: Object.freeze({
    counting: COUNTING_RULE,
    levels: 'cumulative',
    layerCounts: 'apportion',
    lrBoundaries: 'round-half-up',
  }),
  torch: Object.freeze({
    counting: 'round-half-even',
    levels: 'compound',
    layerCounts: 'per-layer',
    lrBoundaries: 'ceil',
  }),
  open_lth: Object.freeze({
    counting: 'ceil',
    levels: 'compound',
    layerCounts: 'per-layer',
    lrBoundaries: 'ceil',
  }),
  rigl: Object.freeze({
    counting: 'floor',
    levels: 'cumulative',
    layerCounts: 'per-layer',
    lrBoundaries: 'ceil',
  }),
});

export const DEFAULT_CONVENTIONS: Conventions = CONVENTIONS.cyclesparse;

/** A preset, with any of its rules replaced; every value is checked and named when wrong. */
export function conventionsOf(
  preset: ConventionName = 'cyclesparse',
  rules: { readonly [R in ConventionRule]?: Conventions[R] | undefined } = {},
): Conventions {
  const base = CONVENTIONS[preset] as Conventions | undefined;
  if (base === undefined)
    throw new InvalidArgumentError('conventions', `one of ${CONVENTION_NAMES.join(', ')}`, preset);
  for (const rule of Object.keys(rules)) {
    if (!(CONVENTION_RULES as readonly string[]).includes(rule))
      throw new InvalidArgumentError(
        'conventions',
        `rules among ${CONVENTION_RULES.join(', ')}`,
        rule,
      );
    const value = rules[rule as ConventionRule];
    if (value !== undefined && !(RULE_VALUES[rule as ConventionRule] as string[]).includes(value))
      throw new InvalidArgumentError(
        `conventions.${rule}`,
        `one of ${RULE_VALUES[rule as ConventionRule].join(', ')}`,
        value,
      );
  }
  const given = Object.entries(rules).filter(([, value]) => value !== undefined);
  return { ...base, ...Object.fromEntries(given) };
}
