import type { Command } from '@commander-js/extra-typings';
import { EXIT, parseCount, print } from '../shared.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description(
      'check a pruning run saved by any framework (masks, weights, scores as .npz/.npy/safetensors + manifest) against the pruning invariants; exit 1 if one fails',
    )
    .argument(
      '<path>',
      'manifest file (YAML/JSON), or a directory holding one or laid out as level-<k>/',
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--allow-outside',
      "read files the manifest names outside the artifact's directory (absolute paths, .., symlinks out); devices are never read",
    )
    .option(
      '--max-bytes <n>',
      'most bytes of tensor data one file may hold (default 4 GiB)',
      parseCount,
    )
    .action(async (path, options) => {
      const { verifyArtifact } = await import('../../verify/verify.js');
      const { verifyText } = await import('../../verify/report.js');
      const report = verifyArtifact(path, {
        ...(options.allowOutside === true ? { allowOutside: true } : {}),
        ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      });
      print(options.json ? JSON.stringify(report, null, 2) : verifyText(report));
      process.exitCode = report.passed ? EXIT.ok : EXIT.claimsNotMet;
    });
}
