import { Option, type Command } from '@commander-js/extra-typings';
import os from 'node:os';
import type { LoadedSuite, RunValue, SuiteVerdict } from '../../claims/claims.js';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import type { RunSource } from '../../claims/run-source.js';
import {
  engineOverride,
  EXIT,
  exitCodeOf,
  parseCount,
  parseDevice,
  parseProbability,
  print,
} from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('gate')
    .description(
      'evaluate a claims file against the store (running missing runs); exit 1 if a gating claim fails',
    )
    .requiredOption('--claims <file>', 'claims suite (YAML, docs/CLAIMS.md)')
    .argument(
      '[overrides...]',
      'key=value settings set in every run of the suite, such as training.epochsPerCycle=8 (docs/CONFIG.md; not seed: the suite lists its seeds)',
    )
    .option('--store <dir>', 'results store', 'runs')
    .option(
      '--results <file>',
      'results produced elsewhere (JSONL or CSV of label, seed, value and optionally metric; docs/CLAIMS.md)',
    )
    .option('--no-run', 'do not train missing runs: report their claims as missing')
    .option('--concurrency <n>', 'runs trained at once (default: available cores)', parseCount)
    .option('--alpha <a>', 'override the suite’s significance level', parseProbability)
    .option('--report <dir>', 'also write a report (Markdown, HTML, SVG and PNG plots) there')
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
    .action(async (overrideArgs, options) => {
      const { loadSuite } = await import('../../claims/claims.js');
      const { parseOverrides } = await import('../../config/overrides.js');
      const loaded = loadSuite(
        options.claims,
        {},
        engineOverride(options),
        parseOverrides(overrideArgs),
      );
      const suite =
        options.alpha === undefined
          ? loaded
          : { ...loaded, suite: { ...loaded.suite, alpha: options.alpha } };
      await gateAndReport(suite, {
        ...options,
        ...(options.report === undefined ? {} : { report: options.report }),
      });
    });
}

export const JUNIT_HELP =
  'also write the verdict as JUnit XML there, a test case per claim (for CI; docs/INTEGRATIONS.md)';

/** Gates a loaded suite and prints its verdict: what `gate` and `reproduce` share. */
export async function gateAndReport(
  loaded: LoadedSuite,
  options: {
    store: string;
    run: boolean;
    concurrency?: number;
    results?: string;
    json?: boolean;
    report?: string;
    beforeEvaluate?: (source: RunSource, value: RunValue) => void;
    dryRun?: boolean;
    /** `--junit FILE`: the verdict as JUnit XML. */
    junit?: string;
    /** `--log` sinks for the runs it trains. */
    log?: string[];
  },
): Promise<SuiteVerdict | undefined> {
  const { Store } = await import('../../store/store.js');
  const { gate, missingRuns } = await import('../../claims/gate.js');
  checkStoreDir(options.store, { write: options.dryRun !== true });
  if (options.dryRun) {
    const { cellThreads, estimateBasis, estimateTime, planConfigs } =
      await import('../../harness/plan.js');
    const { planTable } = await import('../../harness/report-lines.js');
    const missing = missingRuns(loaded, new Store(options.store));
    if (missing.length === 0) {
      print(`every run of suite ${loaded.suite.suite} is in ${options.store}: nothing to train`);
      return undefined;
    }
    // The gate trains what is missing as a sweep: the pool's threads per cell (harness/sweep.ts).
    const cells = Math.max(1, options.concurrency ?? os.availableParallelism());
    const threads = cellThreads(cells);
    const estimated = await estimateTime(planConfigs(missing), { threads });
    print(planTable(estimated));
    print(estimateBasis(estimated, { concurrency: cells, threads }).join('\n'));
    return undefined;
  }
  const { loadExternalResults } = await import('../../claims/claims.js');
  const { defaultProgress } = await import('../../harness/sweep.js');
  const { verdictTable } = await import('../../claims/verdict-text.js');
  const concurrency = Math.max(1, options.concurrency ?? os.availableParallelism());
  const external = options.results === undefined ? [] : loadExternalResults(options.results);
  // Sinks and the JUnit file are checked before anything trains.
  const { sinksFromOptions } = await import('../../sinks/open.js');
  const log = await sinksFromOptions(options.log);
  if (options.junit !== undefined) {
    const { checkJunitFile } = await import('../../claims/junit.js');
    checkJunitFile(options.junit);
  }
  const started = performance.now();
  const { verdict, ran, interrupted, signal, runningElsewhere } = await gate(loaded, {
    store: options.store,
    run: options.run,
    concurrency,
    progress: defaultProgress(),
    external,
    ...(options.beforeEvaluate === undefined ? {} : { beforeEvaluate: options.beforeEvaluate }),
    log,
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
  for (const c of verdict.claims)
    for (const warning of c.warnings) process.stderr.write(`warning: ${warning}\n`);
  if (runningElsewhere.length > 0)
    process.stderr.write(
      `${runningElsewhere.length} runs the suite needs are running in another process (their claims are missing; run the same command once it ends): ${runningElsewhere.join(', ')}\n`,
    );
  if (options.report !== undefined) {
    const { writeReport } = await import('../../report/report.js');
    const { storeSource } = await import('../../claims/run-source.js');
    const source = storeSource(new Store(options.store));
    const outcome = await writeReport(loaded, verdict, source, options.report);
    if (outcome.kind === 'refused') process.stderr.write(`report not written: ${outcome.reason}\n`);
    else if (!options.json) print(`report: ${outcome.files.join(', ')}`);
  }
  if (options.junit !== undefined) {
    const { backendsOf, writeJunit } = await import('../../claims/junit.js');
    writeJunit(options.junit, [
      {
        verdict,
        seeds: loaded.suite.seeds,
        backends: backendsOf(new Store(options.store), verdict),
        seconds: (performance.now() - started) / 1000,
      },
    ]);
    if (!options.json) print(`JUnit: ${options.junit}`);
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
