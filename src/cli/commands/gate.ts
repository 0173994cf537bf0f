import { Option, type Command } from '@commander-js/extra-typings';
import { renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type {
  InconclusivePolicy,
  LoadedSuite,
  RunValue,
  SuiteVerdict,
} from '../../claims/claims.js';
import type { RunSource } from '../../claims/run-source.js';
import { BACKENDS, PRECISIONS } from '../../engine/engine.js';
import { collect, LOG_HELP } from '../../sinks/log-option.js';
import {
  checkOutputFile,
  engineOverride,
  exitCodeOf,
  gateExitCode,
  INCONCLUSIVE_POLICIES,
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
      'evaluate a claims file against the store (running missing runs); exit 1 if a gating claim is contradicted or missing, 5 if one is inconclusive (see --inconclusive)',
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
    .addOption(inconclusiveOption())
    .option('--write-baseline <file>', WRITE_BASELINE_HELP)
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
      const { writeBaseline, ...rest } = options;
      await gateAndReport(suite, {
        ...rest,
        ...(writeBaseline === undefined
          ? {}
          : { writeBaseline: { file: writeBaseline, suiteFile: options.claims } }),
      });
    });
}

export const JUNIT_HELP =
  'also write the verdict as JUnit XML there, a test case per claim (for CI; docs/INTEGRATIONS.md)';

export const WRITE_BASELINE_HELP =
  'also record every configuration side of the claims as a measured baseline file there (mean, interval and per-seed values, with provenance), written from the runs before the claims are evaluated; its directory must be writable';

/** `--inconclusive`: what an inconclusive gate exits with, over the suite's `inconclusive:`. */
export function inconclusiveOption() {
  return new Option(
    '--inconclusive <policy>',
    'exit code when no gating claim is contradicted or missing but some are inconclusive: exit-code (5), pass (0) or fail (1); default: the suite’s inconclusive field, else exit-code',
  ).choices(INCONCLUSIVE_POLICIES);
}

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
    /**
     * `--write-baseline FILE`: a measured baseline of the suite's runs, written before the claims
     * are evaluated; `suiteFile` is the suite it records as its origin.
     */
    writeBaseline?: { readonly file: string; readonly suiteFile: string };
    /** `--inconclusive`: overrides the suite's policy for an inconclusive gate. */
    inconclusive?: InconclusivePolicy;
    dryRun?: boolean;
    /** `--junit FILE`: the verdict as JUnit XML. */
    junit?: string;
    /** `--log` sinks for the runs it trains. */
    log?: string[];
  },
): Promise<SuiteVerdict | undefined> {
  // The policy applied is the verdict's own (`SuiteVerdict.inconclusive`), so --json, JUnit and
  // the report say which one decided the exit code.
  if (options.inconclusive !== undefined)
    loaded = { ...loaded, suite: { ...loaded.suite, inconclusive: options.inconclusive } };
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
  // Sinks and the files it writes are checked before anything trains.
  const { sinksFromOptions } = await import('../../sinks/open.js');
  const log = await sinksFromOptions(options.log);
  if (options.junit !== undefined) {
    const { checkJunitFile } = await import('../../claims/junit.js');
    checkJunitFile(options.junit);
  }
  const baseline = options.writeBaseline;
  if (baseline !== undefined) checkOutputFile(baseline.file, '--write-baseline');
  const writeBaseline =
    baseline === undefined ? undefined : await baselineWriter(baseline, options.json === true);
  const started = performance.now();
  const { verdict, ran, interrupted, signal, runningElsewhere } = await gate(loaded, {
    store: options.store,
    run: options.run,
    concurrency,
    progress: defaultProgress(),
    external,
    // From the runs before the claims are evaluated, so the suite's regression claims are checked
    // against the file just written; gate() never calls it for an interrupted suite.
    ...(writeBaseline === undefined
      ? {}
      : { beforeEvaluate: (source, value) => writeBaseline(loaded, source, value) }),
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
    const outcome = await writeReport(loaded, verdict, source, options.report, { external });
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
  process.exitCode = gateExitCode({
    outcome: verdict.outcome,
    policy: verdict.inconclusive,
    runFailed: verdict.claims.some((c) => c.verdict === 'run-failed'),
    runningElsewhere: runningElsewhere.length > 0,
  });
  return verdict;
}

/**
 * What writes the suite's measured baseline to `file`: synchronous (the gate calls it between
 * its runs and its verdict), and whole — a file beside it, then renamed, so an interrupted write
 * never leaves half a baseline where a whole one was.
 */
/** The keys of the claim sides a measured baseline records: `<claim id>/a|b` of sides of runs. */
function runSides(loaded: LoadedSuite): string[] {
  return loaded.suite.claims.flatMap((claim) =>
    claim.kind === 'within-baseline'
      ? [] // it reads a cell, it does not define one
      : (['a', 'b'] as const).flatMap((key) => {
          const side = (claim as { a: object; b?: object })[key];
          return side === undefined || 'external' in side ? [] : [`${claim.id}/${key}`];
        }),
  );
}

async function baselineWriter(
  { file, suiteFile }: { readonly file: string; readonly suiteFile: string },
  json: boolean,
): Promise<(loaded: LoadedSuite, source: RunSource, value: RunValue) => void> {
  const { measuredBaseline } = await import('../../claims/write-baseline.js');
  return (loaded, source, value) => {
    const baseline = measuredBaseline(loaded, source, value, { suiteFile });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, `${JSON.stringify(baseline, null, 1)}\n`);
    renameSync(partial, file);
    const line = `baseline: ${file} (${Object.keys(baseline.cells).length} cells)`;
    // --json keeps stdout to the verdict.
    if (json) process.stderr.write(`${line}\n`);
    else print(line);
    // A side without a value for every seed (not run, failed, running elsewhere) has no cell: a
    // regression claim on it would not read, so say so now rather than when one is written.
    const left = runSides(loaded).filter((key) => baseline.cells[key] === undefined);
    if (left.length > 0)
      process.stderr.write(
        `warning: baseline ${file} has no cell for ${left.join(', ')} (not every seed has a value)\n`,
      );
  };
}
