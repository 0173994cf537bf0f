import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkStoreDir } from './store-dir.js';

describe('the --store directory', () => {
  test('is created when missing, parents included, and leaves nothing else behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-dir-'));
    const store = join(dir, 'a', 'b', 'runs');
    expect(checkStoreDir(store, { write: true })).toBe(store);
    expect(statSync(store).isDirectory()).toBe(true);
    expect(readdirSync(store)).toEqual([]);
    expect(checkStoreDir(store, { write: true })).toBe(store); // an existing one is fine
    expect(checkStoreDir(join(dir, 'absent'), { write: false })).toBe(join(dir, 'absent'));
    expect(existsSync(join(dir, 'absent'))).toBe(false); // reading creates nothing
  });
  test('a file, a path under a file, or a place nothing can be created is refused at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-dir-'));
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    for (const write of [true, false])
      expect(() => checkStoreDir(file, { write })).toThrow(
        `--store ${file}: expected a directory, got a file`,
      );
    expect(() => checkStoreDir(join(file, 'runs'), { write: true })).toThrow(
      `--store ${join(file, 'runs')}: ${file} is not a directory`,
    );
    if (existsSync('/proc/self')) {
      // Node's recursive mkdir retried this forever (procfs answers ENOENT, not EACCES).
      const started = performance.now();
      expect(() => checkStoreDir('/proc/cyclesparse/runs', { write: true })).toThrow(
        /^--store \/proc\/cyclesparse\/runs: cannot create \/proc\/cyclesparse \(ENOENT\)$/,
      );
      expect(() => checkStoreDir('/proc', { write: true })).toThrow(
        /^--store \/proc: cannot write in it \(E[A-Z]+\)$/,
      );
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
  test('a store to read that is not there is an error naming the path, when required', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-dir-'));
    const misspelt = join(dir, 'rnus');
    expect(() => checkStoreDir(misspelt, { write: false, mustExist: true })).toThrow(
      `--store ${misspelt}: no such directory (no store there)`,
    );
    expect(() => checkStoreDir(misspelt, { write: false, mustExist: true, name: 'store' })).toThrow(
      `store ${misspelt}: no such directory`,
    );
    expect(checkStoreDir(dir, { write: false, mustExist: true })).toBe(dir);
    expect(existsSync(misspelt)).toBe(false);
  });
});
