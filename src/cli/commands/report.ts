import { Option, type Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { EXIT, print } from '../shared.js';
import { checkStoreDir } from '../store-dir.js';

export function register(program: Command): void {
  program
    .command('report')
    .description(
      'write a report (Markdown, HTML, SVG and PNG plots, and results.json: the per-seed values it shows) of a claims suite from the store, or rebuild it from a results file (--from); trains nothing',
    )
    .requiredOption('--claims <file>', 'claims suite (YAML, docs/CLAIMS.md)')
    .argument(
      '[overrides...]',
      'the key=value settings the suite was gated with (`gate … key=value`), so the report reads those runs',
    )
    .addOption(new Option('--store <dir>', 'results store').default('runs').conflicts('from'))
    .addOption(
      new Option(
        '--from <file>',
        "a results file (a report's results.json, docs/REPORTS.md): rebuild the report from the per-seed values it holds, without a store",
      ).conflicts('results'),
    )
    .option(
      '--results <file>',
      'results produced elsewhere (JSONL or CSV of label, seed, value and optionally metric; docs/CLAIMS.md); with --from, the file keeps the ones it was written with',
    )
    .option('--out <dir>', 'output directory (default reports/<suite>)')
    .option(
      '--force',
      'write the report even when no claim has results, or when the results.json already in the directory holds results for more claims or none of these runs (otherwise refused, exit 1, and the directory keeps the report it has)',
    )
    .action(async (overrideArgs, options) => {
      const { evaluateSuite, loadExternalResults, loadSuite, suiteRuns } =
        await import('../../claims/claims.js');
      const { suiteValues } = await import('../../claims/gate.js');
      const { storeSource } = await import('../../claims/run-source.js');
      const { fileSource } = await import('../../claims/results-file.js');
      const { Store } = await import('../../store/store.js');
      const { writeReport } = await import('../../report/report.js');
      const { parseOverrides } = await import('../../config/overrides.js');
      const loaded = loadSuite(options.claims, {}, {}, parseOverrides(overrideArgs));
      // The results file is read whole before the report (which rewrites it) is written, so
      // --from reports/x/results.json --out reports/x rebuilds a report in place.
      const { source, external, ids } =
        options.from === undefined
          ? {
              source: storeSource(new Store(checkStoreDir(options.store, { write: false }))),
              external: options.results === undefined ? [] : loadExternalResults(options.results),
              ids: [],
            }
          : fileSource(options.from, loaded);
      const value = await suiteValues(loaded, source, (line) => process.stderr.write(`${line}\n`));
      const verdict = evaluateSuite(loaded, value, external, {
        runState: (id) => source.state(id),
      });
      const outcome = await writeReport(
        loaded,
        verdict,
        source,
        options.out ?? join('reports', loaded.suite.suite),
        { external, force: options.force === true },
      );
      if (outcome.kind === 'refused') {
        process.stderr.write(`report not written: ${outcome.reason} (--force writes it anyway)\n`);
        // Overrides change run ids: a file written under others holds none of these runs.
        const needed = suiteRuns(loaded.suite);
        if (ids.length > 0 && !ids.some((id) => needed.has(id)))
          process.stderr.write(
            `${options.from!}: its ${ids.length} runs are none of the suite's: was it written with other key=value overrides than ${overrideArgs.length === 0 ? 'none' : overrideArgs.join(' ')}?\n`,
          );
        process.exitCode = EXIT.claimsNotMet;
        return;
      }
      const missing = verdict.claims.filter((c) => c.verdict === 'missing').length;
      const removed = outcome.removed.length > 0 ? `; removed ${outcome.removed.length} stale` : '';
      print(
        `report: ${outcome.files[0]!}${missing > 0 ? ` (${missing} claims missing results)` : ''}${removed}`,
      );
    });
}
