/**
 * Every method, listed once (`catalog/index.ts`, one line each). A new method is one module
 * (`defineMethod`, see `method.ts`) and one line there: the configuration, run ids, sweeps and
 * report labels take it from this list.
 */

import { InvalidArgumentError } from '../core/errors.js';
import * as catalog from './catalog/index.js';
import { buildMethod, type AnyMethod, type ContextInput, type MethodDefinition } from './method.js';
import type { Pipeline } from './types.js';

type Listed = (typeof catalog)[keyof typeof catalog];

/** Every method (a module namespace lists its exports in name order). */
export const METHODS: readonly Listed[] = Object.values(catalog) satisfies readonly AnyMethod[];

export type MethodName = Listed['name'];

/** A method's configuration: its name and options (defaults filled once resolved). */
export type MethodConfig = ConfigOf<Listed>;
type ConfigOf<M> = M extends MethodDefinition<infer N, infer O> ? { name: N } & O : never;

export const METHOD_NAMES = METHODS.map((m) => m.name);

export function methodNamed(name: string): AnyMethod {
  const found = (METHODS as readonly AnyMethod[]).find((m) => m.name === name);
  if (found === undefined)
    throw new InvalidArgumentError('method', `one of ${METHOD_NAMES.join(', ')}`, name);
  return found;
}

/**
 * The pipeline of the method `name` from its options and context in one object, e.g.
 * `pipelineOf('imp', { epochsPerCycle: 3, levels: 2, weights: 1000 })`.
 */
export function pipelineOf(
  name: MethodName,
  input: Record<string, unknown> & ContextInput,
): Pipeline {
  return buildMethod(methodNamed(name), input);
}
