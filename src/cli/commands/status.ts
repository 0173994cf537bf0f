import type { Command } from '@commander-js/extra-typings';
import { DEFAULT_QUEUE_NAME } from '../../queue/defaults.js';
import { EXIT, print, QUEUE_KEY_HELP, WORKER_STORE_HELP } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('list the runs of a store with their state and key metrics, or a queue’s cells')
    .argument('[store]', 'results store', 'runs')
    .option('--json', 'print the statuses as JSON (schema: docs/EXPORT.md)')
    .option(
      '--where <condition>',
      'only runs where this SQL condition holds over the statuses table (e.g. "method = \'pai\' AND seed < 3"; docs/EXPORT.md)',
    )
    .option(
      '--group-by <columns>',
      'group runs by these statuses columns (comma-separated, e.g. method,method.sparsity): runs per group and test accuracy mean ± 95% t-interval over the group',
    )
    .option(
      '--queue <url>',
      'show the BullMQ queue on this Redis instead: counts and per-cell state',
    )
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option(
      '--collect',
      'with --queue: write completed cells into the store (each once; signed results only)',
    )
    .option('--queue-key-file <file>', `with --collect: ${QUEUE_KEY_HELP}`)
    .option('--worker-store <dir>', `with --collect: ${WORKER_STORE_HELP}`)
    .action(async (storeDir, options) => {
      // Options that belong to one listing are refused with the other, not ignored.
      const { InvalidArgumentError } = await import('../../core/errors.js');
      if (options.queue !== undefined && (options.where ?? options.groupBy) !== undefined)
        throw new InvalidArgumentError(
          options.where !== undefined ? '--where' : '--group-by',
          'a store listing (without --queue)',
          options.where ?? options.groupBy,
        );
      if (options.queue === undefined)
        for (const [flag, value] of [
          ['--collect', options.collect],
          ['--queue-key-file', options.queueKeyFile],
          ['--worker-store', options.workerStore],
        ] as const)
          if (value !== undefined)
            throw new InvalidArgumentError(flag, 'a queue listing (with --queue)', value);
      if (options.queue !== undefined) {
        const { loadQueueKey } = await import('../../queue/signing.js');
        const { checkConnection, redactUrl } = await import('../../queue/connection.js');
        const { collectResults, openQueue, queueStatus } = await import('../../queue/queue.js');
        const { table } = await import('../../text/format.js');
        const key = options.collect ? loadQueueKey(options.queueKeyFile) : undefined;
        await checkConnection(options.queue);
        const queue = openQueue({ url: options.queue, name: options.queueName });
        try {
          const collected =
            key === undefined
              ? undefined
              : await collectResults(queue, storeDir, key, options.workerStore);
          const status = await queueStatus(queue);
          if ((collected?.rejected.length ?? 0) > 0) process.exitCode = EXIT.runtimeFailure;
          if (options.json) {
            print(JSON.stringify({ ...status, ...(collected ? { collected } : {}) }, null, 1));
            return;
          }
          print(
            `${redactUrl(options.queue)} ${options.queueName}: ` +
              Object.entries(status.counts)
                .map(([state, n]) => `${n} ${state}`)
                .join(', '),
          );
          if (status.cells.length > 0)
            print(
              table([
                ['cell', 'state', 'attempts', 'error'],
                ...status.cells.map((c) => [c.id, c.state, String(c.attempts), c.error ?? '']),
              ]),
            );
          if (collected) {
            print(
              `collected into ${storeDir}: ${collected.imported.length} new, ${collected.alreadyStored.length} already there` +
                (collected.busy.length > 0 ? `, ${collected.busy.length} busy (run again)` : '') +
                (collected.rejected.length > 0
                  ? `, ${collected.rejected.length} rejected (not imported)`
                  : ''),
            );
            collected.rejected.forEach((r) => print(`  ${r.id} rejected: ${r.reason}`));
            collected.withoutNetworks.forEach((r) =>
              print(`  ${r.id} imported without networks: ${r.reason}`),
            );
          }
        } finally {
          await queue.close();
        }
        return;
      }
      const { Store } = await import('../../store/store.js');
      const { statusTable } = await import('../../harness/report-lines.js');
      // A misspelt store is an error naming it, not an empty list (exit 0).
      const store = new Store(
        checkStoreDir(storeDir, { write: false, mustExist: true, name: 'store' }),
      );
      if (options.groupBy !== undefined) {
        const { groupTable, statusGroups } = await import('../../results/status.js');
        const groupBy = options.groupBy
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '');
        const groups = await statusGroups(store, groupBy, options.where);
        print(options.json ? JSON.stringify(groups, null, 1) : groupTable(groups, groupBy));
        return;
      }
      let runs = store.list();
      if (options.where !== undefined) {
        const { runsWhere } = await import('../../results/status.js');
        const ids = new Set(await runsWhere(store, options.where));
        runs = runs.filter((r) => ids.has(r.id));
      }
      const { STATUS_JSON_VERSION } = await import('../../results/schema.js');
      print(
        options.json
          ? JSON.stringify(
              runs.map(({ result: _r, ...rest }) => ({
                schemaVersion: STATUS_JSON_VERSION,
                ...rest,
                final: _r?.cycles.at(-1),
              })),
              null,
              1,
            )
          : statusTable(runs),
      );
    });
}
