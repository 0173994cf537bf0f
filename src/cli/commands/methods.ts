import type { Command } from '@commander-js/extra-typings';
import { print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('methods')
    .description('list the methods and scorers a configuration can name, with their options')
    .action(async () => {
      const { methodsTable, scorersTable } = await import('../../config/option-tables.js');
      print(`${methodsTable()}\n\n${scorersTable()}`);
    });
}
