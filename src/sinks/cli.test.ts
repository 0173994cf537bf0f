/**
 * `--log` on the command line, end to end and kept cheap (tiny runs): `run` and `sweep` write
 * one TensorBoard folder per run with an event per stored epoch (each sweep cell from its own
 * pool process); a bad spec and an unreachable MLflow server exit 2 before anything trains.
 * The event files' contents are checked in tensorboard.test.ts.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli/cli-testing.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI_MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
    timeout: 120_000,
  });
}

/** TFRecord frames in a file: version and START, then one per epoch (CRCs: tensorboard.test.ts). */
function frames(file: string): number {
  const bytes = readFileSync(file);
  let n = 0;
  for (let at = 0; at < bytes.length; n++) at += 16 + Number(bytes.readBigUInt64LE(at));
  return n;
}

/** Lines of a run's metrics.jsonl, by run id (the folder name under the store). */
function storedEpochs(store: string, id: string): number {
  const dir = readdirSync(store, { recursive: true, encoding: 'utf8' }).find(
    (p) => p.endsWith(join(id, 'metrics.jsonl')) || p === join(id, 'metrics.jsonl'),
  );
  expect(dir).toBeDefined();
  return readFileSync(join(store, dir!), 'utf8').trim().split('\n').length;
}

const base = `extends: mini-mnist-lenet300
data: { trainPerClass: 5, testPerClass: 5 }
training: { epochsPerCycle: 1 }
method: { name: dense }
`;

describe('--log on the command line', () => {
  test('run and sweep write a TensorBoard folder per trained run', () => {
    const root = mkdtempSync(join(tmpdir(), 'cli-log-'));
    const file = join(root, 'run.yaml');
    writeFileSync(file, base);
    const tb = join(root, 'tb');
    const run = cli(['run', file, '--store', join(root, 'store'), '--log', `tensorboard=${tb}`]);
    expect(run.stderr + run.stdout).not.toMatch(/warning/i);
    expect(run.status).toBe(0);
    const [id] = readdirSync(tb);
    expect(readdirSync(tb)).toHaveLength(1);
    const [events] = readdirSync(join(tb, id!));
    expect(frames(join(tb, id!, events!))).toBe(2 + storedEpochs(join(root, 'store'), id!));

    const sweepFile = join(root, 'sweep.yaml');
    writeFileSync(sweepFile, `${base}sweep: { seeds: [1, 2] }\n`);
    const tb2 = join(root, 'tb2');
    const sweep = cli([
      'sweep',
      sweepFile,
      '--store',
      join(root, 'store'),
      '--concurrency',
      '2',
      '--log',
      `tensorboard=${tb2}`,
    ]);
    expect(sweep.status).toBe(0);
    const ids = readdirSync(tb2);
    expect(ids).toHaveLength(2);
    for (const cell of ids) {
      const files = readdirSync(join(tb2, cell));
      expect(files).toHaveLength(1);
      expect(frames(join(tb2, cell, files[0]!))).toBe(2 + storedEpochs(join(root, 'store'), cell));
    }
  });

  test('a bad spec or an unreachable MLflow server: exit 2 before anything trains', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cli-log-bad-'));
    const file = join(root, 'run.yaml');
    writeFileSync(file, base);
    const store = join(root, 'store');
    const bad = cli(['run', file, '--store', store, '--log', 'wandb']);
    expect(bad.status).toBe(2);
    expect(bad.stderr + bad.stdout).toContain('expected tensorboard=DIR or mlflow, got "wandb"');

    // A port that was just free: nothing listens there.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise((resolve) => server.close(resolve));
    const down = cli(['run', file, '--store', store, '--log', 'mlflow'], {
      MLFLOW_TRACKING_URI: uri,
    });
    expect(down.status).toBe(2);
    expect(down.stderr + down.stdout).toContain(uri);
    expect(existsSync(store) ? readdirSync(store, { recursive: true }) : []).not.toContainEqual(
      expect.stringMatching(/metrics\.jsonl$/),
    );
  });
});
