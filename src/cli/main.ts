#!/usr/bin/env node
/**
 * The cyclesparse command line. Thin: every command parses its options, calls one library
 * function and prints what it returns.
 */

import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { MODEL_NAMES } from '../models/zoo.js';
import { runSelfCheck } from '../self-check.js';

function parseSparsity(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value < 1)) {
    throw new InvalidArgumentError('expected a sparsity in [0, 1), such as 0.9.');
  }
  return value;
}

function parseSeed(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError('expected an integer >= 0.');
  }
  return value;
}

const program = new Command()
  .name('cyclesparse')
  .description('Cyclic sparse training (arXiv 2406.02773): methods, verification and statistics')
  .showHelpAfterError();

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
  .option('--seed <n>', 'experiment seed for the random scores', parseSeed, 0)
  .option('--json', 'print the report as JSON')
  .action((options) => {
    const report = runSelfCheck({
      model: options.model,
      sparsity: options.sparsity,
      seed: options.seed,
      ...(options.stem === undefined ? {} : { stem: options.stem }),
    });
    if (options.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      console.log(
        `self-check on ${options.model}: ${report.layers} layers, ${report.weights} weights, sparsity ${options.sparsity}, seed ${options.seed}`,
      );
      for (const check of report.checks) {
        console.log(
          `  ${check.state === 'passed' ? 'ok  ' : 'FAIL'} ${check.name} — ${check.detail} (${check.ms.toFixed(0)} ms)`,
        );
      }
      console.log(report.passed ? 'all checks passed' : 'some checks FAILED');
    }
    process.exitCode = report.passed ? 0 : 1;
  });

await program.parseAsync();
