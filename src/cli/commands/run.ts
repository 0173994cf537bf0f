import type { Command } from '@commander-js/extra-typings';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import { EXIT, parseCount, print, stoppable } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'run the experiment a configuration file describes (resumes it if interrupted, skips it if finished)',
    )
    .argument('<config>', 'YAML configuration (see `cyclesparse presets` and docs/CONFIG.md)')
    .argument(
      '[overrides...]',
      'key=value settings of the configuration, such as training.epochsPerCycle=8 seed=3 (docs/CONFIG.md)',
    )
    .option('--seed <n>', 'the run’s seed (the same as seed=N)', parseCount)
    .option('--store <dir>', 'results store', 'runs')
    .option(
      '--dry-run',
      'print the resolved configuration, run id and cost estimate; train nothing',
    )
    .option(
      '--discard-checkpoint',
      'delete the run’s checkpoint first and train it from the start (the way forward when the checkpoint or its metrics cannot be read; a finished run is never retrained)',
    )
    .option('--log <sink>', LOG_HELP, collect)
    .action(async (file, overrideArgs, options) => {
      const { estimateBasis, estimateTime, planFile } = await import('../../harness/plan.js');
      const { ConfigError } = await import('../../config/resolve.js');
      const { parseOverrides } = await import('../../config/overrides.js');
      if (options.seed !== undefined && overrideArgs.some((a) => a.startsWith('seed=')))
        throw new ConfigError('run', ['--seed: also given as seed=…; give the seed once']);
      const overrides = parseOverrides([
        ...overrideArgs,
        ...(options.seed === undefined ? [] : [`seed=${options.seed}`]),
      ]);
      const plan = planFile(file, overrides);
      if (plan.length !== 1)
        throw new ConfigError(file, [
          `describes ${plan.length} runs (a sweep): use \`cyclesparse sweep ${file}\``,
        ]);
      const [run] = plan as [(typeof plan)[number]];
      if (options.dryRun) {
        const { default: YAML } = await import('yaml');
        const { planTable } = await import('../../harness/report-lines.js');
        const [estimated] = await estimateTime(plan);
        print(`# run ${run.id}\n${YAML.stringify(run.config)}`);
        print(planTable([estimated!]));
        print(estimateBasis([estimated!]).join('\n'));
        return;
      }
      const { createSinks, sinksFromOptions } = await import('../../sinks/open.js');
      const sinks = createSinks(await sinksFromOptions(options.log)); // checked before training
      const { Store } = await import('../../store/store.js');
      const { executeRun } = await import('../../harness/execute.js');
      const { resultLine } = await import('../../harness/report-lines.js');
      const store = new Store(checkStoreDir(options.store, { write: true }));
      const outcome = await stoppable(
        `run ${run.id} stopped; run the same command to resume it from its last checkpoint`,
        () =>
          executeRun(store, run.config, print, {
            discardCheckpoint: options.discardCheckpoint === true,
            ...(sinks === undefined ? {} : { sinks }),
          }),
      );
      if (outcome.state === 'failed') {
        process.stderr.write(`run ${outcome.id} FAILED: ${outcome.error}\n`);
        process.exitCode = outcome.kind === 'input' ? EXIT.badInput : EXIT.runtimeFailure;
      } else if (outcome.state === 'running-elsewhere') {
        print(
          `run ${outcome.id} is running in another process: nothing done here (run the same command once it ends)`,
        );
        process.exitCode = EXIT.runningElsewhere;
      } else {
        print(`${outcome.skipped ? 'already in the store: ' : ''}${resultLine(outcome.result)}`);
        print(`stored in ${new Store(options.store).dir(outcome.id)}`);
      }
    });
}
