import type { Command } from '@commander-js/extra-typings';
import { print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('schema')
    .description(
      'print the JSON Schema of configuration files (for editors; docs/config.schema.json)',
    )
    .action(async () => {
      const { configJsonSchema } = await import('../../config/json-schema.js');
      print(JSON.stringify(configJsonSchema(), null, 1));
    });
}
