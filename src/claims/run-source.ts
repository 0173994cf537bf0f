/**
 * Where a suite's verdict and report read runs from: the store (training and analysing what it
 * needs), or a results file committed beside a report (per-seed values only, so a report can be
 * rebuilt without training; claims/results-file.ts). Both answer the same questions, so claims
 * and reports never ask which one they have.
 */

import { cycleSeries, storedSharpness, type CycleSeries } from '../analysis/stored.js';
import type { LevelRecord, PipelineResult } from '../methods/types.js';
import type { Provenance } from '../store/records.js';
import type { Store } from '../store/store.js';

/**
 * What verdicts and reports read of a run's result: all of it but the levels' masks (tens of
 * kilobytes a run, read by nothing here), so a results file can hold it for every run.
 */
export type RunSummary = Omit<PipelineResult, 'levels'> & {
  readonly levels: readonly Omit<LevelRecord, 'mask'>[];
  /** Where and how the run was produced (results written before issue 17 have none). */
  readonly provenance?: Readonly<Provenance>;
};

export interface RunSource {
  /** A run's result, if it has one. */
  result(id: string): RunSummary | undefined;
  /** How a run without a value ended: it failed, it diverged, or neither (not run yet). */
  state(id: string): 'failed' | 'diverged' | undefined;
  /**
   * The run's consecutive-cycle analyses (empty when it kept no cycle networks); computed and
   * cached on first use by a store.
   */
  cycleSeries(id: string): Promise<CycleSeries>;
  /** Top Hessian eigenvalue at the end of the run. */
  sharpness(id: string): Promise<number>;
}

/**
 * Runs as the store has them. A run's cycle series is read (or computed) once per source: the
 * verdict, the plots and the results file all ask for it.
 */
export function storeSource(store: Store): RunSource {
  const series = new Map<string, Promise<CycleSeries>>();
  const seriesOf = (id: string) => {
    let read = series.get(id);
    if (read === undefined) {
      read = cycleSeries(store, id);
      series.set(id, read);
    }
    return read;
  };
  return {
    result: (id) => store.result(id),
    state: (id) => {
      const { state } = store.status(id);
      return state === 'failed' || state === 'diverged' ? state : undefined;
    },
    cycleSeries: seriesOf,
    sharpness: async (id) => {
      const last = (await seriesOf(id)).cycles.at(-1);
      return last?.sharpness ?? (await storedSharpness(store, id)).result.eigenvalues[0]!.value;
    },
  };
}
