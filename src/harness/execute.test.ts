/**
 * Executing against a store whose files cannot be read: the run fails as bad input naming the
 * file (the CLI exits 2, a queue does not retry) and nothing is trained over it. Training itself
 * is tested end to end in store/store.test.ts (SIGKILL and resume, sweeps).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli/cli-testing.js';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import { Store } from '../store/store.js';
import { executeRun } from './execute.js';

describe('executeRun records provenance (issue 17)', () => {
  test('result.json says when, which version and commit, where, and the backend and threads used; metric lines carry the run id', async () => {
    const store = new Store(mkdtempSync(join(tmpdir(), 'execute-prov-')));
    const before = Date.now();
    const outcome = await executeRun(store, config);
    const after = Date.now();
    expect(outcome.state).toBe('finished');
    const run = store.runOf(config);
    // Read the file itself, not through the store's schema.
    const stored = JSON.parse(readFileSync(join(run.path, 'result.json'), 'utf8')) as {
      backend: { name: string; threads: number };
      provenance: Record<string, unknown>;
    };
    const p = stored.provenance;
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
    expect(typeof p.started).toBe('string');
    expect(typeof p.finished).toBe('string');
    expect(p).toEqual({
      started: p.started,
      finished: p.finished,
      resumedAfter: 0,
      version: pkg.version,
      commit: head.stdout.trim(),
      host: hostname(),
      backend: stored.backend.name,
      threads: stored.backend.threads,
    });
    const started = Date.parse(String(p.started));
    const finishedAt = Date.parse(String(p.finished));
    expect(before).toBeLessThanOrEqual(started);
    expect(started).toBeLessThanOrEqual(finishedAt);
    expect(finishedAt).toBeLessThanOrEqual(after);
    expect(stored.backend.threads).toBeGreaterThanOrEqual(1);
    const lines = readFileSync(join(run.path, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const parsed = JSON.parse(line) as { run: string; at: string };
      expect(parsed.run).toBe(run.id);
      expect(Date.parse(parsed.at)).toBeGreaterThanOrEqual(started);
      expect(Date.parse(parsed.at)).toBeLessThanOrEqual(finishedAt);
    }
  });
});

const yaml = `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 10 }
training: { epochsPerCycle: 1 }
method: { name: dense }
`;
const config = resolveRun(parseConfigText(yaml, 'test.yaml'));

describe('executeRun on a store it cannot read', () => {
  test('a finished run whose result.json is corrupt is not trained again: it fails as input', async () => {
    const store = new Store(mkdtempSync(join(tmpdir(), 'execute-')));
    const run = store.runOf(config);
    run.ensureConfig(config);
    const metrics = join(run.path, 'metrics.jsonl');
    writeFileSync(metrics, '{"kept": "as it was"}\n');
    writeFileSync(join(run.path, 'result.json'), '{"status": "completed", "cyc');

    const outcome = await executeRun(store, config);
    expect(outcome).toMatchObject({ state: 'failed', kind: 'input', id: run.id });
    if (outcome.state !== 'failed') return;
    expect(outcome.error).toMatch(/result\.json: expected valid JSON/);
    expect(readFileSync(metrics, 'utf8')).toBe('{"kept": "as it was"}\n');
    expect(existsSync(join(run.path, 'checkpoint'))).toBe(false);
    expect(run.lock()).toBeUndefined();
    expect(run.failure()?.message).toBe(outcome.error);

    // The CLI says which file and exits 2 (bad input).
    const file = join(store.root, 'run.yaml');
    writeFileSync(file, yaml);
    const cli = spawnSync(process.execPath, [CLI_MAIN, 'run', file, '--store', store.root], {
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain(`${join(run.path, 'result.json')}: expected valid JSON`);
  });

  test('a config.json of another run (an id collision or an edited file) fails as input', async () => {
    const store = new Store(mkdtempSync(join(tmpdir(), 'execute-')));
    const run = store.runOf(config);
    run.ensureConfig(config);
    const file = join(run.path, 'config.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as object;
    writeFileSync(file, JSON.stringify({ ...stored, canonical: '{}' }));
    const outcome = await executeRun(store, config);
    expect(outcome).toMatchObject({ state: 'failed', kind: 'input' });
    if (outcome.state === 'failed') expect(outcome.error).toMatch(/refusing to mix results/);
    expect(run.metrics()).toEqual([]);
  });
});
