/**
 * State directories: a replacement keeps the state it replaced (and nothing else), what an
 * interrupted write left is removed by the next one, a tensor file is named inside the directory
 * only, and a state left half-replaced by the code before is still found.
 */

import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { discardPreviousState, readState, stateLocation, writeState } from './state-files.js';

const versions = { 1: z.object({ n: z.number() }) };
const tensors = (n: number) => new Map([['w', new Float32Array([n, n + 1])]]);
const fresh = () => join(mkdtempSync(join(tmpdir(), 'state-')), 'checkpoint');

describe('state directories', () => {
  test('each write keeps the one it replaced; the rest is removed', () => {
    const dir = fresh();
    for (const n of [1, 2, 3]) writeState(dir, { n }, tensors(n));
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.endsWith('.bin'))).toHaveLength(2);
    expect(files.filter((f) => f.endsWith('.json'))).toEqual(['state.json', 'state.previous.json']);
    expect(readState(dir, versions).meta).toEqual({ n: 3 });
    expect(readState(dir, versions, 'previous')).toEqual({ meta: { n: 2 }, tensors: tensors(2) });
    discardPreviousState(dir);
    expect(readdirSync(dir).sort()).toEqual(['state.json', expect.stringMatching(/^tensors-/)]);
  });

  test('what an interrupted write left is removed by the next write', () => {
    const dir = fresh();
    writeState(dir, { n: 1 }, tensors(1));
    writeFileSync(join(dir, 'tensors-0123456789ab.bin'), 'orphan');
    writeFileSync(join(dir, 'state.json.partial-77'), '{');
    mkdirSync(`${dir}.partial-77`);
    writeState(dir, { n: 2 }, tensors(2));
    expect(readdirSync(dir).filter((f) => f.includes('partial') || f.includes('0123'))).toEqual([]);
    expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
  });

  test('a tensor file is a name inside the directory, never a path', () => {
    const dir = fresh();
    writeState(dir, { n: 1 }, tensors(1));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as object;
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, bin: '../../etc/passwd' }));
    expect(() => readState(dir, versions)).toThrow(/state\.json: bin: .*Invalid string/);
  });

  test('a state the code before left half-replaced is found where it left it', () => {
    const dir = fresh();
    writeState(dir, { n: 1 }, tensors(1));
    renameSync(dir, `${dir}.previous-123`);
    expect(stateLocation(dir)).toBe(`${dir}.previous-123`);
    expect(readState(dir, versions).meta).toEqual({ n: 1 });
    writeState(dir, { n: 2 }, tensors(2));
    expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
  });
});
