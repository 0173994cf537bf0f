/**
 * What a method is: one definition (`defineMethod`) with its name, the zod schema of its options
 * (defaults live here and nowhere else), the convention rules it reads, which field a sweep's
 * sparsities set, its label in reports, the checks across its fields and the builder of its
 * phases. The configuration union, run-id skeletons, sweep targets and report labels all derive
 * from the definitions listed in `registry.ts`; builders receive validated options.
 */

import type { z } from 'zod';
import {
  DEFAULT_CONVENTIONS,
  conventionsOf,
  type ConventionRule,
  type Conventions,
} from '../core/conventions.js';
import { InvalidArgumentError } from '../core/errors.js';
import { CIFAR_STEP_WARMUP, type CycleShape } from '../core/lr-schedule.js';
import { scorerNamed, scorerOptionFields } from '../prune/registry.js';
import { optionNames, type Stage } from '../prune/scorer.js';
import type { CriterionChoice, Phase, Pipeline } from './types.js';

/** What a builder knows besides the method's own options (from the rest of the configuration). */
export interface MethodContext {
  readonly epochsPerCycle: number;
  /** Prunable weights of the model: methods with pruning levels plan exact counts from it. */
  readonly weights?: number | undefined;
  /** The learning-rate cycle's shape (default methods' warm-up points come from it). */
  readonly shape: CycleShape;
  /** Every rule, validated (cyclesparse's where the configuration left one out). */
  readonly rules: Conventions;
}

/** A problem with a method's options: the field (empty for the method as a whole) and what it expects. */
export interface OptionIssue {
  readonly path: string;
  readonly expected: string;
}

/** The pipeline a builder returns: its recorded options and phases (the name defaults to the method's). */
export interface BuiltPipeline {
  readonly method?: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly phases: readonly Phase[];
}

export interface MethodDefinition<Name extends string = string, Options extends object = object> {
  readonly name: Name;
  readonly description: string;
  /** The options besides `name` (with the chosen scorer's own options where it names one). */
  readonly options: z.ZodObject;
  /** The field naming a scorer whose options sit flat beside it (PaI's `criterion`). */
  readonly scorerField?: { readonly field: string; readonly stage: Stage };
  /** Convention rules the pipeline reads (its scorer's are added). */
  readonly conventions: readonly ConventionRule[];
  /** The field a sweep's `sparsities` set, and the fields that setting it replaces. */
  readonly target?: { readonly field: string; readonly replaces?: readonly string[] };
  readonly label: (options: Options) => string;
  readonly check?: (options: Options) => OptionIssue[];
  readonly build: (options: Options, context: MethodContext) => BuiltPipeline;
}

/** Declares a method; builders and labels see the options its schema produces. */
export function defineMethod<
  const Name extends string,
  Shape extends z.ZodRawShape,
  Extra extends object = object,
>(definition: {
  readonly name: Name;
  readonly description: string;
  readonly options: z.ZodObject<Shape>;
  readonly scorerField?: { readonly field: keyof Shape & string; readonly stage: Stage };
  readonly conventions: readonly ConventionRule[];
  readonly target?: { readonly field: keyof Shape & string; readonly replaces?: readonly string[] };
  readonly label?: (options: z.output<z.ZodObject<Shape>> & Extra) => string;
  readonly check?: (options: z.output<z.ZodObject<Shape>> & Extra) => OptionIssue[];
  readonly build: (
    options: z.output<z.ZodObject<Shape>> & Extra,
    context: MethodContext,
  ) => BuiltPipeline;
}): MethodDefinition<Name, z.output<z.ZodObject<Shape>> & Extra> {
  const scorerFields =
    definition.scorerField === undefined ? {} : scorerOptionFields(definition.scorerField.stage);
  return {
    ...definition,
    options: definition.options.extend(scorerFields).strict(),
    label: definition.label ?? (() => definition.name),
  };
}

/** A definition whose options type is not known here (the registry's view). */
export type AnyMethod = MethodDefinition<string, never>;
type Loose = MethodDefinition<string, Record<string, unknown>>;
const loose = (method: AnyMethod): Loose => method as unknown as Loose;

/** The scorer named in `options[field]` and its options there, with their defaults. */
export function criterionOf(
  field: string,
  stage: Stage,
  options: Readonly<Record<string, unknown>>,
): CriterionChoice {
  const scorer = scorerNamed(String(options[field]), stage);
  const own = Object.fromEntries(
    optionNames(scorer)
      .filter((key) => options[key] !== undefined)
      .map((key) => [key, options[key]]),
  );
  return { name: scorer.name, ...scorer.options.parse(own) };
}

/**
 * For a method that names a scorer: problems with options that belong to another scorer, and
 * the options with the chosen scorer's defaults filled (the others stay absent: they would do
 * nothing).
 */
export function withScorerOptions(
  method: AnyMethod,
  options: Record<string, unknown>,
): { options: Record<string, unknown>; issues: OptionIssue[] } {
  const at = loose(method).scorerField;
  if (at === undefined) return { options, issues: [] };
  const scorer = scorerNamed(String(options[at.field]), at.stage);
  const used = optionNames(scorer);
  const issues = Object.keys(scorerOptionFields(at.stage))
    .filter((key) => options[key] !== undefined && !used.includes(key))
    .map((key) => ({
      path: key,
      expected: `no ${key} for ${at.field} ${scorer.name} (it uses ${used.length === 0 ? 'no option' : used.join(' and ')})`,
    }));
  const { name: _name, ...filled } = criterionOf(at.field, at.stage, options);
  return { options: { ...options, ...filled }, issues };
}

/** The convention rules `options` of `method` read (the LR boundaries are the schedule's, added by the caller). */
export function conventionsUsed(
  method: AnyMethod,
  options: Record<string, unknown>,
): ConventionRule[] {
  const rules = [...loose(method).conventions];
  const at = loose(method).scorerField;
  if (at !== undefined)
    for (const rule of scorerNamed(String(options[at.field]), at.stage).conventions ?? [])
      if (!rules.includes(rule)) rules.push(rule);
  return rules;
}

/** `method`'s label in tables and reports (`pai-snip ×4`). */
export function methodLabel(method: AnyMethod, options: Record<string, unknown>): string {
  return loose(method).label(options);
}

/** What a configuration of `method` targets: its target field, a field it replaces, or '-'. */
export function targetLabel(method: AnyMethod, options: Record<string, unknown>): string {
  const target = loose(method).target;
  if (target === undefined) return '-';
  if (options[target.field] !== undefined) return String(options[target.field]);
  const other = target.replaces?.find((field) => options[field] !== undefined);
  return other === undefined ? '-' : `${String(options[other])} ${other}`;
}

/** The options without a default: they identify a run (its id's skeleton). */
export function requiredOptions(method: AnyMethod): string[] {
  const shape = loose(method).options.shape as Record<string, z.ZodType>;
  return Object.keys(shape).filter((key) => !shape[key]!.safeParse(undefined).success);
}

/** The options of a method's configuration: everything but its `name`. */
export function ownOptions(config: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...options } = config;
  return options;
}

/** Settings a caller of {@link buildMethod} may give besides the method's options. */
export interface ContextInput {
  readonly epochsPerCycle: number;
  readonly weights?: number | undefined;
  readonly shape?: CycleShape | undefined;
  readonly conventions?: Partial<Conventions> | undefined;
}

/**
 * `method`'s pipeline from its options and context in one object (defaults filled, validated;
 * the first problem is thrown naming its field). Non-default convention rules the pipeline reads
 * are recorded in its options.
 */
export function buildMethod(
  method: AnyMethod,
  input: Record<string, unknown> & ContextInput,
): Pipeline {
  const { epochsPerCycle, weights, shape, conventions, ...given } = input;
  const parsed = loose(method).options.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    const expected =
      issue.code === 'invalid_value'
        ? `one of ${issue.values.map(String).join(', ')}`
        : issue.message.replace(/^Invalid (option|input): expected /, '');
    throw new InvalidArgumentError(field, expected, field === '' ? given : given[field]);
  }
  const { options, issues } = withScorerOptions(method, parsed.data);
  const problems = [...issues, ...(loose(method).check?.(options) ?? [])];
  if (problems.length > 0)
    throw new InvalidArgumentError(
      problems[0]!.path,
      problems[0]!.expected,
      given[problems[0]!.path],
    );
  const rules = conventionsOf('cyclesparse', conventions ?? {});
  const built = loose(method).build(options, {
    epochsPerCycle,
    weights,
    shape: shape ?? CIFAR_STEP_WARMUP,
    rules,
  });
  const changed = conventionsUsed(method, options).filter(
    (rule) => rules[rule] !== DEFAULT_CONVENTIONS[rule],
  );
  return {
    method: built.method ?? method.name,
    options:
      changed.length === 0
        ? built.options
        : {
            ...built.options,
            conventions: Object.fromEntries(changed.map((rule) => [rule, rules[rule]])),
          },
    phases: built.phases,
  };
}
