/**
 * Results crossing the queue are signed: a worker signs what it reports (HMAC-SHA256 with a key
 * the coordinator and the workers share, never stored in Redis), and the coordinator imports
 * only a result whose signature matches and which passes the store's schemas. Anyone who can
 * write to Redis but does not hold the key cannot forge or alter a result (docs/QUEUE.md, "Trust
 * model").
 *
 * The signature covers the canonical JSON (sorted keys, `config/resolve.ts canonicalJson`) of
 * `{ v, id, canonical, result, metrics, networks? }` as JSON carries it (a NaN loss is null), so
 * the worker and the coordinator hash the same bytes whatever order Redis hands the keys back in.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { canonicalJson } from '../config/resolve.js';
import type { Json } from '../config/resolve.js';
import { InvalidArgumentError } from '../core/errors.js';
import { QUEUE_KEY_ENV } from './defaults.js';

export { QUEUE_KEY_ENV };
export const QUEUE_KEY_OPTION = '--queue-key-file';
const MIN_KEY_LENGTH = 16;
const HOW = `the same secret on the coordinator and every worker, e.g. \`openssl rand -hex 32 > queue.key\``;

/** What a signature covers. */
export interface SignedFields {
  /** The run id (the job id). */
  readonly id: string;
  /** The canonical JSON of the job's configuration (the string the run id hashes). */
  readonly canonical: string;
  readonly result: unknown;
  readonly metrics: unknown;
  /** Digests of the network files the worker left in its store, when it reports them. */
  readonly networks?: unknown;
}

/**
 * The queue key: the contents of `keyFile` (trailing whitespace dropped), else the environment
 * variable CYCLESPARSE_QUEUE_KEY. Errors name both and never show the key.
 */
export function loadQueueKey(
  keyFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Buffer {
  let key: string | undefined;
  let source: string;
  if (keyFile !== undefined) {
    source = `${QUEUE_KEY_OPTION} ${keyFile}`;
    try {
      key = readFileSync(keyFile, 'utf8').trim();
    } catch (error) {
      throw new InvalidArgumentError(
        QUEUE_KEY_OPTION,
        'a readable file holding the queue key',
        keyFile,
        `${QUEUE_KEY_OPTION}: cannot read ${keyFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  } else {
    source = QUEUE_KEY_ENV;
    key = env[QUEUE_KEY_ENV]?.trim();
    if (key === undefined || key === '')
      throw new InvalidArgumentError(
        QUEUE_KEY_OPTION,
        'a queue key',
        undefined,
        `a queue key is needed to sign and check results: set ${QUEUE_KEY_ENV} or pass ${QUEUE_KEY_OPTION} <file> (${HOW})`,
      );
  }
  if (key.length < MIN_KEY_LENGTH)
    throw new InvalidArgumentError(
      QUEUE_KEY_OPTION,
      'a queue key',
      undefined,
      `the queue key from ${source} has ${key.length} characters; use at least ${MIN_KEY_LENGTH} (${HOW})`,
    );
  return Buffer.from(key, 'utf8');
}

function payload(fields: SignedFields): string {
  // As JSON carries it: undefined fields dropped, NaN as null — what the coordinator will see.
  const carried = JSON.parse(JSON.stringify({ v: 1, ...fields })) as Json;
  return canonicalJson(carried);
}

/** HMAC-SHA256 of the fields, hex. */
export function signResult(key: Buffer, fields: SignedFields): string {
  return createHmac('sha256', key).update(payload(fields)).digest('hex');
}

/** Whether `signature` is the fields' HMAC under `key` (compared in constant time). */
export function signatureMatches(key: Buffer, fields: SignedFields, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(
    Buffer.from(signResult(key, fields), 'hex'),
    Buffer.from(signature, 'hex'),
  );
}

/** What a job's signature covers: the coordinator's order to train one run. */
export interface SignedJob {
  readonly id: string;
  /** The canonical JSON of the run's configuration. */
  readonly canonical: string;
  readonly timeoutMs: number;
}

function jobPayload(job: SignedJob): string {
  return canonicalJson({
    v: 1,
    kind: 'job',
    id: job.id,
    canonical: job.canonical,
    timeoutMs: job.timeoutMs,
  });
}

/** The coordinator's HMAC-SHA256 of a job, hex: workers train only jobs that carry it. */
export function signJob(key: Buffer, job: SignedJob): string {
  return createHmac('sha256', key).update(jobPayload(job)).digest('hex');
}

/** Whether `signature` is the job's HMAC under `key` (compared in constant time). */
export function jobSignatureMatches(key: Buffer, job: SignedJob, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(signJob(key, job), 'hex'), Buffer.from(signature, 'hex'));
}
