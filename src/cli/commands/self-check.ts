import { Option, type Command } from '@commander-js/extra-typings';
import { MODEL_NAMES } from '../../models/zoo.js';
import { EXIT, parseCount, parseSparsity, print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('self-check')
    .description(
      'run the core on a real layer list and check every result against an independent computation',
    )
    .addOption(
      new Option('--model <name>', 'model whose prunable layers to check on')
        .choices(MODEL_NAMES)
        .default('resnet-20' as const),
    )
    .addOption(
      new Option('--stem <stem>', 'resnet-18/50 only: input stem').choices([
        'cifar',
        'imagenet',
      ] as const),
    )
    .option('--sparsity <s>', 'target sparsity in [0, 1)', parseSparsity, 0.9)
    .option('--seed <n>', 'experiment seed for the random scores', parseCount, 0)
    .option('--json', 'print the report as JSON')
    .action(async (options) => {
      const { runSelfCheck } = await import('../../self-check.js');
      const report = runSelfCheck({
        model: options.model,
        sparsity: options.sparsity,
        seed: options.seed,
        ...(options.stem === undefined ? {} : { stem: options.stem }),
      });
      if (options.json) {
        print(JSON.stringify(report, null, 2));
      } else {
        print(
          `self-check on ${options.model}: ${report.layers} layers, ${report.weights} weights, sparsity ${options.sparsity}, seed ${options.seed}`,
        );
        for (const check of report.checks) {
          print(
            `  ${check.state === 'passed' ? 'ok  ' : 'FAIL'} ${check.name} — ${check.detail} (${check.ms.toFixed(0)} ms)`,
          );
        }
        print(report.passed ? 'all checks passed' : 'some checks FAILED');
      }
      process.exitCode = report.passed ? EXIT.ok : EXIT.runtimeFailure;
    });
}
