/**
 * Analyses of stored runs: the networks come from the store (`<id>`, `<id>@final`, `<id>@<k>`),
 * the data from the run's own configuration, and every result is cached as JSON beside the run
 * (`<store>/<id>/analyses/<kind>-<hash>.json`, the hash covering the networks and the options), so
 * the gate, the report and the CLI compute each analysis once.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildExperiment, modelFor } from '../config/build.js';
import { canonicalJson, type Json } from '../config/resolve.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Engine } from '../engine/engine.js';
import { weightName } from '../models/spec.js';
import type { Store, StoredNetwork } from '../store/store.js';
import { sharpness, SHARPNESS_DEFAULTS, type Sharpness, type SharpnessOptions } from './hessian.js';
import {
  linearBarrierOf,
  linearModeConnectivity,
  LMC_DEFAULTS,
  type Lmc,
  type LmcOptions,
} from './lmc.js';
import { maskOverlap, type MaskOverlap } from './overlap.js';
import { signFlips, type SignFlips } from './signs.js';

export const ANALYSES = ['lmc', 'signs', 'sharpness', 'overlap'] as const;
export type AnalysisKind = (typeof ANALYSES)[number];

export interface AnalysisRecord<T> {
  readonly kind: AnalysisKind;
  readonly networks: readonly string[];
  readonly backend: string;
  readonly result: T;
  readonly seconds: number;
}

/** Canonical JSON of plain data (drops undefined fields, sorts keys). */
const canonical = (value: unknown) => canonicalJson(JSON.parse(JSON.stringify(value)) as Json);

function cacheFile(
  store: Store,
  kind: AnalysisKind,
  networks: readonly string[],
  options: unknown,
): string {
  const hash = createHash('sha256')
    .update(canonical({ kind, networks, options }))
    .digest('hex')
    .slice(0, 16);
  const id = networks[0]!.split('@')[0]!;
  return join(store.dir(id), 'analyses', `${kind}-${hash}.json`);
}

async function cached<T>(
  store: Store,
  kind: AnalysisKind,
  networks: readonly string[],
  options: unknown,
  /** The engine to compute on, or null for plain arithmetic. */
  engine: Engine | null,
  compute: () => T | Promise<T>,
): Promise<AnalysisRecord<T>> {
  const file = cacheFile(store, kind, networks, options);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as AnalysisRecord<T>;
  const started = performance.now();
  const result = await compute();
  const record: AnalysisRecord<T> = {
    kind,
    networks,
    backend: engine === null ? 'plain arithmetic' : engine.info.name,
    result,
    seconds: (performance.now() - started) / 1000,
  };
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(`${file}.partial-${process.pid}`, `${JSON.stringify(record, null, 1)}\n`);
  renameSync(`${file}.partial-${process.pid}`, file);
  return record;
}

function requireSameModel(a: StoredNetwork, b: StoredNetwork): void {
  if (canonical(a.config.model) !== canonical(b.config.model))
    throw new InvalidArgumentError(
      'runs',
      'two networks of the same model',
      `${a.ref}: ${a.config.model.name}, ${b.ref}: ${b.config.model.name}`,
    );
}

/** The engine the run was trained on (a stored network is analysed where it was computed). */
async function engineOf(network: StoredNetwork): Promise<Engine> {
  // Imported here: it loads TF.js, which reading stored series (claims, reports) does not need.
  const { openEngine } = await import('../engine/open.js');
  return openEngine(network.config.training);
}

export async function storedLmc(
  store: Store,
  refA: string,
  refB: string,
  options: Partial<LmcOptions> = {},
): Promise<AnalysisRecord<Lmc>> {
  const a = store.network(refA);
  const b = store.network(refB);
  requireSameModel(a, b);
  const resolved = { ...LMC_DEFAULTS, ...options };
  const engine = await engineOf(a);
  return cached(store, 'lmc', [a.ref, b.ref], resolved, engine, () => {
    const { setup } = buildExperiment(a.config);
    return linearModeConnectivity(engine, setup.spec, a, b, setup, resolved);
  });
}

export function storedSignFlips(
  store: Store,
  refA: string,
  refB: string,
): Promise<AnalysisRecord<SignFlips>> {
  const a = store.network(refA);
  const b = store.network(refB);
  requireSameModel(a, b);
  return cached(store, 'signs', [a.ref, b.ref], {}, null, () =>
    signFlips(
      a.mask,
      (layer) => a.values.get(weightName(layer))!,
      b.mask,
      (layer) => b.values.get(weightName(layer))!,
    ),
  );
}

export function storedOverlap(
  store: Store,
  refA: string,
  refB: string,
): Promise<AnalysisRecord<MaskOverlap>> {
  const a = store.network(refA);
  const b = store.network(refB);
  requireSameModel(a, b);
  return cached(store, 'overlap', [a.ref, b.ref], {}, null, () => maskOverlap(a.mask, b.mask));
}

export async function storedSharpness(
  store: Store,
  ref: string,
  options: Partial<SharpnessOptions> = {},
): Promise<AnalysisRecord<Sharpness>> {
  const stored = store.network(ref);
  const resolved = { ...SHARPNESS_DEFAULTS, ...options };
  const engine = await engineOf(stored);
  return cached(store, 'sharpness', [stored.ref], resolved, engine, async () => {
    const { setup } = buildExperiment(stored.config);
    const model = await engine.model(modelFor(stored.config), stored.values);
    try {
      return await sharpness(model, stored.mask, setup, resolved);
    } finally {
      await model.dispose();
    }
  });
}

/** What a run's stored cycles show: each consecutive pair compared, each cycle's sharpness. */
export interface CycleSeries {
  readonly id: string;
  readonly cycles: readonly { readonly cycle: number; readonly sharpness: number }[];
  readonly pairs: readonly {
    readonly from: number;
    readonly to: number;
    /** Mean-of-ends barrier (Frankle et al.; analysis/lmc.ts). */
    readonly testErrorBarrier: number;
    /** Barrier above the straight line between the ends (analysis/lmc.ts). */
    readonly testErrorBarrierLinear: number;
    readonly trainErrorBarrier: number;
    readonly testLossBarrier: number;
    readonly signFlipFraction: number;
    readonly curve: Lmc['curve'];
  }[];
}

/**
 * Consecutive-cycle analyses of one run (cached like every analysis). Runs trained before cycle
 * networks were kept have none: the series is then empty.
 */
export async function cycleSeries(
  store: Store,
  id: string,
  options: { lmc?: Partial<LmcOptions>; sharpness?: Partial<SharpnessOptions> } = {},
): Promise<CycleSeries> {
  const stored = store.storedCycles(id);
  const cycles = [];
  for (const cycle of stored) {
    const record = await storedSharpness(store, `${id}@${cycle}`, options.sharpness);
    cycles.push({ cycle, sharpness: record.result.eigenvalues[0]!.value });
  }
  const pairs = [];
  for (let i = 1; i < stored.length; i++) {
    const [from, to] = [stored[i - 1]!, stored[i]!];
    const lmc = (await storedLmc(store, `${id}@${to}`, `${id}@${from}`, options.lmc)).result;
    const signs = (await storedSignFlips(store, `${id}@${from}`, `${id}@${to}`)).result;
    pairs.push({
      from,
      to,
      testErrorBarrier: lmc.barrier.test.error,
      // From the stored curve, so analyses cached before it existed need no recomputing.
      testErrorBarrierLinear: linearBarrierOf(lmc.curve, 'test').error,
      trainErrorBarrier: lmc.barrier.train.error,
      testLossBarrier: lmc.barrier.test.loss,
      signFlipFraction: signs.fraction,
      curve: lmc.curve,
    });
  }
  return { id, cycles, pairs };
}
