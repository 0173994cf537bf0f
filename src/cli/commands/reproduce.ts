import { Option, type Command } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunValue } from '../../claims/claims.js';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import type { RunSource } from '../../claims/run-source.js';
import { engineOverride, parseCount, parseDevice, print } from '../shared.js';
import { gateAndReport, JUNIT_HELP } from './gate.js';

export function register(program: Command): void {
  program
    .command('reproduce')
    .description(
      'reproduce the paper’s claims: `mini` (CPU, MNIST, minutes) or `paper` (GPU-scale, needs CIFAR)',
    )
    .argument('<suite>', 'mini or paper')
    .argument(
      '[overrides...]',
      'key=value settings set in every run of the suite, such as training.epochsPerCycle=8 (docs/CONFIG.md; not seed: the suite lists its seeds)',
    )
    .option('--store <dir>', 'results store', 'runs')
    .option('--data-dir <dir>', 'paper suite: directory of the CIFAR-10 binary files')
    .option('--concurrency <n>', 'runs trained at once (default: available cores)', parseCount)
    .option('--report <dir>', 'where to write the report (default reports/<suite>)')
    .option(
      '--write-baseline <file>',
      'also record the measured cells as a baseline file (maintainers)',
    )
    .option('--json', 'print the verdict as JSON')
    .option('--junit <file>', JUNIT_HELP)
    .option('--log <sink>', LOG_HELP, collect)
    .option(
      '--dry-run',
      'list the runs still missing from the store with a time estimate; train nothing',
    )
    .addOption(new Option('--backend <name>', 'run every run on this backend').choices(BACKENDS))
    .option('--device <device>', 'with --backend torch: cpu, cuda, cuda:N or mps', parseDevice)
    .addOption(
      new Option('--precision <p>', 'with --backend torch: fp32 (default), tf32 or bf16').choices(
        PRECISIONS,
      ),
    )
    .action(async (name, overrideArgs, options) => {
      const { ConfigError } = await import('../../config/resolve.js');
      if (name !== 'mini' && name !== 'paper')
        throw new ConfigError('reproduce', [
          `suite: expected mini or paper, got ${JSON.stringify(name)}`,
        ]);
      if (name === 'paper' && options.dataDir === undefined)
        throw new ConfigError('reproduce paper', [
          '--data-dir: expected the directory of the CIFAR-10 binary files',
        ]);
      const { loadSuite } = await import('../../claims/claims.js');
      const { measuredBaseline } = await import('../../claims/write-baseline.js');
      const { cyclesparseVersion } = await import('../../harness/provenance.js');
      const file = fileURLToPath(
        new URL(`../../../baselines/${name}.claims.yaml`, import.meta.url),
      );
      const { parseOverrides } = await import('../../config/overrides.js');
      const loaded = loadSuite(
        file,
        name === 'paper' ? { data: { dir: options.dataDir } } : {},
        engineOverride(options),
        parseOverrides(overrideArgs),
      );
      const writeBaseline = options.writeBaseline;
      await gateAndReport(loaded, {
        store: options.store,
        run: true,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.json ? { json: true } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.junit === undefined ? {} : { junit: options.junit }),
        ...(options.log === undefined ? {} : { log: options.log }),
        report: options.report ?? join('reports', name),
        // The baseline is written from the runs before the claims are evaluated, so the suite's
        // regression claims are checked against the file just written.
        ...(writeBaseline === undefined
          ? {}
          : {
              beforeEvaluate: (source: RunSource, value: RunValue) => {
                const baseline = measuredBaseline(loaded, source, value, cyclesparseVersion());
                writeFileSync(writeBaseline, `${JSON.stringify(baseline, null, 1)}\n`);
                print(`baseline: ${writeBaseline} (${Object.keys(baseline.cells).length} cells)`);
              },
            }),
      });
    });
}
