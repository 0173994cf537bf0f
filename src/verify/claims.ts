/**
 * The scope and counting rule an artifact follows, declared or inferred. Both scopes and every
 * counting rule start open unless declared; each level keeps those its pruned counts agree with
 * (`counts`), and where the counts fit both scopes the score order decides between them
 * (`score-order`). A level that cannot tell (level 0 at sparsity 0, or counts that match both
 * scopes) keeps both open.
 */

import type { Scope } from '../core/prune.js';
import { COUNTING_RULES, type CountingRule } from '../contracts/counting.js';
import type { Manifest } from './manifest.js';

export class OpenClaims {
  /** The scopes still open, in order of preference (global first), each with its rules. */
  private open: Map<Scope, readonly CountingRule[]>;

  constructor(manifest: Manifest) {
    const rules = manifest.countingRule ? [manifest.countingRule] : [...COUNTING_RULES];
    const scopes = manifest.scope ? [manifest.scope] : (['global', 'layerwise'] as const);
    this.open = new Map(scopes.map((scope) => [scope, rules]));
  }

  get scopes(): Scope[] {
    return [...this.open.keys()];
  }

  /** The preferred open scope and its rules. */
  get preferred(): [Scope, readonly CountingRule[]] {
    return [...this.open][0]!;
  }

  /** The scope, once only one is left. */
  get decided(): Scope | undefined {
    return this.open.size === 1 ? this.scopes[0] : undefined;
  }

  /** Every rule still open under some scope. */
  get rules(): CountingRule[] {
    return [...new Set([...this.open.values()].flat())];
  }

  /**
   * Keeps, under each scope, the rules this level's counts match there. When none would be
   * left it changes nothing and returns false: the level is off its count.
   */
  keepMatching(matchingIn: (scope: Scope) => readonly CountingRule[]): boolean {
    const next = new Map<Scope, readonly CountingRule[]>();
    for (const [scope, rules] of this.open) {
      const kept = rules.filter((r) => matchingIn(scope).includes(r));
      if (kept.length > 0) next.set(scope, kept);
    }
    if (next.size === 0) return false;
    this.open = next;
    return true;
  }

  /** Keeps only `scopes` (those the score order holds in), unless that would leave none. */
  keepScopes(scopes: readonly Scope[]): void {
    if (scopes.length > 0 && scopes.length < this.open.size)
      this.open = new Map(scopes.map((scope) => [scope, this.open.get(scope)!]));
  }
}
