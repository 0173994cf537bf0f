/**
 * Claims: statements about results that a release is gated on, in YAML (format in
 * docs/CLAIMS.md). A suite has a base configuration, seeds, a metric (best or final test
 * accuracy of the last cycle), α and a multiple-testing correction; each claim compares sides —
 * configurations merged over the base (one run per seed) or results produced elsewhere
 * (`external: <label>`, from a JSONL/CSV file).
 *
 * Kinds:
 * - `greater`: A − B > margin (paired by seed by default; Welch or bootstrap on request);
 * - `equivalent`: |A − B| < δ (TOST, paired by default);
 * - `at-least`: mean(A) > value − δ (one-sample t);
 * - `within-baseline`: A equivalent to a measured baseline's per-seed values within ±margin
 *   (Welch TOST; regression).
 * Every claim reads `holds` (its test is significant, below), `contradicted` (the
 * opposite is) or `inconclusive` (neither; with the seeds a power analysis says would decide it).
 * A claim with `gate: false` is reported but does not decide the verdict (for paper claims that
 * do not hold at a scale). Claims fall into three families: the gating claims other than
 * regressions, the gating regressions, and the reported ones. With `correction: holm` the
 * opposites' p-values are Holm-adjusted within each family, and the claims' own only in the
 * reported one: the gate passes only when every gating claim holds, an intersection–union test
 * whose level is α unadjusted (docs/CLAIMS.md).
 */

import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { modelFor, pipelineFor } from '../config/build.js';
import { applyOverrides, type Override } from '../config/overrides.js';
import {
  ConfigError,
  loadConfigFile,
  merge,
  readConfigText,
  resolveRun,
  runId,
  withEngine,
  type EngineOverride,
} from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { InvalidArgumentError, schemaError } from '../core/errors.js';
import { randomStream } from '../core/random.js';
import {
  bootstrap,
  equivalence,
  sampleSd,
  estimate,
  holm,
  paired,
  welch,
  type Estimate,
  type TestResult,
} from '../stats/inference.js';
import { oneSidedSeeds, tostSeeds, POWER, type PowerDesign } from '../stats/power.js';
import { loadMeasuredBaselines, type MeasuredBaselines } from './baselines.js';

const side = z.union([
  z.object({ external: z.string().min(1) }).strict(),
  z.record(z.string(), z.unknown()),
]);
/**
 * What a run contributes to a claim: `best` / `final` test accuracy of the last cycle, or an
 * analysis of its stored networks — `barrier` (test-error barrier between consecutive cycles
 * over the mean of the two ends, Frankle et al., averaged over the pairs), `barrier-linear` (the
 * same above the straight line between the ends; analysis/lmc.ts) or `sharpness` (top Hessian
 * eigenvalue at the end of the last cycle).
 */
export const METRICS = ['best', 'final', 'barrier', 'barrier-linear', 'sharpness'] as const;
export type Metric = (typeof METRICS)[number];
export const ANALYSIS_METRICS: ReadonlySet<Metric> = new Set([
  'barrier',
  'barrier-linear',
  'sharpness',
]);

/**
 * Which cycle of a run a claim reads: `last` (the default), or the k-th (1-based over the whole
 * pipeline, as in result.json's `cycles`). Analysis metrics use the run's cycles as a whole and
 * take `last` only.
 */
export const cycleSchema = z.union([z.literal('last'), z.number().int().min(1)]);
export type Cycle = z.infer<typeof cycleSchema>;

const common = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  /** Overrides the suite's metric for this claim. */
  metric: z.enum(METRICS).optional(),
  /** Overrides the suite's cycle for this claim. */
  cycle: cycleSchema.optional(),
  paper: z.string().optional(),
  description: z.string(),
  gate: z.boolean().default(true),
  a: side,
};

export const claimSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('greater'),
      ...common,
      b: side,
      margin: z.number().default(0),
      test: z.enum(['paired', 'welch', 'bootstrap']).default('paired'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('equivalent'),
      ...common,
      b: side,
      delta: z.number().positive(),
      test: z.enum(['paired', 'welch']).default('paired'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('at-least'),
      ...common,
      value: z.number(),
      delta: z.number().min(0).default(0),
    })
    .strict(),
  z
    .object({
      kind: z.literal('within-baseline'),
      ...common,
      baseline: z.object({ file: z.string(), key: z.string() }).strict(),
      /**
       * Equivalence margin in the metric's units (accuracies and barriers as fractions): the
       * claim holds when A is shown within ±margin of the baseline (TOST).
       */
      margin: z.number().positive(),
    })
    .strict(),
]);

/** What a gate whose gating claims are neither all holding nor any contradicted does. */
export const INCONCLUSIVE_POLICIES = ['exit-code', 'pass', 'fail'] as const;
export type InconclusivePolicy = (typeof INCONCLUSIVE_POLICIES)[number];

/**
 * A suite's name: it names the report's directory (`reports/<suite>`), so it is one path segment
 * of letters, digits, `.`, `_` and `-` that starts with a letter or digit (no `/`, no `..`).
 */
export const SUITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const suiteSchema = z
  .object({
    suite: z.string().regex(SUITE_NAME, {
      message: `a name matching ${String(SUITE_NAME)} (letters, digits, '.', '_', '-'; it names the report directory)`,
    }),
    description: z.string().optional(),
    /**
     * Each test's one-sided level, below 0.5: at 0.5 or above the 1 − 2α intervals turn inside
     * out and a claim and its opposite could both be significant.
     */
    alpha: z
      .number()
      .gt(0)
      .lt(0.5, { message: 'a level in (0, 0.5), such as 0.05 (each test is one-sided at it)' })
      .default(0.05),
    correction: z.enum(['holm', 'none']).default('holm'),
    /** What an inconclusive gate means: its own exit code (5), a pass, or a fail. */
    inconclusive: z.enum(INCONCLUSIVE_POLICIES).default('exit-code'),
    metric: z.enum(['best', 'final']).default('best'),
    cycle: cycleSchema.default('last'),
    seeds: z.array(z.number().int().min(0)).min(2),
    base: z.record(z.string(), z.unknown()),
    claims: z.array(claimSchema).min(1),
  })
  .strict();

export type Suite = z.infer<typeof suiteSchema> & {
  /** Runs every run of the suite on this engine instead (the CLI's --backend/--device/--precision). */
  readonly engine?: EngineOverride;
  /** `key=value` overrides set in every run's configuration (after base and side are merged). */
  readonly overrides?: readonly Override[];
};
export type Claim = z.infer<typeof claimSchema>;

export interface LoadedSuite {
  readonly suite: Suite;
  /** Directory the suite file is in (baseline files are relative to it). */
  readonly dir: string;
}

/**
 * Reads a suite. `overrides` is merged into `base`; `runOverrides` (the CLI's `key=value`) are set
 * in every run's configuration after base and side are merged, so a side cannot undo them. A
 * `seed` override is refused: a suite's runs take their seeds from `seeds`.
 */
export function loadSuite(
  file: string,
  overrides: Record<string, unknown> = {},
  engine: EngineOverride = {},
  runOverrides: readonly Override[] = [],
): LoadedSuite {
  const document = loadConfigFile(file);
  refuseTolerance(file, document);
  const parsed = suiteSchema.safeParse(document, { reportInput: true });
  if (!parsed.success) throw schemaError(file, parsed.error.issues[0]!);
  refuseDuplicateIds(file, parsed.data.claims);
  const seeded = runOverrides.find((o) => o.path[0] === 'seed' || o.path[0] === 'sweep');
  if (seeded !== undefined)
    throw new ConfigError(file, [
      `${seeded.key}: a suite's runs take their seeds from its seeds list and it has no sweep; only run settings (model, data, training, method, conventions) may be overridden`,
    ]);
  const suite: Suite = {
    ...parsed.data,
    base: merge(parsed.data.base, overrides) as Record<string, unknown>,
    engine,
    overrides: runOverrides,
  };
  refuseCyclesBeyondRuns(file, suite);
  return { suite, dir: dirname(file) };
}

/** The cycle a claim reads. */
export const cycleOfClaim = (suite: Suite, claim: Claim): Cycle => claim.cycle ?? suite.cycle;

/** Cycles a run trains (every train phase's cycles), from its configuration alone. */
export function plannedCycles(config: RunConfig): number {
  return pipelineFor(config, modelFor(config)).phases.reduce(
    (n, phase) => n + (phase.kind === 'train' ? phase.cycles : 0),
    0,
  );
}

/**
 * A claim asking for cycle k of runs that train fewer is refused before anything runs, naming
 * the field that set k; so is a cycle other than `last` for an analysis metric.
 */
function refuseCyclesBeyondRuns(file: string, suite: Suite): void {
  suite.claims.forEach((claim, i) => {
    const cycle = cycleOfClaim(suite, claim);
    if (cycle === 'last') return;
    const field = claim.cycle === undefined ? ['cycle'] : ['claims', i, 'cycle'];
    const metric = metricOfClaim(suite, claim);
    if (ANALYSIS_METRICS.has(metric))
      throw schemaError(file, {
        path: field,
        message: `last for claim ${claim.id}: metric ${metric} is computed over a run's cycles, not one of them`,
      });
    for (const key of ['a', 'b'] as const) {
      const value = (claim as { a: Claim['a']; b?: Claim['a'] })[key];
      if (value === undefined) continue;
      const side = sideRuns(suite, value, `claims[${i}].${key}`);
      if (side.kind !== 'runs') continue;
      const cycles = plannedCycles(side.configs[0]!);
      if (cycle > cycles)
        throw schemaError(file, {
          path: field,
          message: `a cycle from 1 to ${cycles} (or last) for claim ${claim.id}: its side ${key} runs ${cycles} cycle${cycles === 1 ? '' : 's'}, not ${cycle}`,
        });
    }
  });
}

/**
 * `tolerance` widened the old 95% interval of a regression claim; it is gone, and a suite that
 * still sets it would otherwise read as an unknown key with no hint of what replaced it.
 */
function refuseTolerance(file: string, document: unknown): void {
  const claims = (document as { claims?: unknown } | null)?.claims;
  if (!Array.isArray(claims)) return;
  claims.forEach((claim: unknown, i) => {
    if (claim !== null && typeof claim === 'object' && 'tolerance' in claim)
      throw schemaError(file, {
        path: ['claims', i, 'tolerance'],
        message:
          "margin instead: tolerance (widening the baseline's 95% interval) was replaced by margin, the equivalence margin in the metric's units (accuracies as fractions, e.g. 0.005 for half a point): the claim holds when its values are shown within ±margin of the baseline's by two one-sided tests (docs/CLAIMS.md)",
      });
  });
}

/** Claim ids name the claims in verdicts, reports and baselines: each is used once. */
function refuseDuplicateIds(file: string, claims: readonly Claim[]): void {
  const first = new Map<string, number>();
  claims.forEach((claim, i) => {
    const at = first.get(claim.id);
    if (at !== undefined)
      throw schemaError(file, {
        path: ['claims', i, 'id'],
        message: `an id no other claim has (claims[${at}] is also ${JSON.stringify(claim.id)})`,
      });
    first.set(claim.id, i);
  });
}

export type SideRuns =
  | {
      readonly kind: 'runs';
      readonly configs: readonly RunConfig[];
      readonly ids: readonly string[];
    }
  | { readonly kind: 'external'; readonly label: string };

/**
 * Resolved sides by suite (a suite is not changed once loaded): resolving every run's
 * configuration takes most of an evaluation, and simulations evaluate a suite thousands of times.
 */
const resolvedSides = new WeakMap<Suite, Map<Claim['a'], SideRuns>>();

function sideRuns(suite: Suite, value: Claim['a'], where: string): SideRuns {
  let cache = resolvedSides.get(suite);
  if (cache === undefined) {
    cache = new Map<Claim['a'], SideRuns>();
    resolvedSides.set(suite, cache);
  }
  const cached = cache.get(value);
  if (cached !== undefined) return cached;
  const resolved = resolveSide(suite, value, where);
  cache.set(value, resolved);
  return resolved;
}

function resolveSide(suite: Suite, value: Claim['a'], where: string): SideRuns {
  if ('external' in value && typeof value.external === 'string')
    return { kind: 'external', label: value.external };
  const configs = suite.seeds.map((seed) => {
    const merged = merge(suite.base, value) as Record<string, unknown>;
    const document = applyOverrides(merged, suite.overrides ?? [], where);
    return withEngine(resolveRun({ ...document, seed }, where), suite.engine ?? {});
  });
  return { kind: 'runs', configs, ids: configs.map(runId) };
}

/**
 * The runs (or external label) of each side of the suite's `index`-th claim; `b` is absent for
 * kinds with one side. Run ids are in seed order.
 */
export function claimSides(
  suite: Suite,
  index: number,
): { readonly a: SideRuns; readonly b?: SideRuns } {
  const claim = suite.claims[index];
  if (claim === undefined)
    throw new InvalidArgumentError('index', `a claim index below ${suite.claims.length}`, index);
  const a = sideRuns(suite, claim.a, `claims[${index}].a`);
  return 'b' in claim ? { a, b: sideRuns(suite, claim.b, `claims[${index}].b`) } : { a };
}

/** Every run the suite needs, by id (each side × seed). */
export function suiteRuns(suite: Suite): Map<string, RunConfig> {
  const runs = new Map<string, RunConfig>();
  suite.claims.forEach((claim, i) => {
    for (const key of ['a', 'b'] as const) {
      const value = (claim as { a: Claim['a']; b?: Claim['a'] })[key];
      if (value === undefined) continue;
      const side = sideRuns(suite, value, `claims[${i}].${key}`);
      if (side.kind === 'runs') side.configs.forEach((config, s) => runs.set(side.ids[s]!, config));
    }
  });
  return runs;
}

/**
 * A result produced outside cyclesparse: one value per (label, seed, metric). `metric` names what
 * the value is (best, final, barrier, sharpness); a row without one, as every file had before
 * the column existed, stands for whatever metric the claim reads. Accuracies and barriers are
 * fractions in [0, 1]; a sharpness is any eigenvalue.
 */
export const externalRowSchema = z
  .object({
    label: z.string().min(1),
    seed: z.number().int().min(0),
    value: z.number(),
    metric: z.enum(METRICS).optional(),
  })
  .strict()
  .refine((row) => row.metric === 'sharpness' || (row.value >= 0 && row.value <= 1), {
    path: ['value'],
    message: 'a fraction in [0, 1] (an accuracy or barrier; only metric sharpness may exceed it)',
  });
export type ExternalRow = z.infer<typeof externalRowSchema>;

/**
 * Reads external results: JSON Lines of {label, seed, value}, or CSV (RFC 4180: fields may be
 * quoted, `""` inside quotes is a quote) with that header. A (label, seed) given twice is
 * refused, naming both lines: which value a claim should use is not ours to guess.
 */
export function loadExternalResults(file: string): ExternalRow[] {
  const text = readConfigText(file);
  const csv = file.endsWith('.csv');
  const rows: { line: number; row: unknown }[] = csv
    ? csvRows(text, file)
    : text.split(/\r?\n/).flatMap((l, i) => {
        if (l.trim().length === 0) return [];
        try {
          return [{ line: i + 1, row: JSON.parse(l) as unknown }];
        } catch {
          throw schemaError(`${file}:${i + 1}`, { path: [], message: 'a JSON object per line' });
        }
      });
  const seen = new Map<string, number>();
  return rows.map(({ line, row }) => {
    const parsed = externalRowSchema.safeParse(row, { reportInput: true });
    if (!parsed.success) throw schemaError(`${file}:${line}`, parsed.error.issues[0]!);
    const key = JSON.stringify([parsed.data.label, parsed.data.seed, parsed.data.metric]);
    const first = seen.get(key);
    if (first !== undefined)
      throw schemaError(`${file}:${line}`, {
        path: [],
        message: `one row per label and seed${parsed.data.metric === undefined ? '' : ' and metric'}: label ${JSON.stringify(parsed.data.label)} seed ${parsed.data.seed}${parsed.data.metric === undefined ? '' : ` metric ${parsed.data.metric}`} is also on line ${first}`,
      });
    seen.set(key, line);
    return parsed.data;
  });
}

/**
 * CSV records (RFC 4180) with the line each starts on; blank lines are skipped. A quote inside an
 * unquoted field, text after a closing quote or an unclosed quote is refused with its line.
 */
export function parseCsv(text: string, file: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let quoted = false; // inside quotes
  let wasQuoted = false; // the current field was quoted (only a separator may follow)
  const fail = (at: number, message: string) => schemaError(`${file}:${at}`, { path: [], message });
  // Spaces around an unquoted field are not part of it; a quoted field is kept as written.
  const endField = () => {
    fields.push(wasQuoted ? field : field.trim());
    field = '';
    wasQuoted = false;
  };
  const endRecord = () => {
    const blank = fields.length === 0 && field.trim() === '' && !wasQuoted;
    endField();
    if (!blank) records.push({ line: start, fields });
    fields = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === ',') {
      endField();
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else if (c === '"') {
      if (field.trim() !== '' || wasQuoted)
        throw fail(line, 'a quote only around a whole field (write a quote inside one as "")');
      field = '';
      quoted = true;
      wasQuoted = true;
    } else if (wasQuoted) {
      if (c.trim() !== '') throw fail(line, 'a separator (,) after a closing quote');
    } else field += c;
  }
  if (quoted) throw fail(start, 'a closing quote for the field opened here');
  endRecord();
  return records;
}

/** The columns of an external results CSV: these, in any order, `metric` optional. */
const CSV_COLUMNS = ['label', 'seed', 'value', 'metric'] as const;

function csvRows(text: string, file: string): { line: number; row: unknown }[] {
  const [header, ...records] = parseCsv(text, file);
  const columns = header?.fields ?? [];
  const known = (c: string) => (CSV_COLUMNS as readonly string[]).includes(c);
  if (
    !['label', 'seed', 'value'].every((c) => columns.includes(c)) ||
    !columns.every(known) ||
    new Set(columns).size !== columns.length
  )
    throw schemaError(`${file}:${header?.line ?? 1}`, {
      path: [],
      message: `the header label,seed,value (and optionally metric, columns in any order), got ${columns.join(',')}`,
    });
  return records.map(({ line, fields }) => {
    if (fields.length !== columns.length)
      throw schemaError(`${file}:${line}`, {
        path: [],
        message: `${columns.length} fields (${columns.join(',')}), got ${fields.length}`,
      });
    const cell = (name: string) => fields[columns.indexOf(name)]!;
    const number = (text: string) => (text === '' ? Number.NaN : Number(text));
    const metric = columns.includes('metric') && cell('metric') !== '' ? cell('metric') : undefined;
    return {
      line,
      row: {
        label: cell('label'),
        seed: number(cell('seed')),
        value: number(cell('value')),
        ...(metric === undefined ? {} : { metric }),
      },
    };
  });
}

export interface ClaimVerdict {
  readonly id: string;
  readonly kind: Claim['kind'];
  readonly paper: string | null;
  readonly description: string;
  readonly gate: boolean;
  readonly a: Estimate | null;
  readonly b: Estimate | null;
  readonly test: TestResult | null;
  /**
   * The p-value the claim holds by (below α): the test's own in the gating families (the gate
   * is an intersection–union test, so it needs no adjustment), Holm-adjusted in the reported one.
   */
  readonly pAdjusted: number | null;
  /** The opposite's p-value, Holm-adjusted within its family (contradicted when below α). */
  readonly pOppositeAdjusted: number | null;
  /**
   * `holds`: the claim's test is significant after adjustment; `contradicted`: the opposite's
   * is; `inconclusive`: neither. `missing`: some runs or external values are not available;
   * `run-failed`: a run it needs failed (see the run's failed.json); `diverged`: a run it needs
   * diverged, so has no accuracy.
   */
  readonly verdict: Verdict;
  /** The multiplicity family its p-values were adjusted in: gating, regression or reported. */
  readonly family: Family;
  /**
   * For an inconclusive claim: the seeds per side that would decide it with power `power` at the
   * observed effect and spread (null: none up to SEED_CAP would), and which way; null otherwise.
   */
  readonly power: null | {
    readonly seeds: number | null;
    readonly towards: 'holds' | 'contradicted';
    readonly power: number;
  };
  readonly detail: string;
  /**
   * within-baseline: [baseline mean − margin, baseline mean + margin] (b is the baseline's
   * stored values, test.difference mean(A) − their mean); null for other kinds.
   */
  readonly allowed: readonly [number, number] | null;
  readonly runIds: readonly string[];
  readonly metric: Metric;
  /** The cycle of each run read (`last` or 1-based). */
  readonly cycle: Cycle;
  /** What the reader should know about how the claim was tested (also appended to `detail`). */
  readonly warnings: readonly string[];
}

export type Verdict =
  'holds' | 'contradicted' | 'inconclusive' | 'missing' | 'run-failed' | 'diverged';

/**
 * Multiplicity families: gating claims other than regressions, gating regression
 * (`within-baseline`) claims, whose family-wise false-alarm rate is the suite's α, and reported
 * (`gate: false`) claims.
 */
export type Family = 'gating' | 'regression' | 'reported';
export const familyOf = (claim: Claim): Family =>
  !claim.gate ? 'reported' : claim.kind === 'within-baseline' ? 'regression' : 'gating';

export interface SuiteVerdict {
  readonly suite: string;
  readonly metric: 'best' | 'final';
  /** The suite's cycle (a claim may read another; see each claim's `cycle`). */
  readonly cycle: Cycle;
  readonly alpha: number;
  /** The adjustment applied within each family. */
  readonly correction: 'holm' | 'none';
  readonly claims: readonly ClaimVerdict[];
  /**
   * pass: every gating claim holds; fail: some gating claim is contradicted, missing, run-failed
   * or diverged; inconclusive: otherwise.
   */
  readonly outcome: 'pass' | 'fail' | 'inconclusive';
  /** outcome === 'pass'. */
  readonly passed: boolean;
  /** What an inconclusive outcome means for the exit code (the suite's, or the CLI's override). */
  readonly inconclusive: InconclusivePolicy;
}

/**
 * Values of one side in seed order, or undefined when any is missing. An external row counts
 * when it names the claim's metric, or names none.
 */
function valuesOf(
  side: SideRuns,
  suite: Suite,
  metric: Metric,
  cycle: Cycle,
  value: RunValue,
  external: readonly ExternalRow[],
): number[] | undefined {
  if (side.kind === 'runs') {
    const values = side.ids.map((id) => value(id, metric, cycle));
    return values.every((v) => v !== undefined) ? values : undefined;
  }
  const rows = suite.seeds.map(
    (seed) =>
      external.find(
        (r) =>
          r.label === side.label &&
          r.seed === seed &&
          (r.metric === undefined || r.metric === metric),
      )?.value,
  );
  return rows.every((v) => v !== undefined) ? rows : undefined;
}

/** Why an external side has no values: the metrics its rows do carry, if not the claim's. */
function externalMismatch(
  side: SideRuns,
  metric: Metric,
  external: readonly ExternalRow[],
): string | undefined {
  if (side.kind !== 'external') return undefined;
  const metrics = new Set(
    external.filter((r) => r.label === side.label).map((r) => r.metric ?? metric),
  );
  if (metrics.size === 0 || metrics.has(metric)) return undefined;
  return `external ${side.label} has values for metric ${[...metrics].join(', ')}, not ${metric}`;
}

/**
 * A run's value under a metric at a cycle (`last` when not given), or undefined when it is not
 * available (yet).
 */
export type RunValue = (id: string, metric: Metric, cycle?: Cycle) => number | undefined;

/** The metric a claim is judged on. */
export const metricOfClaim = (suite: Suite, claim: Claim): Metric => claim.metric ?? suite.metric;

/**
 * A paired test between an external side and own runs pairs seed k of one framework with seed k
 * of the other: the two share no random stream, so the pairing removes no shared variance and
 * the paired test's interval is not what it claims to be. Welch's test does not pair.
 */
function crossFrameworkPairing(claim: Claim, a: SideRuns, b: SideRuns | undefined): string[] {
  if (b === undefined || a.kind === b.kind) return [];
  if (!('test' in claim) || claim.test !== 'paired') return [];
  const external = a.kind === 'external' ? a.label : (b as { label: string }).label;
  return [
    `claim ${claim.id} pairs seeds across frameworks (external ${external} against cyclesparse runs): equal seed numbers share no random stream there, so the paired test's pairing is arbitrary; consider test: welch`,
  ];
}

function withWarnings(detail: string, warnings: readonly string[]): string {
  return warnings.length === 0 ? detail : `${detail} (warning: ${warnings.join('; ')})`;
}

export function evaluateSuite(
  loaded: LoadedSuite,
  value: RunValue,
  external: readonly ExternalRow[] = [],
  options: {
    /** `false` leaves within-baseline claims missing (while writing the baseline). */
    readonly checkBaselines?: boolean;
    /** Why a run has no value, if it ended without one: it failed, or it diverged. */
    readonly runState?: (id: string) => 'failed' | 'diverged' | undefined;
    /** Overrides the suite's `inconclusive` policy (the CLI's --inconclusive). */
    readonly inconclusive?: InconclusivePolicy;
    /** `false` skips the power analysis of inconclusive claims (power: null), for simulations. */
    readonly powerAnalysis?: boolean;
  } = {},
): SuiteVerdict {
  const { suite, dir } = loaded;
  const alpha = suite.alpha;
  // Each baseline file is read once per evaluation (regression claims share one).
  const baselineFiles = new Map<string, MeasuredBaselines>();
  const baselineFile = (file: string): MeasuredBaselines => {
    const read = baselineFiles.get(file) ?? loadMeasuredBaselines(file);
    baselineFiles.set(file, read);
    return read;
  };
  const partial = suite.claims.map((claim, i): PartialVerdict => {
    const a = sideRuns(suite, claim.a, `claims[${i}].a`);
    const b = 'b' in claim ? sideRuns(suite, claim.b, `claims[${i}].b`) : undefined;
    const runIds = [...(a.kind === 'runs' ? a.ids : []), ...(b?.kind === 'runs' ? b.ids : [])];
    const metric = metricOfClaim(suite, claim);
    const cycle = cycleOfClaim(suite, claim);
    const va = valuesOf(a, suite, metric, cycle, value, external);
    const vb = b === undefined ? undefined : valuesOf(b, suite, metric, cycle, value, external);
    const warnings = crossFrameworkPairing(claim, a, b);
    const base = {
      id: claim.id,
      kind: claim.kind,
      paper: claim.paper ?? null,
      description: claim.description,
      gate: claim.gate,
      family: familyOf(claim),
      runIds,
      metric,
      cycle,
      warnings,
      allowed: null as readonly [number, number] | null,
    };
    if (claim.kind === 'within-baseline' && options.checkBaselines === false) {
      return {
        ...base,
        a: null,
        b: null,
        test: null,
        plan: null,
        detail: 'baseline not checked',
      };
    }
    if (va === undefined || (b !== undefined && vb === undefined)) {
      const states = runIds.map((id) => options.runState?.(id));
      const ended = (state: 'failed' | 'diverged') => runIds.filter((_, i) => states[i] === state);
      const failed = ended('failed');
      const diverged = ended('diverged');
      const problem =
        failed.length > 0
          ? { verdict: 'run-failed' as const, runs: failed, what: 'failed' }
          : diverged.length > 0
            ? { verdict: 'diverged' as const, runs: diverged, what: 'diverged (no accuracy)' }
            : undefined;
      const mismatch = [a, ...(b === undefined ? [] : [b])]
        .map((side) => externalMismatch(side, metric, external))
        .find((m) => m !== undefined);
      return {
        ...base,
        a: null,
        b: null,
        test: null,
        plan: null,
        detail:
          problem === undefined
            ? mismatch !== undefined
              ? `results missing (${mismatch})`
              : 'results missing (run the suite first)'
            : `${problem.runs.length === 1 ? 'run' : 'runs'} ${problem.runs.join(', ')} ${problem.what}`,
        ...(problem === undefined ? {} : { problem: problem.verdict }),
      };
    }
    const ea = estimate(va);
    const eb = vb === undefined ? null : estimate(vb);
    const sdOfDifferences = () => sampleSd(va.map((v, s) => v - vb![s]!));
    const welchDesign = (other: readonly number[]): PowerDesign => ({
      test: 'welch',
      sdA: ea.sd,
      sdB: sampleSd(other),
    });
    let test: TestResult;
    let plan: Plan;
    let detail = '';
    switch (claim.kind) {
      case 'greater':
        test =
          claim.test === 'paired'
            ? paired(va, vb!, claim.margin, alpha)
            : claim.test === 'welch'
              ? welch(va, vb!, claim.margin, alpha)
              : bootstrap(va, vb!, randomStream(0, `bootstrap/${claim.id}`), claim.margin, alpha);
        // The bootstrap's power is planned as Welch's, the t test it stands in for.
        plan = {
          design:
            claim.test === 'paired'
              ? { test: 'one-sample', sd: sdOfDifferences() }
              : welchDesign(vb!),
          boundary: { kind: 'one-sided', at: claim.margin },
        };
        detail = `A − B > ${claim.margin}`;
        break;
      case 'equivalent':
        test = equivalence(va, vb!, claim.delta, alpha, claim.test === 'paired');
        plan = {
          design:
            claim.test === 'paired'
              ? { test: 'one-sample', sd: sdOfDifferences() }
              : welchDesign(vb!),
          boundary: { kind: 'equivalence', margin: claim.delta },
        };
        detail = `|A − B| < ${claim.delta}`;
        break;
      case 'at-least':
        test = paired(
          va,
          va.map(() => claim.value - claim.delta),
          0,
          alpha,
        );
        plan = {
          design: { test: 'one-sample', sd: ea.sd },
          boundary: { kind: 'one-sided', at: 0 },
        };
        detail = `mean(A) > ${claim.value - claim.delta}`;
        break;
      case 'within-baseline': {
        const file = isAbsolute(claim.baseline.file)
          ? claim.baseline.file
          : join(dir, claim.baseline.file);
        const cell = baselineFile(file).cells[claim.baseline.key];
        if (cell === undefined)
          throw schemaError(file, {
            path: ['cells', claim.baseline.key],
            message: 'a measured cell of that key',
          });
        // A cell of another metric or cycle measured something else: comparing with it would be
        // no check.
        if (cell.metric !== metric)
          throw schemaError(file, {
            path: ['cells', claim.baseline.key, 'metric'],
            message: `metric ${metric} as claim ${claim.id} reads (the cell is of metric ${cell.metric})`,
          });
        if ((cell.cycle ?? 'last') !== cycle)
          throw schemaError(file, {
            path: ['cells', claim.baseline.key, 'cycle'],
            message: `cycle ${cycle} as claim ${claim.id} reads (the cell is of cycle ${cell.cycle ?? 'last'})`,
          });
        // Equivalence is tested against the baseline's per-seed values, so that its own spread
        // counts: a mean alone would pretend the baseline was known exactly.
        if (cell.values.length < 2 || !cell.values.every(Number.isFinite))
          throw schemaError(file, {
            path: ['cells', claim.baseline.key, 'values'],
            message: `at least 2 per-seed values for claim ${claim.id} to test equivalence against (the cell has ${cell.values.length}); measure the baseline again`,
          });
        const baselineMean = estimate(cell.values).mean;
        const allowed = [baselineMean - claim.margin, baselineMean + claim.margin] as const;
        test = equivalence(va, cell.values, claim.margin, alpha, false);
        // The baseline stays as stored: only A would get more seeds.
        plan = {
          design: { test: 'welch', sdA: ea.sd, sdB: sampleSd(cell.values), nB: cell.values.length },
          boundary: { kind: 'equivalence', margin: claim.margin },
        };
        detail = `|mean(A) − baseline| < ${claim.margin}: mean(A) in [${allowed[0].toFixed(5)}, ${allowed[1].toFixed(5)}] (baseline ${claim.baseline.key}, Welch TOST)`;
        // b: the baseline's values, so a reader sees both sides of the equivalence.
        return { ...base, a: ea, b: estimate(cell.values), test, plan, detail, allowed };
      }
    }
    return { ...base, a: ea, b: eb, test, plan, detail: withWarnings(detail, warnings) };
  });
  // Which p-values Holm adjusts depends on what the family's verdicts decide.
  // - Gating families (gating, regression): the gate passes only when every member holds, an
  //   intersection–union test (Berger 1982): if any member's claim is false, the gate passes only
  //   if that member's own level-α test rejects, so P(pass) ≤ α with the holds p-values
  //   unadjusted; adjusting them would only cost power. Any member contradicted fails the gate (a
  //   union of alarms), so the opposites' p-values are Holm-adjusted: P(any false alarm) ≤ α.
  // - reported: each verdict is a statement of its own, so both sides are adjusted.
  const pAdjustedOf = new Map<number, number>();
  const pOppositeAdjustedOf = new Map<number, number>();
  const familySize = new Map<Family, number>();
  for (const family of ['gating', 'regression', 'reported'] as const) {
    const members = partial.flatMap((c, i) => (c.family === family ? [i] : []));
    familySize.set(family, members.length);
    const tested = members.filter((i) => partial[i]!.test !== null);
    const adjust = (raw: number[]) => (suite.correction === 'holm' ? holm(raw) : raw);
    const rawP = tested.map((i) => partial[i]!.test!.p);
    const p = family === 'reported' ? adjust(rawP) : rawP;
    const pOpposite = adjust(tested.map((i) => partial[i]!.test!.pOpposite));
    tested.forEach((i, at) => {
      pAdjustedOf.set(i, p[at]!);
      pOppositeAdjustedOf.set(i, pOpposite[at]!);
    });
  }
  const claims: ClaimVerdict[] = partial.map((c, i) => {
    const pAdjusted = pAdjustedOf.get(i) ?? null;
    const pOppositeAdjusted = pOppositeAdjustedOf.get(i) ?? null;
    const verdict: Verdict =
      c.test === null
        ? (c.problem ?? 'missing')
        : pAdjusted! < alpha
          ? 'holds'
          : pOppositeAdjusted! < alpha
            ? 'contradicted'
            : 'inconclusive';
    // The one-sided level each side's test must clear. A Holm-adjusted side: Holm's first step
    // tests at α/k, the level a claim must clear when every member of its family is tested again,
    // so planning at it is conservative (Bonferroni). An unadjusted side (holds in a gating
    // family, or correction none): α.
    const holmLevel =
      suite.correction === 'holm' ? alpha / Math.max(1, familySize.get(c.family)!) : alpha;
    const levels = { holds: c.family === 'reported' ? holmLevel : alpha, contradicted: holmLevel };
    const power =
      verdict === 'inconclusive' && c.plan !== null && options.powerAnalysis !== false
        ? seedsToDecide(c.test!, c.plan, levels)
        : null;
    const { problem: _problem, plan: _plan, ...rest } = c;
    return { ...rest, pAdjusted, pOppositeAdjusted, verdict, power };
  });
  const gating = claims.filter((c) => c.gate);
  const outcome = gating.every((c) => c.verdict === 'holds')
    ? 'pass'
    : gating.some((c) => c.verdict !== 'inconclusive' && c.verdict !== 'holds')
      ? 'fail'
      : 'inconclusive';
  return {
    suite: suite.suite,
    metric: suite.metric,
    cycle: suite.cycle,
    alpha,
    correction: suite.correction,
    claims,
    outcome,
    passed: outcome === 'pass',
    inconclusive: options.inconclusive ?? suite.inconclusive,
  };
}

/** A claim's verdict before its family's adjustment decides it. */
type PartialVerdict = Omit<
  ClaimVerdict,
  'pAdjusted' | 'pOppositeAdjusted' | 'verdict' | 'power'
> & {
  readonly plan: Plan | null;
  readonly problem?: 'run-failed' | 'diverged';
};

/** What a power analysis needs of a claim: the spread of its test and the boundary it tests. */
interface Plan {
  readonly design: PowerDesign;
  readonly boundary:
    | { readonly kind: 'one-sided'; readonly at: number }
    | { readonly kind: 'equivalence'; readonly margin: number };
}

/**
 * Seeds per side that would decide an inconclusive claim with power POWER at the observed effect:
 * the distance of the estimate from the boundary it failed to clear, in the direction it points.
 * `levels` are the one-sided levels the claim's test (holds) and its opposite's (contradicted)
 * must clear; the opposite of an equivalence is two-sided, so each of its sides gets half.
 */
function seedsToDecide(
  test: TestResult,
  plan: Plan,
  levels: { readonly holds: number; readonly contradicted: number },
): ClaimVerdict['power'] {
  const d = test.difference;
  if (plan.boundary.kind === 'one-sided') {
    const towards = d >= plan.boundary.at ? 'holds' : 'contradicted';
    const seeds = oneSidedSeeds(plan.design, Math.abs(d - plan.boundary.at), levels[towards]);
    return { seeds, towards, power: POWER };
  }
  const { margin } = plan.boundary;
  if (Math.abs(d) < margin)
    return {
      seeds: tostSeeds(plan.design, d, margin, levels.holds),
      towards: 'holds',
      power: POWER,
    };
  return {
    seeds: oneSidedSeeds(plan.design, Math.abs(d) - margin, levels.contradicted / 2),
    towards: 'contradicted',
    power: POWER,
  };
}
