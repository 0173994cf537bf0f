import type { Command } from '@commander-js/extra-typings';
import { print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('presets')
    .description('list the named presets a configuration can extend')
    .action(async () => {
      const { default: YAML } = await import('yaml');
      const { PRESETS } = await import('../../config/presets.js');
      print(YAML.stringify(PRESETS));
    });
}
