import type { Command } from '@commander-js/extra-typings';
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
      const store = new Store(checkStoreDir(options.store, { write: false, mustExist: true }));
      const rows = await exportStore(store, options.out, format);
      print(`${rows} rows (run × cycle) written to ${options.out} (${format})`);
    });
}
