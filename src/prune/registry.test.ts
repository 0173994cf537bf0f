import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { SCORERS, scorerNamed, scorerNamesFor, scorerOptionFields } from './registry.js';
import { optionNames } from './scorer.js';

describe('the scorer registry', () => {
  test('names are unique and every scorer prunes at some stage', () => {
    const names = SCORERS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const scorer of SCORERS) expect(scorer.stages.length).toBeGreaterThan(0);
  });

  test('an option name means the same thing in every scorer that has it', () => {
    const seen = new Map<string, unknown>();
    for (const scorer of SCORERS) {
      const shape = (scorer.options as unknown as z.ZodObject).shape;
      for (const name of optionNames(scorer)) {
        const schema = z.toJSONSchema(shape[name] as z.ZodType);
        if (seen.has(name)) expect(schema, `${scorer.name}.${name}`).toEqual(seen.get(name));
        seen.set(name, schema);
      }
    }
  });

  test('stages choose scorers; options are offered without defaults, one per name', () => {
    expect(scorerNamesFor('initialisation')).toEqual(['random', 'snip', 'synflow']);
    expect(scorerNamesFor('trained')).toEqual(['magnitude', 'random', 'snip']);
    const fields = scorerOptionFields('initialisation');
    expect(Object.keys(fields).sort()).toEqual([
      'distribution',
      'sampling',
      'scope',
      'synflowIterations',
    ]);
    expect(fields.scope!.safeParse(undefined)).toEqual({ success: true, data: undefined });
  });

  test('options are strict and defaulted; an unknown scorer names the choices', () => {
    const synflow = scorerNamed('synflow');
    expect(synflow.options.parse({})).toEqual({ scope: 'global', synflowIterations: 100 });
    expect(synflow.options.safeParse({ sampling: 'exact' }).success).toBe(false);
    expect(() => scorerNamed('synflow', 'trained')).toThrow(
      /^criterion: expected one of magnitude, random, snip, got "synflow"/,
    );
  });
});
