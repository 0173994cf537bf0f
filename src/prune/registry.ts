/**
 * Every scorer, listed once (`scorers.ts`, one line each, in name order). A new scorer is one
 * module (see `scorer.ts`) and one line there; the configuration, the JSON Schema, the docs and
 * the methods take their choices from this list.
 */

import { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import { optionNames, type Scorer, type Stage } from './scorer.js';
import * as listed from './scorers.js';

type Listed = (typeof listed)[keyof typeof listed];

/** Every scorer (a module namespace lists its exports in name order). */
export const SCORERS: readonly Listed[] = Object.values(listed) satisfies readonly Scorer[];

export type ScorerName = Listed['name'];

/** Every scorer's name, in registry order. */
export const SCORER_NAMES = SCORERS.map((s) => s.name);

/** The scorers that may prune at `stage`. */
export function scorersFor(stage: Stage): Scorer[] {
  return SCORERS.filter((s) => s.stages.includes(stage));
}

/** The names of the scorers that may prune at `stage`, as a non-empty tuple for zod enums. */
export function scorerNamesFor(stage: Stage): [string, ...string[]] {
  const names = scorersFor(stage).map((s) => s.name);
  if (names.length === 0) throw new Error(`no scorer prunes at ${stage}`);
  return names as [string, ...string[]];
}

export function scorerNamed(name: string, stage?: Stage): Scorer {
  const candidates: readonly Scorer[] = stage === undefined ? SCORERS : scorersFor(stage);
  const found = candidates.find((s) => s.name === name);
  if (found === undefined)
    throw new InvalidArgumentError(
      'criterion',
      `one of ${candidates.map((s) => s.name).join(', ')}`,
      name,
    );
  return found;
}

/**
 * The options of every scorer of `stage`, each optional and without its default: a method that
 * names its scorer in a field (PaI's criterion) takes them flat beside that field, and keeps only
 * the chosen scorer's. An option name means one thing across scorers (checked by the tests).
 */
export function scorerOptionFields(stage: Stage): Record<string, z.ZodOptional<z.ZodType>> {
  const fields: Record<string, z.ZodOptional<z.ZodType>> = {};
  for (const scorer of scorersFor(stage)) {
    const shape = (scorer.options as unknown as z.ZodObject).shape;
    for (const name of optionNames(scorer)) {
      const field = shape[name] as z.ZodType;
      fields[name] ??= (
        field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field
      ).optional();
    }
  }
  return fields;
}
