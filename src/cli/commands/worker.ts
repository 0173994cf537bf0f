import { Option, type Command } from '@commander-js/extra-typings';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { DEFAULT_QUEUE_NAME } from '../../queue/defaults.js';
import {
  engineOverride,
  EXIT,
  parseCount,
  parseDevice,
  parsePositive,
  QUEUE_KEY_HELP,
} from '../shared.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'process sweep cells from a BullMQ queue on Redis until stopped (Ctrl-C or SIGTERM)',
    )
    .requiredOption('--queue <url>', 'redis://[user:password@]host:port[/db], or rediss:// for TLS')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'jobs run at once', parseCount, 1)
    .addOption(new Option('--backend <name>', 'run every job on this backend').choices(BACKENDS))
    .option('--device <device>', 'with --backend torch: cpu, cuda, cuda:N or mps', parseDevice)
    .addOption(
      new Option('--precision <p>', 'with --backend torch: fp32 (default), tf32 or bf16').choices(
        PRECISIONS,
      ),
    )
    .option(
      '--store <dir>',
      "this worker's results store (checkpoints for resumed retries)",
      'runs',
    )
    .option(
      '--lock-duration <seconds>',
      'a killed worker’s job is handed on after this long',
      parsePositive,
      30,
    )
    .option('--queue-key-file <file>', QUEUE_KEY_HELP)
    .action(async (options) => {
      const { loadQueueKey } = await import('../../queue/signing.js');
      const { checkConnection, redactUrl } = await import('../../queue/connection.js');
      const { startWorker } = await import('../../queue/queue.js');
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const key = loadQueueKey(options.queueKeyFile);
      await checkConnection(options.queue);
      const running = startWorker({
        url: options.queue,
        name: options.queueName,
        key,
        store: options.store,
        concurrency: Math.max(1, options.concurrency),
        lockDurationMs: options.lockDuration * 1000,
        stalledIntervalMs: Math.max(500, (options.lockDuration * 1000) / 2),
        engine: engineOverride(options),
        log,
      });
      log(
        `worker on ${redactUrl(options.queue)} ${options.queueName}, concurrency ${options.concurrency}, store ${options.store}`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log(`${signal}: stopping; running jobs are killed and retried elsewhere`);
          void running.close(true).then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      process.exitCode = EXIT.interrupted;
    });
}
