/**
 * The gate's verdicts as JUnit XML (`gate --junit FILE`), the report format CI systems read
 * (GitHub Actions test reporters, GitLab's `artifacts:reports:junit`, Jenkins): one
 * `<testsuite>` per claims suite, one `<testcase>` per claim (classname = the suite, name =
 * claim id and text). How verdicts map:
 *
 * - holds: a passing test case;
 * - contradicted, gating: `<failure>` with the verdict (estimates, interval, test, p-values);
 * - inconclusive, gating: by the suite's policy for an inconclusive gate (`inconclusive:`, or
 *   `--inconclusive`) — `fail`: `<failure>`; `pass`: a passing test case whose `<system-out>`
 *   says it passed as inconclusive; `exit-code` (the default; the gate exits 5): `<skipped>`
 *   whose message names the seeds a power analysis says would decide it;
 * - diverged, gating: `<failure>` (a run the claim needs diverged: the claim does not hold);
 * - run-failed: `<error>` (a run it needs failed; the gate exits with the runtime-failure code);
 * - missing: `<skipped>` (not evaluated: its runs are not in the store);
 * - not gating and not holding: `<skipped>` with the verdict (reported, never gating).
 *
 * So a file has failures or errors when the gate failed (exit 1 or 3), except when the failing
 * claims were all missing (skipped). The exit code can say more than the file: 4 (runs left to
 * another process) comes before 1, so a file with failures can go with exit 4, and a refused
 * `--write-baseline` exits 1 (unless 3 or 4) whatever the claims. Every test case also carries
 * its verdict text in `<system-out>`; the suite's properties say the backends, seeds, metric, α,
 * the outcome and the policy applied.
 */

import { accessSync, constants, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { ClaimVerdict, InconclusivePolicy, SuiteVerdict } from './claims.js';
import {
  formatDifference,
  formatValue,
  intervalText,
  powerText,
  verdictLabel,
} from './verdict-text.js';

export interface JunitSuite {
  readonly verdict: SuiteVerdict;
  readonly seeds: readonly number[];
  /** The backends the suite's runs trained on (see {@link backendsOf}). */
  readonly backends: readonly string[];
  /** Seconds the gate took (training included). */
  readonly seconds?: number;
  readonly timestamp?: Date;
}

/** Characters XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE/F). */
const INVALID_XML =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text content: markup characters escaped, invalid characters dropped. */
export function xmlText(text: string): string {
  return text
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** An attribute value (double-quoted): quotes and line breaks escaped as well. */
export function xmlAttribute(text: string): string {
  return xmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

const attributes = (pairs: Record<string, string | number | undefined>) =>
  Object.entries(pairs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttribute(String(v))}"`)
    .join('');

const formatP = (p: number) => (p < 0.0001 ? '< 0.0001' : `= ${p.toFixed(4)}`);

/**
 * A claim's verdict in one paragraph: what it claims, the estimates, interval, test, p-values
 * (adjusted within its family), and for an inconclusive claim the seeds that would decide it.
 */
export function claimVerdictText(claim: ClaimVerdict, alpha: number): string {
  const parts = [`${verdictLabel(claim)}: ${claim.detail}`];
  if (claim.a !== null)
    parts.push(
      `A = ${formatValue(claim.metric, claim.a.mean)} (n = ${claim.a.n})` +
        (claim.b === null
          ? ''
          : `, B = ${formatValue(claim.metric, claim.b.mean)} (n = ${claim.b.n})`),
    );
  if (claim.test !== null) {
    const level = (100 * (1 - 2 * alpha)).toFixed(0);
    parts.push(
      `A − B = ${formatDifference(claim.metric, claim.test.difference)}, ${level}% interval ${intervalText(claim)}`,
      `${claim.test.test} test p ${formatP(claim.test.p)}` +
        (claim.pAdjusted === null ? '' : `, adjusted p ${formatP(claim.pAdjusted)}`) +
        `; opposite p ${formatP(claim.test.pOpposite)}` +
        (claim.pOppositeAdjusted === null
          ? ''
          : `, adjusted p ${formatP(claim.pOppositeAdjusted)}`) +
        ` (family ${claim.family}), α = ${alpha}`,
    );
  }
  if (claim.allowed !== null)
    parts.push(
      `allowed mean(A) in [${formatValue(claim.metric, claim.allowed[0])}, ${formatValue(claim.metric, claim.allowed[1])}]`,
    );
  const power = powerText(claim);
  if (power !== undefined) parts.push(power);
  parts.push(`metric: ${claim.metric}`);
  if (claim.paper !== null) parts.push(`paper: ${claim.paper}`);
  return parts.join('; ');
}

type Outcome = 'passed' | 'failure' | 'error' | 'skipped';

function outcomeOf(claim: ClaimVerdict, policy: InconclusivePolicy): Outcome {
  if (claim.verdict === 'holds') return 'passed';
  if (claim.verdict === 'run-failed') return 'error';
  if (claim.verdict === 'missing' || !claim.gate) return 'skipped';
  if (claim.verdict === 'inconclusive')
    return policy === 'fail' ? 'failure' : policy === 'pass' ? 'passed' : 'skipped';
  return 'failure';
}

function testcase(suite: string, claim: ClaimVerdict, verdict: SuiteVerdict): string {
  const text = claimVerdictText(claim, verdict.alpha);
  const outcome = outcomeOf(claim, verdict.inconclusive);
  const open = `    <testcase${attributes({ classname: suite, name: `${claim.id}: ${claim.description}`, time: 0 })}>`;
  const inconclusiveGating = claim.gate && claim.verdict === 'inconclusive';
  const skippedMessage = !claim.gate
    ? `not gating (${claim.verdict}): ${claim.detail}`
    : inconclusiveGating
      ? `inconclusive (policy exit-code: the gate exits 5): ${powerText(claim) ?? 'no power analysis for this test'}`
      : `not evaluated: ${claim.detail}`;
  const failureMessage = inconclusiveGating
    ? `inconclusive (policy fail): ${claim.detail}; ${powerText(claim) ?? 'no power analysis for this test'}`
    : `${claim.verdict}: ${claim.detail}`;
  const inner =
    outcome === 'passed'
      ? []
      : outcome === 'skipped'
        ? [`      <skipped${attributes({ message: skippedMessage })}/>`]
        : [
            `      <${outcome}${attributes({ message: failureMessage, type: claim.verdict })}>${xmlText(text)}</${outcome}>`,
          ];
  // An inconclusive claim passed by policy says so where a passing case has room: its output.
  const out =
    outcome === 'passed' && inconclusiveGating
      ? `passed as inconclusive (policy pass): ${powerText(claim) ?? 'no power analysis for this test'}\n${text}`
      : text;
  return [open, ...inner, `      <system-out>${xmlText(out)}</system-out>`, '    </testcase>'].join(
    '\n',
  );
}

/** The JUnit XML document of one or more suites' verdicts. */
export function junitXml(suites: readonly JunitSuite[]): string {
  const counts = (claims: readonly ClaimVerdict[], policy: InconclusivePolicy) => {
    const of = (o: Outcome) => claims.filter((c) => outcomeOf(c, policy) === o).length;
    return {
      tests: claims.length,
      failures: of('failure'),
      errors: of('error'),
      skipped: of('skipped'),
    };
  };
  const total = suites
    .map((s) => counts(s.verdict.claims, s.verdict.inconclusive))
    .reduce(
      (sum, c) => ({
        tests: sum.tests + c.tests,
        failures: sum.failures + c.failures,
        errors: sum.errors + c.errors,
        skipped: sum.skipped + c.skipped,
      }),
      { tests: 0, failures: 0, errors: 0, skipped: 0 },
    );
  const totalSeconds = suites.reduce((sum, s) => sum + (s.seconds ?? 0), 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: 'cyclesparse gate', ...total, time: totalSeconds.toFixed(3) })}>`,
  ];
  for (const s of suites) {
    const v = s.verdict;
    lines.push(
      `  <testsuite${attributes({
        name: v.suite,
        ...counts(v.claims, v.inconclusive),
        time: (s.seconds ?? 0).toFixed(3),
        // JUnit's schema: ISO 8601 without a zone (UTC here).
        timestamp: (s.timestamp ?? new Date()).toISOString().slice(0, 19),
      })}>`,
      '    <properties>',
      ...Object.entries({
        backend: s.backends.length === 0 ? 'unknown' : s.backends.join(', '),
        seeds: s.seeds.join(','),
        metric: v.metric,
        alpha: String(v.alpha),
        passed: String(v.passed),
        outcome: v.outcome,
        inconclusive: v.inconclusive,
      }).map(([name, value]) => `      <property${attributes({ name, value })}/>`),
      '    </properties>',
      ...v.claims.map((c) => testcase(v.suite, c, v)),
      '  </testsuite>',
    );
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

/** The distinct backends (name and threads) of the stored results of a verdict's runs. */
export function backendsOf(store: Store, verdict: SuiteVerdict): string[] {
  const names = new Set<string>();
  for (const id of new Set(verdict.claims.flatMap((c) => c.runIds))) {
    let backend;
    try {
      backend = store.result(id)?.backend;
    } catch {
      continue; // an unreadable result: the verdict already says which run
    }
    if (backend !== undefined) names.add(backend.name);
  }
  return [...names].sort();
}

/** Writes the document to `file` (whole: a CI step never reads half of it). */
export function writeJunit(file: string, suites: readonly JunitSuite[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, junitXml(suites));
  renameSync(partial, file);
}

/** Before the gate trains anything: `file` can be written (its folder is made if needed). */
export function checkJunitFile(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    accessSync(dirname(file), constants.W_OK);
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true)
      throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
  } catch (error) {
    throw new InvalidArgumentError(
      '--junit',
      'a file in a writable directory',
      file,
      `--junit ${file}: cannot write there (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}
