/**
 * The run lock under every interleaving of its steps: one taker is stopped at each fault point
 * of its acquire (train/faults.ts, in process: the others run to completion inside the window)
 * while others take the same lock, and at most one ends up holding it; a stale lock is taken
 * over by exactly one. Leases across hosts, the heartbeat and losing the lock. One real second
 * process stalled inside the window. No training here (store/crash.test.ts trains).
 */

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { faultFileName, setFaultHook } from '../train/faults.js';
import { LockLostError, RunDirectory } from './run-directory.js';

const POINTS = ['lock:staged', 'lock:exists', 'lock:stale', 'lock:ticket', 'lock:removed'];
const DEAD_PID = 2 ** 22 + 1; // above Linux's pid_max
const dead = (extra: object = {}) =>
  JSON.stringify({ pid: DEAD_PID, host: hostname(), started: '2026-01-01T00:00:00Z', ...extra });

function runDir(): RunDirectory {
  const run = new RunDirectory(mkdtempSync(join(tmpdir(), 'lock-')), 'run');
  mkdirSync(run.path);
  return run;
}

/** Calls `inside` the first time `point` is reached, then lets everything else pass. */
function at(point: string, inside: () => void): void {
  let fired = false;
  setFaultHook((reached) => {
    if (fired || reached !== point) return;
    fired = true;
    setFaultHook(undefined);
    inside();
  });
}

afterEach(() => void setFaultHook(undefined));

const lockFiles = (run: RunDirectory) =>
  readdirSync(run.path).filter((f) => f === 'lock' || f.startsWith('lock.'));

describe('the run lock under interleavings', () => {
  const cases = [
    ...POINTS.map((point) => ({ staleLock: true, point })),
    { staleLock: false, point: 'lock:staged' }, // the only point on the way to a free lock
  ];
  for (const { staleLock, point } of cases)
    test(`${staleLock ? 'a stale lock' : 'no lock'}: A stopped at ${point} while B takes it: one holder`, () => {
      const a = runDir();
      const b = new RunDirectory(join(a.path, '..'), 'run');
      if (staleLock) writeFileSync(join(a.path, 'lock'), dead());
      let bTook: boolean | undefined;
      at(point, () => (bTook = b.acquire()));
      const aTook = a.acquire();
      const holders = [aTook && a.holds(), bTook === true && b.holds()];
      expect(holders.filter(Boolean)).toHaveLength(1);
      expect([aTook, bTook].filter(Boolean)).toHaveLength(1);
      a.release();
      b.release();
      expect(lockFiles(a)).toEqual([]); // no lock, ticket or staging file left
    });

  test('three takers of a stale lock, A stopped at every point, B at every point inside it: one holder', () => {
    for (const p of POINTS)
      for (const q of POINTS) {
        const a = runDir();
        const root = join(a.path, '..');
        const [b, c] = [new RunDirectory(root, 'run'), new RunDirectory(root, 'run')];
        writeFileSync(join(a.path, 'lock'), dead());
        const took: boolean[] = [];
        at(p, () => {
          at(q, () => took.push(c.acquire()));
          took.push(b.acquire());
        });
        took.push(a.acquire());
        expect(took.filter(Boolean), `${p} / ${q}`).toHaveLength(1);
        expect(
          [a, b, c].filter((r) => r.holds()),
          `${p} / ${q}`,
        ).toHaveLength(1);
        for (const r of [a, b, c]) r.release();
        expect(lockFiles(a), `${p} / ${q}`).toEqual([]);
      }
  });

  test('B takes the lock, runs and releases inside A’s window: A then takes it cleanly', () => {
    for (const point of POINTS) {
      const a = runDir();
      const b = new RunDirectory(join(a.path, '..'), 'run');
      writeFileSync(join(a.path, 'lock'), dead());
      at(point, () => {
        // B finds A's ticket when A stopped holding it (lock:ticket): then B stands back.
        expect(b.acquire()).toBe(point !== 'lock:ticket');
        b.release();
      });
      // A may find the lock free again (it never removes B's): what matters is one at a time.
      const aTook = a.acquire();
      if (aTook) expect(a.holds()).toBe(true);
      a.release();
      expect(lockFiles(a)).toEqual([]);
    }
  });
});

describe('who holds a lock', () => {
  test('a lock of this process’s pid taken before it started was left by an earlier process (a restarted container)', () => {
    const run = runDir();
    writeFileSync(
      join(run.path, 'lock'),
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        started: '2026-01-01T00:00:00Z',
        token: 'abcdef0123',
      }),
    );
    expect(run.locked()).toBe(false);
    expect(run.acquire()).toBe(true);
    run.release();
    // Taken since this process started, by another of its threads: live.
    const now = new Date().toISOString();
    const other = { pid: process.pid, host: hostname(), started: now, token: 'abcdef0124' };
    writeFileSync(join(run.path, 'lock'), JSON.stringify(other));
    expect(run.locked()).toBe(true);
  });

  test('a lock written before tokens, and a ticket left by a taker that died, are taken over', () => {
    const run = runDir();
    writeFileSync(join(run.path, 'lock'), dead());
    const legacyId = `${hostname()}-${DEAD_PID}-2026-01-01T00:00:00Z`.replace(/[^\w.-]/g, '_');
    writeFileSync(join(run.path, `lock.break-${legacyId}`), dead({ token: '0123456789' }));
    writeFileSync(join(run.path, 'lock.partial-9876543210'), dead({ token: '9876543210' }));
    expect(run.acquire()).toBe(true);
    expect(lockFiles(run)).toEqual(['lock']);
    run.release();
  });

  test('another host’s lock holds while its lease is renewed and is taken over once it expires', () => {
    const run = runDir();
    const lock = join(run.path, 'lock');
    writeFileSync(lock, dead({ host: 'elsewhere', token: '00000000aa' }));
    expect(run.locked()).toBe(true);
    expect(run.acquire()).toBe(false);
    const old = new Date(Date.now() - 601_000); // the default lease: 600 s
    utimesSync(lock, old, old);
    expect(run.locked()).toBe(false);
    expect(run.acquire()).toBe(true);
    run.release();
  });

  test('the holder renews its lease; once taken over it notices and writes nothing more', () => {
    const run = runDir();
    const lock = join(run.path, 'lock');
    expect(run.acquire()).toBe(true);
    const old = new Date(Date.now() - 100_000);
    utimesSync(lock, old, old);
    run.assertHeld(); // renews
    expect(new RunDirectory(join(run.path, '..'), 'run').locked()).toBe(true);
    // Another host took it over (this one stalled past its lease).
    writeFileSync(lock, dead({ host: 'elsewhere', token: '00000000bb' }));
    expect(run.renew()).toBe(false);
    expect(() => run.assertHeld()).toThrow(LockLostError);
    run.release(); // not its lock any more: left alone
    expect(run.lock()?.host).toBe('elsewhere');
  });
});

describe('a second process stalled inside the window', () => {
  test('it judged the lock stale, then this process took it: it does not take it too', async () => {
    const a = runDir();
    writeFileSync(join(a.path, 'lock'), dead());
    const signals = mkdtempSync(join(tmpdir(), 'fault-'));
    const module = fileURLToPath(new URL('./run-directory.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { RunDirectory } = await import(${JSON.stringify(module)});
         const run = new RunDirectory(${JSON.stringify(join(a.path, '..'))}, 'run');
         process.stdout.write(String(run.acquire()));`,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          ...process.env,
          CYCLESPARSE_FAULT: 'lock:stale@pause',
          CYCLESPARSE_FAULT_DIR: signals,
        },
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const reached = join(signals, faultFileName('lock:stale', 'reached'));
    const started = Date.now();
    while (!existsSync(reached)) {
      if (Date.now() - started > 60_000) throw new Error('the child never reached lock:stale');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(a.acquire()).toBe(true); // the stale lock, taken over while the child is stalled
    writeFileSync(join(signals, faultFileName('lock:stale', 'go')), '');
    expect(await exited).toBe(0);
    expect(out).toBe('false');
    expect(a.holds()).toBe(true);
    a.release();
  }, 60_000);
});
