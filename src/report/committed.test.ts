/**
 * The committed mini report (reports/mini) is what its committed per-seed results
 * (reports/mini/results.json) give: rebuilt here without a store or training, every file the
 * report writes equals the committed one byte for byte. A change to verdicts, plots or pages
 * fails this until the report is regenerated:
 *   npx tsx src/cli/main.ts report --claims baselines/mini.claims.yaml --from reports/mini/results.json
 */

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateSuite, loadSuite } from '../claims/claims.js';
import { suiteValues } from '../claims/gate.js';
import { fileSource } from '../claims/results-file.js';
import { writeReport } from './report.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committed = join(root, 'reports', 'mini');

describe('the committed mini report', () => {
  it('is rebuilt byte for byte from its committed results file, and its gate passes', async () => {
    const loaded = loadSuite(join(root, 'baselines', 'mini.claims.yaml'));
    const { source, external } = fileSource(join(committed, 'results.json'), loaded);
    const verdict = evaluateSuite(loaded, await suiteValues(loaded, source), external, {
      runState: (id) => source.state(id),
    });
    expect(verdict.claims.filter((c) => c.verdict === 'missing')).toEqual([]);
    expect(verdict.outcome).toBe('pass');
    const out = mkdtempSync(join(tmpdir(), 'committed-report-'));
    const outcome = await writeReport(loaded, verdict, source, out, { external });
    if (outcome.kind !== 'written') throw new Error(`report refused: ${outcome.reason}`);
    const written = readdirSync(out).sort();
    // Every file of the committed report but its screenshots (taken by a browser, not `report`).
    const expected = readdirSync(committed)
      .filter((f) => f !== 'screenshots')
      .sort();
    expect(written).toEqual(expected);
    const stale = written.filter(
      (f) => !readFileSync(join(out, f)).equals(readFileSync(join(committed, f))),
    );
    expect(stale, 'regenerate reports/mini (command at the top of this file)').toEqual([]);
  });
});
