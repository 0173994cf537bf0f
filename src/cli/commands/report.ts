import type { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { EXIT, print } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('report')
    .description(
      'write a report (Markdown, HTML, SVG and PNG plots) of a claims suite from the store; trains nothing',
    )
    .requiredOption('--claims <file>', 'claims suite (YAML, docs/CLAIMS.md)')
    .argument(
      '[overrides...]',
      'the key=value settings the suite was gated with (`gate … key=value`), so the report reads those runs',
    )
    .option('--store <dir>', 'results store', 'runs')
    .option(
      '--results <file>',
      'results produced elsewhere (JSONL or CSV of label, seed, value and optionally metric; docs/CLAIMS.md)',
    )
    .option('--out <dir>', 'output directory (default reports/<suite>)')
    .action(async (overrideArgs, options) => {
      const { evaluateSuite, loadExternalResults, loadSuite } =
        await import('../../claims/claims.js');
      const { suiteValues } = await import('../../claims/gate.js');
      const { storeSource } = await import('../../claims/run-source.js');
      const { Store } = await import('../../store/store.js');
      const { writeReport } = await import('../../report/report.js');
      const { parseOverrides } = await import('../../config/overrides.js');
      const loaded = loadSuite(options.claims, {}, {}, parseOverrides(overrideArgs));
      const external = options.results === undefined ? [] : loadExternalResults(options.results);
      const source = storeSource(new Store(checkStoreDir(options.store, { write: false })));
      const value = await suiteValues(loaded, source, (line) => process.stderr.write(`${line}\n`));
      const verdict = evaluateSuite(loaded, value, external, {
        runState: (id) => source.state(id),
      });
      const outcome = await writeReport(
        loaded,
        verdict,
        source,
        options.out ?? join('reports', loaded.suite.suite),
      );
      if (outcome.kind === 'refused') {
        process.stderr.write(`report not written: ${outcome.reason}\n`);
        process.exitCode = EXIT.claimsNotMet;
        return;
      }
      const missing = verdict.claims.filter((c) => c.verdict === 'missing').length;
      print(
        `report: ${outcome.files[0]!}${missing > 0 ? ` (${missing} claims missing results)` : ''}`,
      );
    });
}
