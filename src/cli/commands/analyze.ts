import { Argument, InvalidArgumentError, Option, type Command } from '@commander-js/extra-typings';
import { parseCount, parsePositive, print } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

function parseAlphas(text: string): number[] {
  const values = text.split(',').map((t) => Number(t.trim()));
  if (values.length === 0 || values.some((v) => !(v >= 0 && v <= 1)))
    throw new InvalidArgumentError(
      'expected comma-separated numbers in [0, 1], such as 0,0.25,0.5,0.75,1.',
    );
  return values;
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description(
      'compare stored networks: lmc (error barrier), signs (sign flips), overlap (masks), sharpness (top Hessian eigenvalues), cycles (consecutive cycles of one run)',
    )
    .addArgument(
      new Argument('<analysis>', 'what to compute').choices([
        'lmc',
        'signs',
        'overlap',
        'sharpness',
        'cycles',
      ] as const),
    )
    .argument('<runA>', 'a run id: <id> or <id>@final (final network) or <id>@<k> (end of cycle k)')
    .argument('[runB]', 'the second network (lmc, signs, overlap; optional for sharpness)')
    .option('--store <dir>', 'results store', 'runs')
    .option('--alphas <list>', 'lmc: interpolation points (0 and 1 are always added)', parseAlphas)
    .addOption(
      new Option('--batch-norm <mode>', 'lmc: BatchNorm statistics at each α').choices([
        're-estimate',
        'interpolate',
      ] as const),
    )
    .option(
      '--bn-batches <n>',
      'lmc: training batches to re-estimate BatchNorm statistics on',
      parseCount,
    )
    .option('--k <n>', 'sharpness: eigenvalues to compute', parseCount)
    .option('--samples <n>', 'sharpness: training images the loss is taken over', parseCount)
    .option(
      '--epsilon <e>',
      'sharpness: finite-difference step of Hessian-vector products',
      parsePositive,
    )
    .option(
      '--iterations <n>',
      'sharpness: iteration limit (Lanczos steps, or per eigenvalue)',
      parseCount,
    )
    .addOption(
      new Option(
        '--solver <solver>',
        'sharpness: lanczos (algebraically largest) or power (largest magnitude, constant memory)',
      ).choices(['lanczos', 'power'] as const),
    )
    .option('--json', 'print the result as JSON')
    .action(async (analysis, runA, runB, options) => {
      const { ConfigError } = await import('../../config/resolve.js');
      const { Store } = await import('../../store/store.js');
      const { cycleSeries, storedLmc, storedOverlap, storedSharpness, storedSignFlips } =
        await import('../../analysis/stored.js');
      const { cycleTable, lmcTable, overlapTable, sharpnessTable, signsTable } =
        await import('../../analysis/tables.js');
      const store = new Store(checkStoreDir(options.store, { write: false }));
      const needsB = analysis === 'lmc' || analysis === 'signs' || analysis === 'overlap';
      if (needsB && runB === undefined)
        throw new ConfigError(`analyze ${analysis}`, [
          'runB: expected a second run to compare with',
        ]);
      const lmcOptions = {
        ...(options.alphas === undefined ? {} : { alphas: options.alphas }),
        ...(options.batchNorm === undefined ? {} : { batchNorm: options.batchNorm }),
        ...(options.bnBatches === undefined ? {} : { batchNormBatches: options.bnBatches }),
      };
      const sharpnessOptions = {
        ...(options.k === undefined ? {} : { k: options.k }),
        ...(options.samples === undefined ? {} : { samples: options.samples }),
        ...(options.epsilon === undefined ? {} : { epsilon: options.epsilon }),
        ...(options.iterations === undefined ? {} : { maxIterations: options.iterations }),
        ...(options.solver === undefined ? {} : { solver: options.solver }),
      };
      const show = (text: string, json: unknown) =>
        print(options.json ? JSON.stringify(json, null, 1) : text);
      switch (analysis) {
        case 'lmc': {
          const record = await storedLmc(store, runA, runB!, lmcOptions);
          show(lmcTable(record.result, record.networks[0]!, record.networks[1]!), record);
          break;
        }
        case 'signs': {
          const record = await storedSignFlips(store, runA, runB!);
          show(signsTable(record.result), record);
          break;
        }
        case 'overlap': {
          const record = await storedOverlap(store, runA, runB!);
          show(overlapTable(record.result), record);
          break;
        }
        case 'sharpness': {
          const records = [];
          for (const ref of runB === undefined ? [runA] : [runA, runB])
            records.push(await storedSharpness(store, ref, sharpnessOptions));
          show(records.map((r) => sharpnessTable(r.networks[0]!, r.result)).join('\n\n'), records);
          break;
        }
        case 'cycles': {
          const series = await cycleSeries(store, runA, {
            lmc: lmcOptions,
            sharpness: sharpnessOptions,
          });
          show(cycleTable(series), series);
          break;
        }
      }
      if (!options.json)
        print(`(cached as JSON under ${store.dir(runA.split('@')[0]!)}/analyses/)`);
    });
}
