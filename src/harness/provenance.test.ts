/**
 * Provenance reads: the git commit from git's own files (checked against `git rev-parse`, the
 * git binary as the oracle), null outside a checkout, never an error.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { cyclesparseVersion, gitCommit } from './provenance.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

describe('provenance', () => {
  test('the version is package.json’s', () => {
    const json = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(cyclesparseVersion()).toBe(json.version);
    expect(cyclesparseVersion(mkdtempSync(join(tmpdir(), 'nopkg-')))).toBe('unknown');
  });

  test('this checkout’s commit is what git says', () => {
    expect(gitCommit()).toBe(git(root, 'rev-parse', 'HEAD'));
  });

  test('loose ref, packed ref, detached HEAD, worktree, and no checkout', () => {
    const repo = mkdtempSync(join(tmpdir(), 'prov-git-'));
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'a'), '1');
    git(repo, 'add', 'a');
    git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'one');
    const sub = join(repo, 'packages', 'x');
    mkdirSync(sub, { recursive: true });
    const head = git(repo, 'rev-parse', 'HEAD');
    expect(gitCommit(sub)).toBe(head); // found from below, loose ref
    // Installed in a user's project that is a git checkout: the project's commit is not ours.
    const installed = join(repo, 'node_modules', 'cyclesparse');
    mkdirSync(installed, { recursive: true });
    expect(gitCommit(installed)).toBeNull();
    git(repo, 'pack-refs', '--all');
    expect(gitCommit(repo)).toBe(head); // packed
    writeFileSync(join(repo, 'a'), '2');
    git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'two');
    const second = git(repo, 'rev-parse', 'HEAD');
    git(repo, 'checkout', '-q', head);
    expect(gitCommit(repo)).toBe(head); // detached
    const tree = join(mkdtempSync(join(tmpdir(), 'prov-wt-')), 'wt');
    git(repo, 'worktree', 'add', '-q', tree, 'main');
    expect(gitCommit(tree)).toBe(second);
    expect(gitCommit(mkdtempSync(join(tmpdir(), 'prov-none-')))).toBeNull();
  });
});
