#!/usr/bin/env node
/**
 * The cyclesparse command line. Thin: every command parses its options, calls library functions
 * and prints what they return.
 *
 * Exit codes: 0 success; 1 claims not met (gate, reproduce); 2 bad input (configuration, options,
 * data files, unavailable backend); 3 runtime failure (a run failed); 4 runs left unfinished
 * because another process is running them; 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by
 * SIGHUP (128 + the signal's number; a re-run continues).
 */

import { Argument, Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import {
  cycleSeries,
  storedLmc,
  storedOverlap,
  storedSharpness,
  storedSignFlips,
} from '../analysis/stored.js';
import {
  cycleTable,
  lmcTable,
  overlapTable,
  sharpnessTable,
  signsTable,
} from '../analysis/tables.js';
import { ConfigError, type EngineOverride } from '../config/resolve.js';
import { PRESETS } from '../config/presets.js';
import { configJsonSchema } from '../config/json-schema.js';
import { methodsTable, scorersTable } from '../config/option-tables.js';
import { CyclesparseError } from '../core/errors.js';
import { downloadCifar } from '../data/cifar.js';
import { DatasetFileError } from '../data/files.js';
import { downloadFashionMnist } from '../data/mnist.js';
import {
  BACKENDS,
  BackendUnavailableError,
  PRECISIONS,
  TORCH_DEVICE_PATTERN,
} from '../engine/engine.js';
import { executeRun } from '../harness/execute.js';
import { estimateTime, planConfigs, planFile, type PlannedRun } from '../harness/plan.js';
import { planTable, resultLine, statusTable } from '../harness/report-lines.js';
import { table } from '../text/format.js';
import { verdictTable } from '../claims/verdict-text.js';
import {
  evaluateSuite,
  loadExternalResults,
  loadSuite,
  type LoadedSuite,
  type RunValue,
  type SuiteVerdict,
} from '../claims/claims.js';
import {
  gate,
  measuredBaseline,
  missingRuns,
  packageVersion,
  runStateIn,
  suiteValues,
} from '../claims/gate.js';
import { writeReport } from '../report/report.js';
import {
  defaultProgress,
  describe,
  runSweep,
  STOP_SIGNALS,
  type StopSignal,
} from '../harness/sweep.js';
import { MODEL_NAMES } from '../models/zoo.js';
import { runSelfCheck } from '../self-check.js';
import { Store } from '../store/store.js';
import { checkConnection, DEFAULT_QUEUE_NAME, redactUrl } from '../queue/connection.js';
import { loadQueueKey, QUEUE_KEY_ENV } from '../queue/signing.js';
import {
  collectResults,
  enqueueSweep,
  openQueue,
  queueStatus,
  startWorker,
  waitForSweep,
} from '../queue/queue.js';
import { verifyText } from '../verify/report.js';
import { verifyArtifact } from '../verify/verify.js';
import { checkStoreDir } from './store-dir.js';

export const EXIT = {
  ok: 0,
  claimsNotMet: 1,
  badInput: 2,
  runtimeFailure: 3,
  /** Runs left unfinished because another process holds them: run the command again later. */
  runningElsewhere: 4,
  interrupted: 130, // the shell's code for a process stopped by Ctrl-C
} as const;

/** The exit code of a command stopped by `signal`: 128 + its number (130 Ctrl-C, 143 SIGTERM). */
export function exitCodeOf(signal: StopSignal): number {
  return 128 + os.constants.signals[signal];
}

// `cyclesparse … | head -1`: the reader is gone, so what is left to print has nowhere to go.
// Stop quietly, as other command-line tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit();
  });

/**
 * Runs `body` with SIGINT (Ctrl-C), SIGTERM and SIGHUP stopping the command: `message` goes to
 * stderr and the process exits with {@link exitCodeOf} the signal. Training gives the event loop a
 * turn after every epoch, so a run stops at the end of the epoch it is in; everything stored
 * (checkpoint, metrics) stays, and the same command resumes it (as after kill -9, which is
 * what to send for an immediate stop).
 */
async function stoppable<T>(message: string, body: () => Promise<T>): Promise<T> {
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal === 'SIGINT' ? 'interrupted' : signal}: ${message}\n`);
    process.exit(exitCodeOf(signal as StopSignal));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  try {
    return await body();
  } finally {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, stop);
  }
}

function parseSparsity(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value < 1)) {
    throw new InvalidArgumentError('expected a sparsity in [0, 1), such as 0.9.');
  }
  return value;
}

function parseCount(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError('expected an integer >= 0.');
  }
  return value;
}

const QUEUE_KEY_HELP = `file holding the queue key that signs results (default: $${QUEUE_KEY_ENV}); the same on the coordinator and every worker`;

const WORKER_STORE_HELP =
  "the workers' shared store as this machine mounts it: copy each run's networks from it (checked against the worker's signed digests); without it, runs come without networks";

function parseDevice(text: string): string {
  if (!TORCH_DEVICE_PATTERN.test(text))
    throw new InvalidArgumentError('expected cpu, cuda, cuda:N or mps.');
  return text;
}

/** --backend, --device and --precision as an engine override for every run of a command. */
function engineOverride(options: {
  backend?: (typeof BACKENDS)[number];
  device?: string;
  precision?: (typeof PRECISIONS)[number];
}): EngineOverride {
  return { backend: options.backend, device: options.device, precision: options.precision };
}

const print = (text: string) => process.stdout.write(`${text}\n`);

const program = new Command()
  .name('cyclesparse')
  .description('Cyclic sparse training (arXiv 2406.02773): methods, verification and statistics')
  .showHelpAfterError()
  // Before any .command(): subcommands inherit it, so their parse errors exit 2 (bad input),
  // not commander's own exit 1, which here means "claims not met".
  .exitOverride()
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 claims not met, 2 bad input, 3 runtime failure, 4 runs left to another process that is running them, 130 interrupted (Ctrl-C; 143 SIGTERM, 129 SIGHUP).',
  );

program
  .command('run')
  .description(
    'run the experiment a configuration file describes (resumes it if interrupted, skips it if finished)',
  )
  .argument('<config>', 'YAML configuration (see `cyclesparse presets` and docs/CONFIG.md)')
  .option('--store <dir>', 'results store', 'runs')
  .option('--dry-run', 'print the resolved configuration, run id and cost estimate; train nothing')
  .option(
    '--discard-checkpoint',
    'delete the run’s checkpoint first and train it from the start (the way forward when the checkpoint or its metrics cannot be read; a finished run is never retrained)',
  )
  .action(async (file, options) => {
    const plan = planFile(file);
    if (plan.length !== 1)
      throw new ConfigError(file, [
        `describes ${plan.length} runs (a sweep): use \`cyclesparse sweep ${file}\``,
      ]);
    const [run] = plan as [(typeof plan)[number]];
    if (options.dryRun) {
      const [estimated] = await estimateTime(plan);
      print(`# run ${run.id}\n${YAML.stringify(run.config)}`);
      print(planTable([estimated!]));
      return;
    }
    const store = new Store(checkStoreDir(options.store, { write: true }));
    const outcome = await stoppable(
      `run ${run.id} stopped; run the same command to resume it from its last checkpoint`,
      () =>
        executeRun(store, run.config, print, {
          discardCheckpoint: options.discardCheckpoint === true,
        }),
    );
    if (outcome.state === 'failed') {
      print(`run ${outcome.id} FAILED: ${outcome.error}`);
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

program
  .command('sweep')
  .description('run every cell of a sweep (methods × sparsities × seeds) in parallel processes')
  .argument('<config>', 'YAML configuration with a `sweep` section')
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
  .action(async (file, options) => {
    const plan = planFile(file);
    if (options.dryRun) {
      print(planTable(await estimateTime(plan)));
      return;
    }
    checkStoreDir(options.store, { write: true });
    if (options.queue !== undefined) {
      await sweepOnQueue(plan, { ...options, queue: options.queue });
      return;
    }
    const concurrency = Math.max(1, options.concurrency ?? os.availableParallelism());
    const summary = await runSweep(plan, {
      store: options.store,
      concurrency,
      progress: defaultProgress(),
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

function parseProbability(text: string): number {
  const value = Number(text);
  if (!(value > 0 && value < 1)) throw new InvalidArgumentError('expected a number in (0, 1).');
  return value;
}

async function gateAndReport(
  loaded: LoadedSuite,
  options: {
    store: string;
    run: boolean;
    concurrency?: number;
    results?: string;
    json?: boolean;
    report?: string;
    beforeEvaluate?: (store: Store, value: RunValue) => void;
    dryRun?: boolean;
  },
): Promise<SuiteVerdict | undefined> {
  checkStoreDir(options.store, { write: options.dryRun !== true });
  if (options.dryRun) {
    const missing = missingRuns(loaded, new Store(options.store));
    print(
      missing.length === 0
        ? `every run of suite ${loaded.suite.suite} is in ${options.store}: nothing to train`
        : planTable(await estimateTime(planConfigs(missing))),
    );
    return undefined;
  }
  const concurrency = Math.max(1, options.concurrency ?? os.availableParallelism());
  const external = options.results === undefined ? [] : loadExternalResults(options.results);
  const started = performance.now();
  const { verdict, ran, interrupted, signal, runningElsewhere } = await gate(loaded, {
    store: options.store,
    run: options.run,
    concurrency,
    progress: defaultProgress(),
    external,
    ...(options.beforeEvaluate === undefined ? {} : { beforeEvaluate: options.beforeEvaluate }),
  });
  if (interrupted) {
    // Claims on a half-run suite would read as failures; stop and say how to continue.
    process.stderr.write('interrupted: run the same command to continue where it stopped\n');
    process.exitCode = exitCodeOf(signal ?? 'SIGINT');
    return undefined;
  }
  if (options.json) print(JSON.stringify(verdict, null, 1));
  else {
    print(verdictTable(verdict));
    for (const c of verdict.claims)
      if (c.verdict === 'run-failed' || c.verdict === 'diverged') print(`  ${c.id}: ${c.detail}`);
  }
  if (runningElsewhere.length > 0)
    process.stderr.write(
      `${runningElsewhere.length} runs the suite needs are running in another process (their claims are missing; run the same command once it ends): ${runningElsewhere.join(', ')}\n`,
    );
  if (options.report !== undefined) {
    const files = await writeReport(loaded, verdict, new Store(options.store), options.report);
    if (!options.json) print(`report: ${files.join(', ')}`);
  }
  if (!options.json)
    print(`${ran} runs trained; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  // A run that failed is a runtime failure, not a claim that does not hold.
  process.exitCode = verdict.claims.some((c) => c.verdict === 'run-failed')
    ? EXIT.runtimeFailure
    : runningElsewhere.length > 0
      ? EXIT.runningElsewhere
      : verdict.passed
        ? EXIT.ok
        : EXIT.claimsNotMet;
  return verdict;
}

program
  .command('gate')
  .description(
    'evaluate a claims file against the store (running missing runs); exit 1 if a gating claim fails',
  )
  .requiredOption('--claims <file>', 'claims suite (YAML, docs/CLAIMS.md)')
  .option('--store <dir>', 'results store', 'runs')
  .option('--results <file>', 'results produced elsewhere (JSONL or CSV of label, seed, value)')
  .option('--no-run', 'do not train missing runs: report their claims as missing')
  .option('--concurrency <n>', 'runs trained at once (default: available cores)', parseCount)
  .option('--alpha <a>', 'override the suite’s significance level', parseProbability)
  .option('--report <dir>', 'also write a report (Markdown, HTML, SVG and PNG plots) there')
  .option('--json', 'print the verdict as JSON')
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
  .action(async (options) => {
    const loaded = loadSuite(options.claims, {}, engineOverride(options));
    const suite =
      options.alpha === undefined
        ? loaded
        : { ...loaded, suite: { ...loaded.suite, alpha: options.alpha } };
    await gateAndReport(suite, {
      ...options,
      ...(options.report === undefined ? {} : { report: options.report }),
    });
  });

program
  .command('reproduce')
  .description(
    'reproduce the paper’s claims: `mini` (CPU, MNIST, minutes) or `paper` (GPU-scale, needs CIFAR)',
  )
  .argument('<suite>', 'mini or paper')
  .option('--store <dir>', 'results store', 'runs')
  .option('--data-dir <dir>', 'paper suite: directory of the CIFAR-10 binary files')
  .option('--concurrency <n>', 'runs trained at once (default: available cores)', parseCount)
  .option('--report <dir>', 'where to write the report (default reports/<suite>)')
  .option(
    '--write-baseline <file>',
    'also record the measured cells as a baseline file (maintainers)',
  )
  .option('--json', 'print the verdict as JSON')
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
  .action(async (name, options) => {
    if (name !== 'mini' && name !== 'paper')
      throw new ConfigError('reproduce', [
        `suite: expected mini or paper, got ${JSON.stringify(name)}`,
      ]);
    if (name === 'paper' && options.dataDir === undefined)
      throw new ConfigError('reproduce paper', [
        '--data-dir: expected the directory of the CIFAR-10 binary files',
      ]);
    const file = fileURLToPath(new URL(`../../baselines/${name}.claims.yaml`, import.meta.url));
    const loaded = loadSuite(
      file,
      name === 'paper' ? { data: { dir: options.dataDir } } : {},
      engineOverride(options),
    );
    const writeBaseline = options.writeBaseline;
    await gateAndReport(loaded, {
      store: options.store,
      run: true,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.json ? { json: true } : {}),
      ...(options.dryRun ? { dryRun: true } : {}),
      report: options.report ?? join('reports', name),
      // The baseline is written from the runs before the claims are evaluated, so the suite's
      // regression claims are checked against the file just written.
      ...(writeBaseline === undefined
        ? {}
        : {
            beforeEvaluate: (store: Store, value: RunValue) => {
              const baseline = measuredBaseline(loaded, store, value, packageVersion());
              writeFileSync(writeBaseline, `${JSON.stringify(baseline, null, 1)}\n`);
              print(`baseline: ${writeBaseline} (${Object.keys(baseline.cells).length} cells)`);
            },
          }),
    });
  });

program
  .command('report')
  .description(
    'write a report (Markdown, HTML, SVG and PNG plots) of a claims suite from the store; trains nothing',
  )
  .requiredOption('--claims <file>', 'claims suite (YAML, docs/CLAIMS.md)')
  .option('--store <dir>', 'results store', 'runs')
  .option('--results <file>', 'results produced elsewhere (JSONL or CSV of label, seed, value)')
  .option('--out <dir>', 'output directory (default reports/<suite>)')
  .action(async (options) => {
    const loaded = loadSuite(options.claims);
    const external = options.results === undefined ? [] : loadExternalResults(options.results);
    const store = new Store(checkStoreDir(options.store, { write: false }));
    const value = await suiteValues(loaded, store, (line) => process.stderr.write(`${line}\n`));
    const verdict = evaluateSuite(loaded, value, external, { runState: runStateIn(store) });
    const files = await writeReport(
      loaded,
      verdict,
      store,
      options.out ?? join('reports', loaded.suite.suite),
    );
    const missing = verdict.claims.filter((c) => c.verdict === 'missing').length;
    print(`report: ${files[0]!}${missing > 0 ? ` (${missing} claims missing results)` : ''}`);
  });

function parseAlphas(text: string): number[] {
  const values = text.split(',').map((t) => Number(t.trim()));
  if (values.length === 0 || values.some((v) => !(v >= 0 && v <= 1)))
    throw new InvalidArgumentError(
      'expected comma-separated numbers in [0, 1], such as 0,0.25,0.5,0.75,1.',
    );
  return values;
}

function parsePositive(text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value))
    throw new InvalidArgumentError('expected a positive number.');
  return value;
}

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
    const store = new Store(checkStoreDir(options.store, { write: false }));
    const needsB = analysis === 'lmc' || analysis === 'signs' || analysis === 'overlap';
    if (needsB && runB === undefined)
      throw new ConfigError(`analyze ${analysis}`, ['runB: expected a second run to compare with']);
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
    if (!options.json) print(`(cached as JSON under ${store.dir(runA.split('@')[0]!)}/analyses/)`);
  });

program
  .command('download')
  .description('download a data set into a directory, checking it against the published checksums')
  .addArgument(
    new Argument('<dataset>', 'data set').choices([
      'fashion-mnist',
      'cifar10',
      'cifar100',
    ] as const),
  )
  .requiredOption('--dir <dir>', 'where to put it (then use it as data.dir)')
  .action(async (dataset, options) => {
    const dir =
      dataset === 'fashion-mnist'
        ? await downloadFashionMnist(options.dir)
        : await downloadCifar(dataset, options.dir);
    print(`${dataset}: ${dir} (checksums verified); set data.dir to it`);
  });

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

program
  .command('worker')
  .description('process sweep cells from a BullMQ queue on Redis until stopped (Ctrl-C or SIGTERM)')
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
  .option('--store <dir>', "this worker's results store (checkpoints for resumed retries)", 'runs')
  .option(
    '--lock-duration <seconds>',
    'a killed worker’s job is handed on after this long',
    parsePositive,
    30,
  )
  .option('--queue-key-file <file>', QUEUE_KEY_HELP)
  .action(async (options) => {
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

program
  .command('status')
  .description('list the runs of a store with their state and key metrics, or a queue’s cells')
  .argument('[store]', 'results store', 'runs')
  .option('--json', 'print the statuses as JSON')
  .option('--queue <url>', 'show the BullMQ queue on this Redis instead: counts and per-cell state')
  .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
  .option(
    '--collect',
    'with --queue: write completed cells into the store (each once; signed results only)',
  )
  .option('--queue-key-file <file>', `with --collect: ${QUEUE_KEY_HELP}`)
  .option('--worker-store <dir>', `with --collect: ${WORKER_STORE_HELP}`)
  .action(async (storeDir, options) => {
    if (options.queue !== undefined) {
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
    const runs = new Store(checkStoreDir(storeDir, { write: false })).list();
    print(
      options.json
        ? JSON.stringify(
            runs.map(({ result: _r, ...rest }) => ({ ...rest, final: _r?.cycles.at(-1) })),
            null,
            1,
          )
        : statusTable(runs),
    );
  });

program
  .command('schema')
  .description(
    'print the JSON Schema of configuration files (for editors; docs/config.schema.json)',
  )
  .action(() => {
    print(JSON.stringify(configJsonSchema(), null, 1));
  });

program
  .command('presets')
  .description('list the named presets a configuration can extend')
  .action(() => {
    print(YAML.stringify(PRESETS));
  });

program
  .command('methods')
  .description('list the methods and scorers a configuration can name, with their options')
  .action(() => {
    print(`${methodsTable()}\n\n${scorersTable()}`);
  });

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
  .action((path, options) => {
    const report = verifyArtifact(path, {
      ...(options.allowOutside === true ? { allowOutside: true } : {}),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    });
    print(options.json ? JSON.stringify(report, null, 2) : verifyText(report));
    process.exitCode = report.passed ? EXIT.ok : EXIT.claimsNotMet;
  });

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
  .option('--seed <n>', 'experiment seed for the random scores', parseCount, 0)
  .option('--json', 'print the report as JSON')
  .action((options) => {
    const report = runSelfCheck({
      model: options.model,
      sparsity: options.sparsity,
      seed: options.seed,
      ...(options.stem === undefined ? {} : { stem: options.stem }),
    });
    if (options.json) {
      print(JSON.stringify(report, null, 2));
    } else {
      print(
        `self-check on ${options.model}: ${report.layers} layers, ${report.weights} weights, sparsity ${options.sparsity}, seed ${options.seed}`,
      );
      for (const check of report.checks) {
        print(
          `  ${check.state === 'passed' ? 'ok  ' : 'FAIL'} ${check.name} — ${check.detail} (${check.ms.toFixed(0)} ms)`,
        );
      }
      print(report.passed ? 'all checks passed' : 'some checks FAILED');
    }
    process.exitCode = report.passed ? EXIT.ok : EXIT.runtimeFailure;
  });

try {
  await program.parseAsync();
} catch (error) {
  const code = (error as { code?: string }).code;
  if (
    code === 'commander.helpDisplayed' ||
    code === 'commander.version' ||
    code === 'commander.help'
  ) {
    process.exitCode = EXIT.ok;
  } else if (typeof code === 'string' && code.startsWith('commander.')) {
    process.exitCode = EXIT.badInput; // commander printed the message already
  } else if (
    error instanceof ConfigError ||
    error instanceof CyclesparseError ||
    error instanceof DatasetFileError ||
    error instanceof BackendUnavailableError
  ) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = EXIT.badInput;
  } else {
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT.runtimeFailure;
  }
}
