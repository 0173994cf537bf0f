/** The text form of a {@link VerifyReport}: one row per check, then each failure in full. */

import { table } from '../text/format.js';
import type { Offence, VerifyReport } from './verify.js';

const STATUS = { pass: 'pass', fail: 'FAIL', 'not-checkable': 'n/a' } as const;

export function describeOffence(where: Offence): string {
  return [
    `level ${where.level}`,
    where.layer === undefined ? undefined : `tensor ${where.layer}`,
    where.index === undefined ? undefined : `index ${where.index}`,
    where.file === undefined ? undefined : `file ${where.file}`,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
}

export function verifyText(report: VerifyReport): string {
  const lines = [
    `verify ${report.artifact}`,
    `  manifest: ${report.manifest}`,
    ...(report.inferred.length > 0 ? [`  inferred: ${report.inferred.join('; ')}`] : []),
    `  method ${report.method}, ${report.levels} level(s), ${report.layers} prunable tensors, ` +
      `${report.weights} weights; sparsity by level: ${report.sparsities.map((s) => s.toFixed(4)).join(' → ')}`,
    '',
    table([
      ['check', 'result', 'detail'],
      ...report.checks.map((c) => [
        c.id,
        STATUS[c.status],
        c.status === 'fail' ? c.title : c.detail,
      ]),
    ]),
  ];
  const failures = report.checks.filter((c) => c.status === 'fail');
  if (failures.length > 0) lines.push('');
  for (const failure of failures) {
    lines.push(`FAIL ${failure.id}: ${failure.detail}`);
    if (failure.where !== undefined)
      lines.push(`     first offence: ${describeOffence(failure.where)}`);
  }
  const checkable = report.checks.filter((c) => c.status !== 'not-checkable').length;
  lines.push(
    '',
    report.passed
      ? `all ${checkable} checkable invariants hold (${report.seconds.toFixed(2)} s)`
      : `${failures.length} of ${checkable} checkable invariants FAIL (${report.seconds.toFixed(2)} s)`,
  );
  return lines.join('\n');
}
