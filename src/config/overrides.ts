/**
 * `key=value` overrides from the command line (`run cfg.yaml training.epochsPerCycle=8 seed=3`).
 *
 * The value is read as YAML (`8`, `0.1`, `true`, `[1, 2]`, `{a: 1}`; anything else is a string)
 * and set in the raw configuration document before it is validated, exactly where editing the
 * file would put it: an override is validated like file content, and a run's id is the one the
 * edited file would give. A key must be a field of the configuration (checked against its
 * schema, with the nearest known field suggested).
 */

import YAML from 'yaml';
import { METHODS } from '../methods/registry.js';
import { ConfigError } from './resolve.js';

type MethodTarget = { readonly field: string; readonly replaces?: readonly string[] };
import { resolveKey, setPath, type KeyPath } from './keys.js';

export interface Override {
  /** As written: `training.epochsPerCycle`. */
  readonly key: string;
  /** Resolved against the schema (a map's key kept whole, as in `sweep.grid`). */
  readonly path: KeyPath;
  readonly value: unknown;
}

const SOURCE = 'override';

/** Whether a command-line argument is an override (`key=value`) rather than a file. */
export function isOverride(arg: string): boolean {
  return /^[A-Za-z_][\w-]*(\.[\w-]+)*=/.test(arg);
}

/** Parses one `key=value`; the key is checked against the configuration's fields. */
export function parseOverride(arg: string): Override {
  const at = arg.indexOf('=');
  if (at <= 0)
    throw new ConfigError(SOURCE, [
      `${JSON.stringify(arg)}: expected key=value, such as training.epochsPerCycle=8`,
    ]);
  const key = arg.slice(0, at);
  const text = arg.slice(at + 1);
  let path: KeyPath;
  try {
    path = resolveKey(key);
  } catch (error) {
    throw new ConfigError(SOURCE, [(error as Error).message]);
  }
  let value: unknown;
  try {
    value = text === '' ? '' : (YAML.parse(text) as unknown);
  } catch (error) {
    throw new ConfigError(SOURCE, [
      `${key}: the value ${JSON.stringify(text)} is not valid YAML (${(error as Error).message.split('\n')[0]})`,
    ]);
  }
  return { key, path, value };
}

export function parseOverrides(args: readonly string[]): Override[] {
  return args.map(parseOverride);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The keys a sweep sets per cell (so an override of them would be ignored). */
function sweptKeys(document: Record<string, unknown>): Map<string, string> {
  const swept = new Map<string, string>();
  const sweep = document.sweep;
  if (!isRecord(sweep)) return swept;
  if (sweep.seeds !== undefined) swept.set('seed', 'sweep.seeds');
  if (sweep.methods !== undefined) swept.set('method', 'sweep.methods');
  // sweep.sparsities sets each method's target field and removes the fields it replaces.
  if (sweep.sparsities !== undefined)
    for (const { target } of METHODS as readonly { target?: MethodTarget }[])
      for (const field of target === undefined ? [] : [target.field, ...(target.replaces ?? [])])
        swept.set(`method.${field}`, 'sweep.sparsities');
  for (const section of ['grid', 'zip'] as const) {
    const keys = sweep[section];
    if (isRecord(keys)) for (const key of Object.keys(keys)) swept.set(key, `sweep.${section}`);
  }
  return swept;
}

/**
 * `document` with the overrides set in order (a later one wins). An override of a key the
 * document's sweep varies is refused: the sweep would set it again in every cell.
 */
export function applyOverrides(
  document: Record<string, unknown>,
  overrides: readonly Override[],
  source = SOURCE,
): Record<string, unknown> {
  let out = document;
  try {
    for (const override of overrides) out = setPath(out, override.path, override.value);
  } catch (error) {
    throw new ConfigError(source, [(error as Error).message]);
  }
  const swept = sweptKeys(out);
  // A key is swept when the sweep sets it, a field inside it, or a section holding it.
  const sweptBy = (key: string) =>
    [...swept].find(([k]) => k === key || key.startsWith(`${k}.`) || k.startsWith(`${key}.`))?.[1];
  const problems = overrides.flatMap(({ key }) => {
    const by = sweptBy(key);
    return by === undefined
      ? []
      : [`${key}: the sweep sets ${key} in every cell (${by}); override ${by} instead`];
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
  return out;
}
