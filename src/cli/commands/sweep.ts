import type { Command } from '@commander-js/extra-typings';
import os from 'node:os';
import type { PlannedRun } from '../../harness/plan.js';
import { DEFAULT_QUEUE_NAME } from '../../queue/defaults.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import {
  EXIT,
  exitCodeOf,
  parseCount,
  parsePositive,
  print,
  QUEUE_KEY_HELP,
  WORKER_STORE_HELP,
} from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('sweep')
    .description('run every cell of a sweep (methods × sparsities × seeds) in parallel processes')
    .argument('<config>', 'YAML configuration with a `sweep` section')
    .argument(
      '[overrides...]',
      'key=value settings of the configuration, such as training.epochsPerCycle=8 seed=3 (docs/CONFIG.md)',
    )
    .option('--store <dir>', 'results store', 'runs')
    .option('--concurrency <n>', 'cells run at once (default: available cores)', parseCount)
    .option('--dry-run', 'print the cells, their run ids and a cost estimate; train nothing')
    .option(
      '--queue <url>',
      'enqueue the cells on BullMQ workers over Redis (redis://[user:password@]host:port[/db], rediss:// for TLS) instead of running them here',
    )
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option(
      '--priority <n>',
      'with --queue: job priority, 1 = highest (default: none, FIFO)',
      parseCount,
    )
    .option('--attempts <n>', 'with --queue: tries per cell before it fails', parseCount, 3)
    .option(
      '--timeout <minutes>',
      'with --queue: kill and retry a cell after this long (resumes from its checkpoint)',
      parsePositive,
    )
    .option(
      '--no-wait',
      'with --queue: enqueue and exit; collect later with `status --queue … --collect`',
    )
    .option(
      '--retry-failed',
      'with --queue: replace cells that failed for good with fresh jobs (otherwise they stay failed)',
    )
    .option('--queue-key-file <file>', QUEUE_KEY_HELP)
    .option('--worker-store <dir>', `with --queue: ${WORKER_STORE_HELP}`)
    .option('--log <sink>', `${LOG_HELP} (each cell from its own process)`, collect)
    .action(async (file, overrideArgs, options) => {
      const { cellThreads, estimateBasis, estimateTime, planFile } =
        await import('../../harness/plan.js');
      const { parseOverrides } = await import('../../config/overrides.js');
      const plan = planFile(file, parseOverrides(overrideArgs));
      if (options.dryRun) {
        const { planTable } = await import('../../harness/report-lines.js');
        // Measured at the threads the pool gives each cell (harness/sweep.ts), the wall time
        // for as many cells at a time as the sweep will run.
        const cells = Math.max(1, options.concurrency ?? os.availableParallelism());
        const threads = cellThreads(cells);
        const estimated = await estimateTime(plan, { threads });
        print(planTable(estimated));
        print(estimateBasis(estimated, { concurrency: cells, threads }).join('\n'));
        return;
      }
      checkStoreDir(options.store, { write: true });
      if (options.queue !== undefined && options.log !== undefined) {
        // The cells train on the workers' machines, which do not get the sinks.
        const { InvalidArgumentError } = await import('../../core/errors.js');
        throw new InvalidArgumentError(
          '--log',
          'a local sweep (without --queue)',
          options.log.join(' '),
          '--log: not supported with --queue (the workers train the cells); sweep without --queue to stream metrics',
        );
      }
      const { sinksFromOptions } = await import('../../sinks/open.js');
      const log = await sinksFromOptions(options.log); // checked before any cell trains
      if (options.queue !== undefined) {
        await sweepOnQueue(plan, { ...options, queue: options.queue });
        return;
      }
      const { defaultProgress, describe, runSweep } = await import('../../harness/sweep.js');
      const concurrency = Math.max(1, options.concurrency ?? os.availableParallelism());
      const summary = await runSweep(plan, {
        store: options.store,
        concurrency,
        progress: defaultProgress(),
        log,
      });
      const failed = summary.outcomes.filter((o) => o.state === 'failed');
      const done = summary.outcomes.filter((o) => o.state === 'finished' || o.state === 'diverged');
      print(
        `${done.length}/${plan.length} runs done in ${summary.seconds.toFixed(0)} s${summary.interrupted ? ' (interrupted: run the same command to continue)' : ''}`,
      );
      failed.forEach((o) => print(`  ${describe(o)}`));
      const elsewhere = summary.outcomes.filter((o) => o.state === 'running-elsewhere');
      if (elsewhere.length > 0)
        print(
          `${elsewhere.length} left to another process that is running them (run the same command once it ends): ${elsewhere.map((o) => o.id).join(', ')}`,
        );
      if (failed.length > 0) process.exitCode = EXIT.runtimeFailure;
      else if (summary.interrupted) process.exitCode = exitCodeOf(summary.signal ?? 'SIGINT');
      else if (elsewhere.length > 0) process.exitCode = EXIT.runningElsewhere;
    });
}

async function sweepOnQueue(
  plan: PlannedRun[],
  options: {
    queue: string;
    queueName: string;
    store: string;
    priority?: number;
    attempts: number;
    timeout?: number;
    wait: boolean;
    retryFailed?: boolean;
    queueKeyFile?: string;
    workerStore?: string;
  },
): Promise<void> {
  const { loadQueueKey } = await import('../../queue/signing.js');
  const { checkConnection, redactUrl } = await import('../../queue/connection.js');
  const { enqueueSweep, openQueue, waitForSweep } = await import('../../queue/queue.js');
  const key = loadQueueKey(options.queueKeyFile);
  await checkConnection(options.queue);
  const address = { url: options.queue, name: options.queueName };
  const queue = openQueue(address);
  try {
    const enqueue = {
      key,
      attempts: Math.max(1, options.attempts),
      store: options.store,
      retryFailed: options.retryFailed === true,
      ...(options.priority === undefined ? {} : { priority: options.priority }),
      ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout * 60_000 }),
    };
    const summary = await enqueueSweep(queue, plan, enqueue);
    print(
      `${redactUrl(options.queue)} ${options.queueName}: ${summary.added.length} cells enqueued` +
        (summary.retried.length > 0 ? ` (${summary.retried.length} failed ones again)` : '') +
        `, ${summary.alreadyQueued.length} already queued, ${summary.alreadyStored.length} already in ${options.store}`,
    );
    if (summary.failed.length > 0)
      print(
        `${summary.failed.length} cells failed earlier and stay failed: add --retry-failed to run them again`,
      );
    if (!options.wait) return;
    const ids = new Set([...summary.added, ...summary.alreadyQueued]);
    let done = 0;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const { completed, failed } = await waitForSweep(
      address,
      queue,
      plan.filter((run) => ids.has(run.id)),
      {
        ...enqueue,
        ...(options.workerStore === undefined ? {} : { workerStore: options.workerStore }),
        onCell: (id, state, detail) => {
          done++;
          log(`[${done}/${ids.size}] ${id} ${state}: ${detail}`);
        },
        onNotice: log,
      },
    );
    print(
      `${completed.length}/${ids.size} cells completed and stored in ${options.store}; ${failed.length} failed`,
    );
    failed.forEach((f) => print(`  ${f.id} failed: ${f.error}`));
    if (failed.length > 0) process.exitCode = EXIT.runtimeFailure;
  } finally {
    await queue.close();
  }
}
