import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  jobSignatureMatches,
  loadQueueKey,
  signatureMatches,
  signJob,
  signResult,
} from './signing.js';

describe('the queue key and result signatures', () => {
  test('the key comes from --queue-key-file or CYCLESPARSE_QUEUE_KEY; errors name both, never the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-key-'));
    const file = join(dir, 'queue.key');
    writeFileSync(file, 'from-the-file-0123456789\n');
    expect(loadQueueKey(file, {}).toString()).toBe('from-the-file-0123456789');
    expect(
      loadQueueKey(undefined, { CYCLESPARSE_QUEUE_KEY: 'from-the-env-0123456789' }).toString(),
    ).toBe('from-the-env-0123456789');
    expect(() => loadQueueKey(undefined, {})).toThrow(
      /set CYCLESPARSE_QUEUE_KEY or pass --queue-key-file <file>/,
    );
    expect(() => loadQueueKey(join(dir, 'missing'), {})).toThrow(/--queue-key-file: cannot read/);
    try {
      loadQueueKey(undefined, { CYCLESPARSE_QUEUE_KEY: 'short-secret' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/has 12 characters; use at least 16/);
      expect((error as Error).message).not.toContain('short-secret');
    }
  });

  test('a signature covers the run id, the configuration, the result and the metrics, as JSON carries them', () => {
    const key = Buffer.from('k'.repeat(32));
    const fields = {
      id: 'pai-0123456789abcdef',
      canonical: '{"a":1}',
      result: { b: 2, a: [1, Number.NaN] },
      metrics: [{ loss: 0.5 }],
    };
    const signature = signResult(key, fields);
    // Key order and NaN-as-null (what Redis hands back) do not matter.
    expect(signatureMatches(key, { ...fields, result: { a: [1, null], b: 2 } }, signature)).toBe(
      true,
    );
    for (const changed of [
      { ...fields, id: 'pai-fedcba9876543210' },
      { ...fields, canonical: '{"a":2}' },
      { ...fields, result: { b: 3, a: [1, null] } },
      { ...fields, metrics: [{ loss: 0.4 }] },
    ])
      expect(signatureMatches(key, changed, signature)).toBe(false);
    expect(signatureMatches(Buffer.from('x'.repeat(32)), fields, signature)).toBe(false);
    expect(signatureMatches(key, fields, undefined)).toBe(false);
    expect(signatureMatches(key, fields, 'abc')).toBe(false);
  });

  test('a job signature covers the run id, the configuration and the timeout, and is not a result signature', () => {
    const key = Buffer.from('k'.repeat(32));
    const job = { id: 'pai-0123456789abcdef', canonical: '{"a":1}', timeoutMs: 0 };
    const signature = signJob(key, job);
    expect(jobSignatureMatches(key, job, signature)).toBe(true);
    for (const changed of [
      { ...job, id: 'pai-fedcba9876543210' },
      { ...job, canonical: '{"a":2}' },
      { ...job, timeoutMs: 60_000 },
    ])
      expect(jobSignatureMatches(key, changed, signature)).toBe(false);
    expect(jobSignatureMatches(Buffer.from('x'.repeat(32)), job, signature)).toBe(false);
    expect(jobSignatureMatches(key, job, undefined)).toBe(false);
    expect(
      signatureMatches(
        key,
        { id: job.id, canonical: job.canonical, result: 0, metrics: 0 },
        signature,
      ),
    ).toBe(false);
  });
});
