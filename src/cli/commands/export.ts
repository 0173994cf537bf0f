import type { Command } from '@commander-js/extra-typings';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../../core/errors.js';
import { print } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('export')
    .description(
      'write one flat row per run × cycle (run id, method, every resolved option, seed, backend, metrics, provenance) as CSV, JSON Lines or Parquet (schema: docs/EXPORT.md)',
    )
    .option('--store <dir>', 'results store', 'runs')
    .requiredOption('--out <file>', 'the file to write')
    .option(
      '--format <format>',
      'csv, jsonl or parquet (default: from the --out extension: .csv, .jsonl/.ndjson/.json, .parquet)',
    )
    .action(async (options) => {
      // DuckDB is loaded here, not at the top: `--help` must not load it.
      const { exportFormat, exportStore } = await import('../../results/duck.js');
      const { Store } = await import('../../store/store.js');
      const format = exportFormat(options.format, options.out);
      checkOutFile(options.out);
      const store = new Store(checkStoreDir(options.store, { write: false, mustExist: true }));
      const rows = await exportStore(store, options.out, format);
      print(`${rows} rows (run × cycle) written to ${options.out} (${format})`);
    });
}

/** --out must be a file (new or old) in a directory that exists and can be written: exit 2. */
function checkOutFile(out: string): void {
  const file = resolve(out);
  const fail = (why: string): never => {
    throw new InvalidArgumentError(
      '--out',
      'a file in an existing, writable directory',
      out,
      `--out ${out}: ${why} (expected a file in an existing, writable directory)`,
    );
  };
  try {
    if (statSync(file).isDirectory()) fail('is a directory');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    if (!statSync(dirname(file)).isDirectory()) fail(`${dirname(file)} is not a directory`);
    accessSync(dirname(file), constants.W_OK);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    fail(`cannot write in ${dirname(file)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
