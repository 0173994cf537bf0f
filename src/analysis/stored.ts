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
import { useBackend, activeBackend } from '../engine/backend.js';
import { Network } from '../engine/network.js';
import type { Store, StoredNetwork } from '../store/store.js';
import { sharpness, SHARPNESS_DEFAULTS, type Sharpness, type SharpnessOptions } from './hessian.js';
import { linearModeConnectivity, LMC_DEFAULTS, type Lmc, type LmcOptions } from './lmc.js';
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

function cached<T>(
  store: Store,
  kind: AnalysisKind,
  networks: readonly string[],
  options: unknown,
  compute: () => T,
  computedOn: 'backend' | 'plain arithmetic' = 'backend',
): AnalysisRecord<T> {
  const file = cacheFile(store, kind, networks, options);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as AnalysisRecord<T>;
  const started = performance.now();
  const result = compute();
  const record: AnalysisRecord<T> = {
    kind,
    networks,
    backend: computedOn === 'backend' ? activeBackend().name : computedOn,
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

async function withBackend(network: StoredNetwork): Promise<void> {
  await useBackend(network.config.training.backend);
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
  await withBackend(a);
  return cached(store, 'lmc', [a.ref, b.ref], resolved, () => {
    const { setup } = buildExperiment(a.config);
    return linearModeConnectivity(setup.spec, a, b, setup, resolved);
  });
}

export function storedSignFlips(
  store: Store,
  refA: string,
  refB: string,
): AnalysisRecord<SignFlips> {
  const a = store.network(refA);
  const b = store.network(refB);
  requireSameModel(a, b);
  return cached(
    store,
    'signs',
    [a.ref, b.ref],
    {},
    () =>
      signFlips(
        a.mask,
        (layer) => a.values.get(`${layer}.weight`)!,
        b.mask,
        (layer) => b.values.get(`${layer}.weight`)!,
      ),
    'plain arithmetic',
  );
}

export function storedOverlap(
  store: Store,
  refA: string,
  refB: string,
): AnalysisRecord<MaskOverlap> {
  const a = store.network(refA);
  const b = store.network(refB);
  requireSameModel(a, b);
  return cached(
    store,
    'overlap',
    [a.ref, b.ref],
    {},
    () => maskOverlap(a.mask, b.mask),
    'plain arithmetic',
  );
}

export async function storedSharpness(
  store: Store,
  ref: string,
  options: Partial<SharpnessOptions> = {},
): Promise<AnalysisRecord<Sharpness>> {
  const stored = store.network(ref);
  const resolved = { ...SHARPNESS_DEFAULTS, ...options };
  await withBackend(stored);
  return cached(store, 'sharpness', [stored.ref], resolved, () => {
    const { setup } = buildExperiment(stored.config);
    const network = Network.initialize(modelFor(stored.config), 0, 'analysis/sharpness-scratch');
    try {
      network.restore(stored.values);
      return sharpness(network, stored.mask, setup, resolved);
    } finally {
      network.dispose();
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
    readonly testErrorBarrier: number;
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
    const signs = storedSignFlips(store, `${id}@${from}`, `${id}@${to}`).result;
    pairs.push({
      from,
      to,
      testErrorBarrier: lmc.barrier.test.error,
      trainErrorBarrier: lmc.barrier.train.error,
      testLossBarrier: lmc.barrier.test.loss,
      signFlipFraction: signs.fraction,
      curve: lmc.curve,
    });
  }
  return { id, cycles, pairs };
}
