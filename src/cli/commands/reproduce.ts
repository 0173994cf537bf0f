import { Option, type Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import { engineOverride, parseCount, parseDevice } from '../shared.js';
import {
  FORCE_BASELINE_HELP,
  gateAndReport,
  inconclusiveOption,
  JUNIT_HELP,
  WRITE_BASELINE_HELP,
} from './gate.js';

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
    .option('--write-baseline <file>', WRITE_BASELINE_HELP)
    .option('--force-baseline', FORCE_BASELINE_HELP)
    .option('--json', 'print the verdict as JSON')
    .option('--junit <file>', JUNIT_HELP)
    .addOption(inconclusiveOption())
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
      await gateAndReport(loaded, {
        store: options.store,
        run: true,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.json ? { json: true } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.junit === undefined ? {} : { junit: options.junit }),
        ...(options.log === undefined ? {} : { log: options.log }),
        report: options.report ?? join('reports', name),
        ...(options.writeBaseline === undefined
          ? {}
          : {
              writeBaseline: {
                file: options.writeBaseline,
                suiteFile: file,
                force: options.forceBaseline === true,
              },
            }),
        ...(options.inconclusive === undefined ? {} : { inconclusive: options.inconclusive }),
      });
    });
}
