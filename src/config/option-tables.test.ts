import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import prettier from 'prettier';
import { describe, expect, test } from 'vitest';
import { methodsTable, scorersTable, withGeneratedTables } from './option-tables.js';

describe('the option tables', () => {
  test('list every method and scorer with their options, defaults and choices', () => {
    const methods = methodsTable();
    expect(methods).toContain(
      "| `pai` | pruning at initialisation, then C cycles | `criterion` (random, snip, synflow), `sparsity`, `cycles` [1]; and the options of the `criterion`'s scorer |",
    );
    expect(methods.split('\n')).toHaveLength(2 + 9);
    const scorers = scorersTable();
    expect(scorers).toContain(
      '| `synflow` | \\|w · ∂R/∂w\\| of the all-positive network on an all-ones input, in rounds | initialisation | `scope` (global, layerwise) [global], `synflowIterations` [100] |',
    );
  });

  test('docs/CONFIG.md holds the tables the registries generate (npx tsx scripts/docs-tables.ts)', async () => {
    const file = join(import.meta.dirname, '../../docs/CONFIG.md');
    const committed = readFileSync(file, 'utf8');
    const options = { ...(await prettier.resolveConfig(file)), filepath: file };
    expect(await prettier.format(withGeneratedTables(committed), options)).toBe(committed);
  });
});
