/**
 * A suite's results file (`results.json` beside its report): the per-seed values its verdict and
 * report read — each run's result without the levels' masks, the cycle analyses of the runs
 * behind analysis claims, the external rows — so the report can be rebuilt, and the claims
 * re-evaluated, without the store and without training. The same inputs give the same bytes
 * (keys and runs sorted, no time of its own), so a committed file only changes when results do.
 */

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { CycleSeries } from '../analysis/stored.js';
import { canonicalJson, type Json } from '../config/resolve.js';
import { schemaError } from '../core/errors.js';
import { resultSchema } from '../store/records.js';
import {
  ANALYSIS_METRICS,
  evaluateSuite,
  externalRowSchema,
  suiteRuns,
  type ExternalRow,
  type LoadedSuite,
} from './claims.js';
import type { RunSource, RunSummary } from './run-source.js';

/** Bumped when a field changes meaning or goes; a file of a later format is refused. */
export const RESULTS_FORMAT = 1;

/** A JSON number the writer may have written as null (NaN or ±Infinity): reads back as NaN. */
const finiteOrNaN = z.number().or(z.null().transform(() => Number.NaN));

const runSummarySchema = resultSchema.omit({ levels: true }).extend({
  levels: z.array(
    z.object({ level: z.number().int().nonnegative(), label: z.string(), sparsity: z.number() }),
  ),
});

// The file's own objects are strict: a misspelt key is refused, not silently dropped. (A run's
// result is the store's schema, read as the store reads it.)
const lmcPointSchema = z.strictObject({
  alpha: z.number(),
  train: z.strictObject({ loss: finiteOrNaN, error: finiteOrNaN }),
  test: z.strictObject({ loss: finiteOrNaN, error: finiteOrNaN }),
});

const analysesSchema = z.strictObject({
  /** Top Hessian eigenvalue at the end of the run. */
  sharpness: finiteOrNaN,
  cycles: z.array(z.strictObject({ cycle: z.number().int(), sharpness: finiteOrNaN })),
  pairs: z.array(
    z.strictObject({
      from: z.number().int(),
      to: z.number().int(),
      testErrorBarrier: finiteOrNaN,
      testErrorBarrierLinear: finiteOrNaN,
      trainErrorBarrier: finiteOrNaN,
      testLossBarrier: finiteOrNaN,
      signFlipFraction: finiteOrNaN,
      curve: z.array(lmcPointSchema),
    }),
  ),
});

const runEntrySchema = z.strictObject({
  id: z.string(),
  seed: z.number().int().nonnegative(),
  /** completed / diverged: the result says so; failed: no result (the run threw). */
  state: z.enum(['completed', 'diverged', 'failed']),
  result: runSummarySchema.exactOptional(),
  /** Only for runs behind analysis claims (barrier, barrier-linear, sharpness). */
  analyses: analysesSchema.exactOptional(),
});

export const resultsFileSchema = z.strictObject({
  format: z.number().int().min(1),
  suite: z.string(),
  runs: z.array(runEntrySchema),
  external: z.array(externalRowSchema),
});

/** A results file as read back (what the schema gives). */
export type ResultsFile = z.output<typeof resultsFileSchema>;

/** A results file as written: what the sources hand out, read-only. */
export interface ResultsContents {
  readonly format: number;
  readonly suite: string;
  readonly runs: readonly {
    readonly id: string;
    readonly seed: number;
    readonly state: 'completed' | 'diverged' | 'failed';
    readonly result?: RunSummary;
    readonly analyses?: {
      readonly sharpness: number;
      readonly cycles: CycleSeries['cycles'];
      readonly pairs: CycleSeries['pairs'];
    };
  }[];
  readonly external: readonly ExternalRow[];
}

// What is read back is what is written: the schema and the sources' types agree.
type Agrees<A extends B, B> = A;
export type ReadAsWritten = Agrees<ResultsFile, ResultsContents>;

/** The result without the levels' masks (and without anything a caller spread into it). */
function summaryOf(result: RunSummary): RunSummary {
  const { method, options, setup, backend, status, cycles, cost, provenance } = result;
  return {
    method,
    options,
    setup,
    backend,
    status,
    cycles,
    levels: result.levels.map(({ level, label, sparsity }) => ({ level, label, sparsity })),
    cost,
    ...(provenance === undefined ? {} : { provenance }),
  };
}

/** Runs whose analyses a verdict or report reads: the runs of analysis claims that completed. */
function analysedRuns(loaded: LoadedSuite, source: RunSource): Set<string> {
  const claims = evaluateSuite(loaded, () => undefined, [], { checkBaselines: false }).claims;
  return new Set(
    claims
      .filter((c) => ANALYSIS_METRICS.has(c.metric))
      .flatMap((c) => c.runIds)
      .filter((id) => source.result(id)?.status === 'completed'),
  );
}

/** The file's contents for a suite, from any source (a store, or another results file). */
export async function resultsOf(
  loaded: LoadedSuite,
  source: RunSource,
  external: readonly ExternalRow[],
): Promise<ResultsContents> {
  const analysed = analysedRuns(loaded, source);
  const runs: ResultsContents['runs'][number][] = [];
  for (const [id, config] of [...suiteRuns(loaded.suite)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const result = source.result(id);
    const ended = source.state(id);
    if (result === undefined && ended !== 'failed') continue; // not run yet: nothing to keep
    const state = result === undefined ? 'failed' : result.status;
    let analyses: ResultsContents['runs'][number]['analyses'];
    if (analysed.has(id)) {
      const { cycles, pairs } = await source.cycleSeries(id);
      analyses = { sharpness: await source.sharpness(id), cycles, pairs };
    }
    runs.push({
      id,
      seed: config.seed,
      state,
      ...(result === undefined ? {} : { result: summaryOf(result) }),
      ...(analyses === undefined ? {} : { analyses }),
    });
  }
  const rowKey = (r: ExternalRow) => JSON.stringify([r.label, r.metric ?? '', r.seed]);
  return {
    format: RESULTS_FORMAT,
    suite: loaded.suite.suite,
    runs,
    external: [...external].sort((a, b) => (rowKey(a) < rowKey(b) ? -1 : 1)),
  };
}

/** The file's text: keys sorted, one value per line (diffs show what changed). */
export function resultsText(results: ResultsContents): string {
  // Round-tripped through JSON first so undefined fields go and NaN reads as null, as written.
  const sorted = JSON.parse(canonicalJson(JSON.parse(JSON.stringify(results)) as Json)) as unknown;
  return `${JSON.stringify(sorted, null, 1)}\n`;
}

/**
 * Writes the results file of a suite (atomically: a reader never sees half of it). Every run the
 * suite needs that has a result or failed is in it; runs not run yet are left out (they read as
 * missing, as from the store).
 */
export async function writeResultsFile(
  file: string,
  loaded: LoadedSuite,
  source: RunSource,
  external: readonly ExternalRow[],
): Promise<void> {
  const text = resultsText(await resultsOf(loaded, source, external));
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, text);
  renameSync(partial, file);
}

/** Reads and checks a results file; `suite` (when given) must be the suite it was written for. */
export function readResultsFile(file: string, suite?: string): ResultsFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw schemaError(file, {
      path: [],
      message: `a readable JSON results file (${(error as Error).message})`,
    });
  }
  // The format first: a later format's fields may not parse, and that is not the file's fault.
  const format = (json as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > RESULTS_FORMAT)
    throw schemaError(file, {
      path: ['format'],
      message: `a results file of format ${RESULTS_FORMAT} or earlier (this one was written by a later cyclesparse)`,
      input: format,
    });
  const parsed = resultsFileSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw schemaError(file, parsed.error.issues[0]!);
  const results = parsed.data;
  if (suite !== undefined && results.suite !== suite)
    throw schemaError(file, {
      path: ['suite'],
      message: `the results of suite ${JSON.stringify(suite)} (the suite being reported)`,
      input: results.suite,
    });
  const seen = new Set<string>();
  results.runs.forEach((run, i) => {
    if (seen.has(run.id))
      throw schemaError(file, {
        path: ['runs', i, 'id'],
        message: 'each run once',
        input: run.id,
      });
    seen.add(run.id);
    if ((run.state === 'failed') !== (run.result === undefined))
      throw schemaError(file, {
        path: ['runs', i, 'state'],
        message: 'failed for a run without a result, and the result status for a run with one',
        input: run.state,
      });
    if (run.result !== undefined && run.result.status !== run.state)
      throw schemaError(file, {
        path: ['runs', i, 'state'],
        message: `the run's result status (${run.result.status})`,
        input: run.state,
      });
  });
  // As loadExternalResults refuses them: two values for one label, seed and metric.
  const rows = new Map<string, number>();
  results.external.forEach((row, i) => {
    const key = JSON.stringify([row.label, row.seed, row.metric]);
    const first = rows.get(key);
    if (first !== undefined)
      throw schemaError(file, {
        path: ['external', i],
        message: `one row per label, seed and metric (external[${first}] has label ${JSON.stringify(row.label)} seed ${row.seed}${row.metric === undefined ? '' : ` metric ${row.metric}`} too)`,
      });
    rows.set(key, i);
  });
  return results;
}

/**
 * A source reading a results file written for the suite, and the external rows it records. A
 * run's analyses are answered only for the runs the file keeps them for (the runs of the suite's
 * analysis claims); asking for another's is refused, naming the file and the run. `ids`: the
 * runs the file holds (whether they are the suite's says whether it was written with the same
 * overrides).
 */
export function fileSource(
  file: string,
  loaded: LoadedSuite,
): { source: RunSource; external: ExternalRow[]; ids: string[] } {
  const results = readResultsFile(file, loaded.suite.suite);
  // A run of the suite is of one seed (its id is its configuration's): another is a file edited
  // or mixed up, whose values would stand in for the wrong seed.
  const configs = suiteRuns(loaded.suite);
  results.runs.forEach((run, i) => {
    const seed = configs.get(run.id)?.seed;
    if (seed !== undefined && seed !== run.seed)
      throw schemaError(file, {
        path: ['runs', i, 'seed'],
        message: `seed ${seed}, the seed of suite ${loaded.suite.suite}'s run ${run.id}`,
        input: run.seed,
      });
  });
  const runs = new Map(results.runs.map((run) => [run.id, run]));
  const analysesOf = (id: string) => {
    const analyses = runs.get(id)?.analyses;
    if (analyses === undefined)
      throw schemaError(file, {
        path: ['runs'],
        message: `the cycle analyses of run ${id} (the file keeps them for the runs of analysis claims that completed)`,
      });
    return analyses;
  };
  const source: RunSource = {
    result: (id) => runs.get(id)?.result,
    state: (id) => {
      const state = runs.get(id)?.state;
      return state === 'failed' || state === 'diverged' ? state : undefined;
    },
    // A refusal is a rejected promise, as from a store, not a throw on calling.
    cycleSeries: (id) =>
      new Promise<CycleSeries>((resolve) => {
        const { cycles, pairs } = analysesOf(id);
        resolve({ id, cycles, pairs });
      }),
    sharpness: (id) => new Promise<number>((resolve) => resolve(analysesOf(id).sharpness)),
  };
  return { source, external: [...results.external], ids: [...runs.keys()] };
}
