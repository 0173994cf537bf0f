import { Option, type Command } from '@commander-js/extra-typings';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import type { MeasuredBaselines } from '../../claims/baselines.js';
import type {
  ExternalRow,
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
  EXIT,
  exitCodeOf,
  gateExitCode,
  INCONCLUSIVE_POLICIES,
  parseCount,
  parseDevice,
  parseAlpha,
  print,
} from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('gate')
    .description(
      'evaluate a claims file against the store (running missing runs); exit 1 if a gating claim is contradicted, missing or diverged, 5 if one is inconclusive (see --inconclusive)',
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
    .option('--concurrency <n>', CONCURRENCY_HELP, parseCount)
    .option('--alpha <a>', 'override the suite’s significance level, in (0, 0.5)', parseAlpha)
    .option('--report <dir>', 'also write a report (Markdown, HTML, SVG and PNG plots) there')
    .option('--json', 'print the verdict as JSON')
    .option('--junit <file>', JUNIT_HELP)
    .addOption(inconclusiveOption())
    .option('--write-baseline <file>', WRITE_BASELINE_HELP)
    .option('--force-baseline', FORCE_BASELINE_HELP)
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
      const { writeBaseline, forceBaseline, ...rest } = options;
      await gateAndReport(suite, {
        ...rest,
        ...(writeBaseline === undefined
          ? {}
          : {
              writeBaseline: {
                file: writeBaseline,
                suiteFile: options.claims,
                force: forceBaseline === true,
              },
            }),
      });
    });
}

export const CONCURRENCY_HELP =
  'runs trained at once (default: available cores; runs with backend torch on a GPU — cuda, cuda:N or mps, from the configuration or --backend/--device — one per distinct device)';

export const JUNIT_HELP =
  'also write the verdict as JUnit XML there, a test case per claim (for CI; docs/INTEGRATIONS.md)';

export const WRITE_BASELINE_HELP =
  'also record every configuration side of the claims as a measured baseline file there (mean, interval and per-seed values, with provenance); refused (exit 1, an existing file kept) if a side has no value for some seed; if the file exists and the suite’s regression claims read it, they compare with it and it is replaced after; its directory must be writable';

export const FORCE_BASELINE_HELP =
  'with --write-baseline: write it even without a cell for every side of runs';

/** `--inconclusive`: what an inconclusive gate exits with, over the suite's `inconclusive:`. */
export function inconclusiveOption() {
  return new Option(
    '--inconclusive <policy>',
    'exit code when no gating claim is contradicted, missing or diverged but some are inconclusive: exit-code (5), pass (0) or fail (1); default: the suite’s inconclusive field, else exit-code',
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
    writeBaseline?: {
      readonly file: string;
      readonly suiteFile: string;
      /** `--force-baseline`: write it even when a side of runs has no cell. */
      readonly force?: boolean;
    };
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
  // The default is decided from the suite's resolved runs (a preset can name torch without any
  // flag), the same for a dry run as for the run it estimates.
  const { defaultConcurrency } = await import('../../harness/plan.js');
  const { suiteRuns } = await import('../../claims/claims.js');
  const concurrency = Math.max(
    1,
    options.concurrency ?? defaultConcurrency(suiteRuns(loaded.suite).values()),
  );
  if (options.dryRun) {
    const { cellThreads, estimateBasis, estimateTime, planConfigs, suiteTotalLine } =
      await import('../../harness/plan.js');
    const { planTable } = await import('../../harness/report-lines.js');
    const missing = missingRuns(loaded, new Store(options.store));
    if (missing.length === 0) {
      print(`every run of suite ${loaded.suite.suite} is in ${options.store}: nothing to train`);
      return undefined;
    }
    // The gate trains what is missing as a sweep: the pool's threads per cell (harness/sweep.ts).
    const cells = concurrency;
    const threads = cellThreads(cells);
    const estimated = await estimateTime(planConfigs(missing), { threads });
    print(planTable(estimated));
    print(estimateBasis(estimated, { concurrency: cells, threads }).join('\n'));
    // The total in hours, per engine: what a paper-scale suite will cost before it is started.
    print(suiteTotalLine(loaded.suite.suite, estimated, { concurrency: cells, threads }));
    return undefined;
  }
  const { loadExternalResults } = await import('../../claims/claims.js');
  const { defaultProgress } = await import('../../harness/sweep.js');
  const { verdictTable } = await import('../../claims/verdict-text.js');
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
    baseline === undefined
      ? undefined
      : await baselineWriter(baseline, options.json === true, external);
  const started = performance.now();
  let outcome: Awaited<ReturnType<typeof gate>>;
  try {
    outcome = await gate(loaded, {
      store: options.store,
      run: options.run,
      concurrency,
      progress: defaultProgress(),
      external,
      // From the runs, before the claims are evaluated (baselineWriter says what it writes when);
      // gate() never calls it for an interrupted suite.
      ...(writeBaseline === undefined
        ? {}
        : {
            beforeEvaluate: (source: RunSource, value: RunValue) =>
              writeBaseline.beforeEvaluate(loaded, source, value),
          }),
      log,
    });
  } catch (error) {
    if (!(error instanceof BaselineRefused)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = EXIT.claimsNotMet;
    return undefined;
  }
  const { verdict, ran, interrupted, signal, runningElsewhere } = outcome;
  writeBaseline?.afterEvaluate();
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
    if (outcome.kind === 'refused')
      process.stderr.write(
        `report not written: ${outcome.reason} (\`cyclesparse report --force\` writes it anyway, or give another --report directory)\n`,
      );
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
  const code = gateExitCode({
    outcome: verdict.outcome,
    policy: verdict.inconclusive,
    runFailed: verdict.claims.some((c) => c.verdict === 'run-failed'),
    runningElsewhere: runningElsewhere.length > 0,
  });
  // A refused baseline fails the command; 3 and 4 stay, as they say why and what to do.
  const refused = writeBaseline?.refused();
  if (refused !== undefined) process.stderr.write(`${refused}\n`);
  process.exitCode =
    refused === undefined || code === EXIT.runtimeFailure || code === EXIT.runningElsewhere
      ? code
      : EXIT.claimsNotMet;
  return verdict;
}

/** A baseline refused before the claims could be evaluated: the claims read the file not written. */
class BaselineRefused extends Error {}

/** What `--write-baseline` does around the gate's verdict ({@link baselineWriter}). */
interface BaselineWriter {
  /** Between the runs and the verdict (gate()'s beforeEvaluate). */
  readonly beforeEvaluate: (loaded: LoadedSuite, source: RunSource, value: RunValue) => void;
  /** After the verdict: writes a baseline held back so the claims compared with the old file. */
  readonly afterEvaluate: () => void;
  /** Why it was not written (the old file, if any, kept), once refused. */
  readonly refused: () => string | undefined;
}

/**
 * Writes the suite's measured baseline to `file`, whole (a file beside it, then renamed: an
 * interrupted write never leaves half a baseline where a whole one was). Refused, unless
 * forced, when a side of runs has no cell (not every seed has a value): a partial baseline
 * would replace a whole one, and a regression claim on a missing side could not be checked.
 * When `file` exists and regression claims of the suite read it, the claims are evaluated
 * against it first and the new file written after, so they compare the new runs with the old
 * reference rather than with themselves; when it does not exist, it is written first, so they
 * can read it.
 */
async function baselineWriter(
  {
    file,
    suiteFile,
    force,
  }: { readonly file: string; readonly suiteFile: string; readonly force?: boolean },
  json: boolean,
  external: readonly ExternalRow[],
): Promise<BaselineWriter> {
  const { measuredBaseline, sidesWithoutCells, claimsReading } =
    await import('../../claims/write-baseline.js');
  const { evaluateSuite } = await import('../../claims/claims.js');
  // --json keeps stdout to the verdict.
  const say = (line: string) => (json ? process.stderr.write(`${line}\n`) : print(line));
  let held: MeasuredBaselines | undefined;
  let refusal: string | undefined;
  const write = (baseline: MeasuredBaselines, note = '') => {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, `${JSON.stringify(baseline, null, 1)}\n`);
    renameSync(partial, file);
    say(`baseline: ${file} (${Object.keys(baseline.cells).length} cells${note})`);
  };
  return {
    beforeEvaluate(loaded, source, value) {
      const baseline = measuredBaseline(loaded, source, value, { suiteFile });
      const lacking = sidesWithoutCells(loaded, baseline, source, value);
      const readers = claimsReading(loaded, file);
      const exists = existsSync(file);
      if (lacking.length > 0) {
        const sides = lacking.map((side) => `${side.key} (${side.why})`).join('; ');
        if (!force) {
          refusal = `baseline not written: it would have no cell for ${sides}; a baseline needs a value for every seed of every side of runs. ${exists ? `${file} is kept as it was` : `${file} not created`} (--force-baseline writes it without those cells)`;
          // The suite's regression claims read the file that is not there: no verdict can be had.
          if (!exists && readers.length > 0)
            throw new BaselineRefused(
              `${refusal}; claims ${readers.join(', ')} read ${file}, so they cannot be evaluated`,
            );
          return;
        }
        process.stderr.write(`warning: baseline ${file} has no cell for ${sides}\n`);
      }
      if (exists && readers.length > 0) {
        // Evaluated once here against the old file: if the claims cannot read it (a cell a new
        // claim reads is not in it), they compare with the new one, as when there was none.
        try {
          evaluateSuite(loaded, value, external, {
            runState: (id) => source.state(id),
            powerAnalysis: false,
          });
          held = baseline;
          return;
        } catch (error) {
          process.stderr.write(
            `warning: claims ${readers.join(', ')} cannot read the old ${file} (${(error as Error).message.split('\n')[0]!}); they compare with the new one, written first\n`,
          );
        }
      }
      write(baseline);
    },
    afterEvaluate() {
      if (held !== undefined) write(held, `; the claims compared with the file it replaced`);
      held = undefined;
    },
    refused: () => refusal,
  };
}
