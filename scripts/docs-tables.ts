// Writes the methods and scorers tables of docs/CONFIG.md from the registries:
//   npx tsx scripts/docs-tables.ts && npx prettier --write docs/CONFIG.md
import { readFileSync, writeFileSync } from 'node:fs';
import { withGeneratedTables } from '../src/config/option-tables.js';

const file = new URL('../docs/CONFIG.md', import.meta.url);
writeFileSync(file, withGeneratedTables(readFileSync(file, 'utf8')));
