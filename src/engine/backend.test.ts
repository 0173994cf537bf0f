import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { idleCores, nativeThreads } from './backend.js';
import { loadNative } from './native.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BACKEND = fileURLToPath(new URL('./backend.ts', import.meta.url));

/** A user's script: selects `backend`, then fails in its own code in the way `failure` says. */
function userScript(backend: string, failure: 'throw' | 'reject'): string {
  const dir = mkdtempSync(join(tmpdir(), 'cyclesparse-user-'));
  const file = join(dir, 'user-script.mts');
  writeFileSync(
    file,
    [
      `import { useBackend } from ${JSON.stringify(BACKEND)};`,
      `await useBackend(${JSON.stringify(backend)});`,
      'function usersOwnFunction(): never {',
      "  throw new Error('the user script failed here');",
      '}',
      failure === 'throw'
        ? 'setTimeout(usersOwnFunction, 0);'
        : 'void Promise.resolve().then(usersOwnFunction);',
    ].join('\n'),
  );
  return file;
}

function runNode(file: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

describe("a user's own error after useBackend keeps its exit code and stack", () => {
  for (const backend of ['wasm', 'native'])
    for (const failure of ['throw', 'reject'] as const)
      // native needs its addon built (npm run build:native); wasm is always there.
      test.skipIf(backend === 'native' && loadNative().addon === undefined)(
        `${backend}, ${failure === 'throw' ? 'uncaught exception' : 'unhandled rejection'}`,
        () => {
          const result = runNode(userScript(backend, failure));
          expect(result.status, result.stderr).toBe(1);
          expect(result.stderr).toContain('Error: the user script failed here');
          // The first frame is the user's function in the user's file, not emscripten's listener.
          const frames = result.stderr.split('\n').filter((line) => /^\s+at /.test(line));
          expect(frames[0]).toMatch(/usersOwnFunction .*user-script\.mts/);
          expect(result.stderr).not.toMatch(/tf-backend-wasm/);
        },
      );
});

describe('threads by default', () => {
  test('the idle cores: cores less the load average rounded, at least one, at most every core', () => {
    expect(idleCores(16, 0)).toBe(16);
    expect(idleCores(16, 3.4)).toBe(13);
    expect(idleCores(16, 3.6)).toBe(12);
    expect(idleCores(2, 7.2)).toBe(1);
    expect(idleCores(8, 15.9)).toBe(1);
  });
  test('CYCLESPARSE_THREADS overrides; anything but a positive integer is ignored', () => {
    const saved = process.env.CYCLESPARSE_THREADS;
    try {
      process.env.CYCLESPARSE_THREADS = '3';
      expect(nativeThreads()).toBe(3);
      for (const bad of ['0', '-2', '1.5', 'many', '']) {
        process.env.CYCLESPARSE_THREADS = bad;
        expect(nativeThreads()).toBe(idleCores());
      }
    } finally {
      if (saved === undefined) delete process.env.CYCLESPARSE_THREADS;
      else process.env.CYCLESPARSE_THREADS = saved;
    }
  });
});
