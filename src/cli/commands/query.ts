import { Option, type Command } from '@commander-js/extra-typings';
import { print } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('query')
    .description(
      'run SQL over the store through DuckDB: tables runs (the export rows), epochs (per-epoch metrics) and statuses (one row per run); see docs/EXPORT.md',
    )
    .argument('<sql>', 'the SQL (the last statement’s rows are printed)')
    .option('--store <dir>', 'results store', 'runs')
    .addOption(new Option('--json', 'print the rows as a JSON array').conflicts('csv'))
    .addOption(new Option('--csv', 'print the rows as CSV (RFC 4180)'))
    .action(async (sql, options) => {
      const { queryCsv, queryStore, queryTable } = await import('../../results/duck.js');
      const { Store } = await import('../../store/store.js');
      const store = new Store(checkStoreDir(options.store, { write: false, mustExist: true }));
      const result = await queryStore(store, sql);
      if (options.json) print(JSON.stringify(result.rows, null, 1));
      else if (options.csv) process.stdout.write(queryCsv(result));
      else print(queryTable(result));
    });
}
