import { Argument, type Command } from '@commander-js/extra-typings';
import { print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('download')
    .description(
      'download a data set into a directory, checking it against the published checksums',
    )
    .addArgument(
      new Argument('<dataset>', 'data set').choices([
        'fashion-mnist',
        'cifar10',
        'cifar100',
      ] as const),
    )
    .requiredOption('--dir <dir>', 'where to put it (then use it as data.dir)')
    .action(async (dataset, options) => {
      const dir =
        dataset === 'fashion-mnist'
          ? await (await import('../../data/mnist.js')).downloadFashionMnist(options.dir)
          : await (await import('../../data/cifar.js')).downloadCifar(dataset, options.dir);
      print(`${dataset}: ${dir} (checksums verified); set data.dir to it`);
    });
}
