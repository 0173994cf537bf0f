/**
 * docs/EXPORT.md and the code agree: the documented tables (read with marked's Markdown lexer)
 * list exactly the columns, in order and with the types, that src/results/schema.ts loads, and
 * the versions in the headings are the code's.
 */

import { readFileSync } from 'node:fs';
import { marked, type Tokens } from 'marked';
import { describe, expect, test } from 'vitest';
import {
  EPOCH_COLUMNS,
  EXPORT_SCHEMA_VERSION,
  FIXED_COLUMNS,
  STATUS_COLUMNS,
  STATUS_JSON_VERSION,
} from './schema.js';

const tokens = marked.lexer(readFileSync(new URL('../../docs/EXPORT.md', import.meta.url), 'utf8'));
const tables = tokens.flatMap((t) =>
  t.type === 'table'
    ? [t as Tokens.Table]
    : t.type === 'list'
      ? (t as Tokens.List).items.flatMap((i) =>
          i.tokens.filter((x): x is Tokens.Table => x.type === 'table'),
        )
      : [],
);
const columnTables = tables
  .filter((t) => t.header[0]?.text === 'column')
  .map((t) => t.rows.map((r) => [r[0]!.text.replaceAll('`', ''), r[1]!.text]));
const headings = tokens.filter((t): t is Tokens.Heading => t.type === 'heading').map((h) => h.text);

describe('docs/EXPORT.md', () => {
  test('lists the fixed export columns, the epochs and the statuses columns as the code has them', () => {
    const code = (columns: typeof FIXED_COLUMNS) => columns.map((c) => [c.name, c.type]);
    expect(columnTables).toEqual([code(FIXED_COLUMNS), code(EPOCH_COLUMNS), code(STATUS_COLUMNS)]);
  });

  test('states the code’s versions', () => {
    expect(headings).toContain(`Export schema, version ${EXPORT_SCHEMA_VERSION}`);
    expect(headings).toContain(`\`status --json\` schema, version ${STATUS_JSON_VERSION}`);
    const fields = tables.find((t) => t.header[0]?.text === 'field')!;
    expect(fields.rows[0]!.map((c) => c.text)).toEqual([
      '`schemaVersion`',
      'number',
      String(STATUS_JSON_VERSION),
    ]);
  });
});
