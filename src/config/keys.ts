/**
 * Which keys a configuration file may hold at each place, read from its JSON Schema
 * (`json-schema.ts`, itself generated from the zod schemas, so the two cannot disagree). Used to
 * check `key=value` overrides and sweep keys before anything is set, and to say "did you mean"
 * when a key is unknown.
 */

import { configJsonSchema } from './json-schema.js';
import { didYouMean } from './suggest.js';

interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly additionalProperties?: boolean | JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly allOf?: readonly JsonSchema[];
  readonly $ref?: string;
}

let cached: JsonSchema | undefined;
function root(): JsonSchema {
  cached ??= configJsonSchema() as JsonSchema;
  return cached;
}

/** The alternatives a schema allows (its union members, references followed). */
function branches(schema: JsonSchema): JsonSchema[] {
  if (schema.$ref !== undefined) {
    const target = schema.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], root());
    return branches(target as JsonSchema);
  }
  const union = [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])];
  return union.length === 0 ? [schema] : union.flatMap(branches);
}

/** What may sit under a section: its named keys, and whether it takes any key (a map). */
interface Section {
  readonly keys: ReadonlySet<string>;
  readonly open: boolean;
  /** The schemas of each key (every alternative). */
  readonly children: (key: string) => JsonSchema[];
}

function sectionOf(schemas: readonly JsonSchema[]): Section | undefined {
  const objects = schemas.flatMap(branches).filter((s) => s.properties !== undefined || isMap(s));
  if (objects.length === 0) return undefined;
  const keys = new Set(objects.flatMap((s) => Object.keys(s.properties ?? {})));
  return {
    keys,
    open: objects.some(isMap),
    children: (key) =>
      objects.flatMap((s) => {
        const named = s.properties?.[key];
        if (named !== undefined) return [named];
        return isMap(s) && typeof s.additionalProperties === 'object'
          ? [s.additionalProperties]
          : [];
      }),
  };
}

function isMap(schema: JsonSchema): boolean {
  return (
    schema.properties === undefined &&
    schema.additionalProperties !== undefined &&
    schema.additionalProperties !== false
  );
}

/** A key path resolved against the schema: its segments, with a map's key kept whole. */
export type KeyPath = readonly string[];

/**
 * Resolves a dotted key (`training.epochsPerCycle`) to the segments to set, or throws a message
 * naming the first segment that is not a field (with the nearest known one). Inside a map (such
 * as `sweep.grid`) the rest of the key is one map key: `sweep.grid.training.peak` is
 * `['sweep', 'grid', 'training.peak']`.
 */
export function resolveKey(key: string): KeyPath {
  const segments = key.split('.');
  if (segments.some((s) => s === ''))
    throw new Error(
      `${JSON.stringify(key)}: expected dot-separated field names such as training.peak`,
    );
  let schemas: JsonSchema[] = [root()];
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const where = out.length === 0 ? 'the top level' : out.join('.');
    const section = sectionOf(schemas);
    if (section === undefined)
      throw new Error(
        `${key}: ${out.join('.')} is a value, not a section (it has no field ${JSON.stringify(segment)})`,
      );
    if (section.keys.has(segment)) {
      out.push(segment);
      schemas = section.children(segment);
      continue;
    }
    if (section.open) {
      out.push(segments.slice(i).join('.'));
      return out;
    }
    throw new Error(
      `${key}: ${JSON.stringify(segment)} is not a field of ${where}${didYouMean(segment, section.keys)}; known: ${[...section.keys].join(', ')}`,
    );
  }
  return out;
}

/** The named keys a section of the file takes (`[]` is the top level), or undefined if none. */
export function keysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  let schemas: JsonSchema[] = [root()];
  for (const segment of path) {
    if (typeof segment === 'number') {
      schemas = schemas.flatMap(branches).flatMap((s) => {
        const items = (s as { items?: JsonSchema }).items;
        return items === undefined ? [] : [items];
      });
      continue;
    }
    const section = sectionOf(schemas);
    if (section === undefined) return undefined;
    schemas = section.children(String(segment));
  }
  const section = sectionOf(schemas);
  return section === undefined ? undefined : [...section.keys];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Sets `value` at `path` in a copy of `document` (sections created as needed). A section the
 * document holds as a value (`conventions: torch`) is refused naming it: replace it whole.
 */
export function setPath(
  document: Record<string, unknown>,
  path: KeyPath,
  value: unknown,
): Record<string, unknown> {
  const set = (node: Record<string, unknown>, depth: number): Record<string, unknown> => {
    const head = path[depth]!;
    if (depth === path.length - 1) return { ...node, [head]: value };
    const inner = node[head];
    if (inner !== undefined && !isRecord(inner)) {
      const section = path.slice(0, depth + 1).join('.');
      throw new Error(
        `${path.join('.')}: ${section} is ${JSON.stringify(inner)} here, not a section; set ${section}={...} whole instead`,
      );
    }
    return { ...node, [head]: set(inner ?? {}, depth + 1) };
  };
  return path.length === 0 ? document : set(document, 0);
}
