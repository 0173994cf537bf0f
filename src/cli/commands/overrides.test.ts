import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN } from '../cli-testing.js';

// The dry runs here are read for their run ids, not their estimates: the minimum is timed
// (CYCLESPARSE_SLOW_STEP_MS=0, as in twins.test.ts), not a second of epochs.
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CYCLESPARSE_SLOW_STEP_MS: '0' },
  });

const dir = mkdtempSync(join(tmpdir(), 'cli-overrides-'));
const config = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(
    file,
    `extends: mini-mnist-lenet300\nmethod: { name: lrr, targetSparsity: 0.9 }\n${text}`,
  );
  return file;
};
const idOf = (stdout: string) => /^# run (\S+)$/m.exec(stdout)?.[1];

describe('key=value overrides and --seed on the command line', () => {
  test('run --dry-run with overrides prints the id of the edited file; --seed is seed=N', () => {
    const overridden = cli(
      'run',
      config('a.yaml', ''),
      'training.epochsPerCycle=2',
      '--seed',
      '3',
      '--dry-run',
    );
    expect(overridden.stderr).toBe('');
    expect(overridden.status).toBe(0);
    const edited = cli(
      'run',
      config('b.yaml', 'training: { epochsPerCycle: 2 }\nseed: 3\n'),
      '--dry-run',
    );
    expect(edited.status).toBe(0);
    expect(idOf(overridden.stdout)).toMatch(/^lrr-[0-9a-f]{16}$/);
    expect(idOf(overridden.stdout)).toBe(idOf(edited.stdout));
    expect(overridden.stdout).toMatch(/^seed: 3$/m);
  }, 120_000);
  test('an unknown key exits 2 naming it and the nearest field; so does --seed beside seed=', () => {
    const file = config('c.yaml', '');
    const typo = cli('run', file, 'training.epochPerCycle=2', '--dry-run');
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(
      /"epochPerCycle" is not a field of training \(did you mean epochsPerCycle\?\)/,
    );
    const twice = cli('run', file, 'seed=1', '--seed', '2', '--dry-run');
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/--seed: also given as seed=/);
    const notOverride = cli('sweep', file, 'other.yaml', '--dry-run');
    expect(notOverride.status).toBe(2);
    expect(notOverride.stderr).toMatch(/"other\.yaml": expected key=value/);
  }, 120_000);
});
