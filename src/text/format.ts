/**
 * Plain-text formatting shared by every command that prints: aligned tables, durations and SI
 * units. No knowledge of runs, claims or analyses, so any layer may use it.
 */

/** Aligned text table (first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function seconds(value: number | null): string {
  if (value === null) return '-';
  if (value < 90) return `${value.toFixed(0)} s`;
  if (value < 5400) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

/** 2.41e13 → "24.1 T": FLOP counts span MNIST (giga) to ImageNet (exa). */
export function siUnits(value: number): string {
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];
  let at = 0;
  while (Math.abs(value) >= 1000 && at < prefixes.length - 1) {
    value /= 1000;
    at += 1;
  }
  return `${value.toPrecision(3)} ${prefixes[at]}`.trimEnd();
}

/** Text as one Markdown table cell: pipes and backslashes escaped, line breaks folded. */
export const markdownCell = (text: string): string =>
  text.replace(/[\\|]/g, '\\$&').replace(/\s*\n\s*/g, ' ');
