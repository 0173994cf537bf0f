/**
 * Baselines: stored reference numbers, schema-validated.
 * - Published (`baselines/paper.json`): records of the paper and its authors' group, each with
 *   its provenance and exactness (research notes; most are figure readings, not table values).
 * - Measured (`baselines/<suite>.json`): what cyclesparse measured for a claims suite — per
 *   cell the mean, sd, n and confidence interval over seeds, with the backend, the cyclesparse
 *   version and the run ids, so a later run can be compared and replayed; and since issue 18 its
 *   provenance (commit, backend, engine, seeds, date, suite file), so a baseline says what it is
 *   a baseline of.
 */

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { schemaError } from '../core/errors.js';

export const publishedBaselineSchema = z
  .object({
    description: z.string(),
    records: z.array(
      z
        .object({
          dataset: z.string(),
          model: z.string(),
          method: z.string(),
          sparsity: z.number().min(0).max(100),
          mean: z.number(),
          std: z.number().nullable(),
          seeds: z.number().int().positive().nullable(),
          metric: z.string(),
          fromPaper: z.boolean(),
          exactness: z.string(),
          source: z.string(),
          notes: z.string(),
        })
        .strict(),
    ),
  })
  .strict();

export const measuredCellSchema = z
  .object({
    mean: z.number(),
    sd: z.number().nonnegative(),
    n: z.number().int().positive(),
    ci: z.tuple([z.number(), z.number()]).nullable(),
    level: z.number().gt(0).lt(1),
    metric: z.enum(['best', 'final', 'barrier', 'barrier-linear', 'sharpness']),
    /** The cycle the values are of (1-based); absent: each run's last cycle. */
    cycle: z.number().int().min(1).optional(),
    values: z.array(z.number()),
    runIds: z.array(z.string()),
  })
  .strict();

/** Where a measured baseline came from: enough to tell whether a later run is comparable. */
export const baselineProvenanceSchema = z
  .object({
    /** The cyclesparse version that measured it (package.json). */
    cyclesparse: z.string(),
    /** The git commit of the checkout it ran from; null when not run from one. */
    commit: z.string().nullable(),
    /** The backend the runs were trained on (the first run's; the suite runs all on one). */
    backend: z
      .object({
        name: z.string(),
        /** TF.js version, or PyTorch's on the torch engine; null when neither is known. */
        version: z.string().nullable(),
        threads: z.number(),
        /** PyTorch engine only: the device it computed on. */
        device: z.string().exactOptional(),
      })
      .strict(),
    /** The suite's engine override (--backend/--device/--precision); {} when none. */
    engine: z
      .object({
        backend: z.string().exactOptional(),
        device: z.string().exactOptional(),
        precision: z.string().exactOptional(),
      })
      .strict(),
    /** `key=value` settings set in every run (gate/reproduce arguments), as written. */
    overrides: z.array(z.string()),
    seeds: z.array(z.number().int().min(0)),
    /** The suite's metric and cycle (a cell records its claim's own). */
    metric: z.enum(['best', 'final']),
    cycle: z.union([z.literal('last'), z.number().int().min(1)]),
    /** When it was measured (ISO 8601, UTC; the same instant as `created`). */
    date: z.string(),
    /** The claims suite's file name. */
    suiteFile: z.string(),
  })
  .strict();

export const measuredBaselineSchema = z
  .object({
    suite: z.string(),
    created: z.string(),
    cyclesparse: z.string(),
    backend: z
      .object({ name: z.string(), tfjsVersion: z.string().nullable(), threads: z.number() })
      .loose(),
    /** Absent in baselines written before issue 18 (baselines/mini.json reads as before). */
    provenance: baselineProvenanceSchema.exactOptional(),
    cells: z.record(z.string(), measuredCellSchema),
  })
  .strict();

export type PublishedBaselines = z.infer<typeof publishedBaselineSchema>;
export type MeasuredBaselines = z.infer<typeof measuredBaselineSchema>;
export type MeasuredCell = z.infer<typeof measuredCellSchema>;
export type BaselineProvenance = z.infer<typeof baselineProvenanceSchema>;

function load<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw schemaError(file, {
      path: [],
      message: `a readable JSON file (${(error as Error).message})`,
    });
  }
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw schemaError(file, parsed.error.issues[0]!);
  return parsed.data;
}

export function loadPublishedBaselines(file: string): PublishedBaselines {
  return load(file, publishedBaselineSchema);
}

export function loadMeasuredBaselines(file: string): MeasuredBaselines {
  return load(file, measuredBaselineSchema);
}
