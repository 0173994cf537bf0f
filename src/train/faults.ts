/**
 * Named fault points, for tests of crash safety. Code whose correctness depends on what another
 * process or a kill can do between two of its steps (the run lock, the state-directory write)
 * calls `faultPoint('<area>:<step>')` between them; normally that is a no-op costing one
 * comparison.
 *
 * Two ways to act at a point, neither based on timing:
 *
 * - In process: `setFaultHook((point) => …)`. The hook runs synchronously at the point: a test
 *   can run another actor to completion inside the window (a second lock taker), or throw to stop
 *   the code there as a kill would (the code under test keeps no cleanup in `finally` blocks
 *   between its points, so a throw leaves on disk what a kill leaves).
 * - Across processes: `CYCLESPARSE_FAULT=<point>[#<n>]@<action>` (the n-th time the point is
 *   reached, default the first), action `exit` (the process kills itself with SIGKILL: nothing
 *   after the point runs), `throw`, or `pause`: writes `<point>.reached` into
 *   `CYCLESPARSE_FAULT_DIR` and blocks until `<point>.go` appears there (at most 10 minutes).
 *   Point names in file names have `:` replaced by `-`.
 */

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type FaultHook = (point: string) => void;

let hook: FaultHook | undefined;
let fromEnv: FaultHook | undefined | null = null; // null: not read yet

/** Installs (or with undefined removes) the in-process hook; returns the one it replaces. */
export function setFaultHook(next: FaultHook | undefined): FaultHook | undefined {
  const previous = hook;
  hook = next;
  return previous;
}

/** The error a `throw` fault raises. */
export class InjectedFault extends Error {
  readonly point: string;
  constructor(point: string) {
    super(`injected fault at ${point}`);
    this.name = 'InjectedFault';
    this.point = point;
  }
}

/** A point between two steps that must be safe to stop, pause or kill at. */
export function faultPoint(point: string): void {
  if (fromEnv === null) fromEnv = envHook(process.env.CYCLESPARSE_FAULT);
  hook?.(point);
  fromEnv?.(point);
}

/** The file name a point has in `CYCLESPARSE_FAULT_DIR`. */
export const faultFileName = (point: string, suffix: 'reached' | 'go'): string =>
  `${point.replace(/[^\w.-]/g, '-')}.${suffix}`;

function envHook(spec: string | undefined): FaultHook | undefined {
  if (spec === undefined || spec === '') return undefined;
  const match = /^([\w:.-]+?)(?:#(\d+))?@(exit|throw|pause)$/.exec(spec);
  if (match === null)
    throw new Error(`CYCLESPARSE_FAULT: expected <point>[#<n>]@exit|throw|pause, got ${spec}`);
  const [, target, nth, action] = match as unknown as [string, string, string | undefined, string];
  let remaining = nth === undefined ? 1 : Number(nth);
  return (point) => {
    if (point !== target || --remaining !== 0) return;
    if (action === 'throw') throw new InjectedFault(point);
    if (action === 'exit') process.kill(process.pid, 'SIGKILL');
    if (action === 'pause') pause(point);
  };
}

function pause(point: string): void {
  const dir = process.env.CYCLESPARSE_FAULT_DIR;
  if (dir === undefined) throw new Error('CYCLESPARSE_FAULT=…@pause needs CYCLESPARSE_FAULT_DIR');
  writeFileSync(join(dir, faultFileName(point, 'reached')), `${process.pid}\n`);
  const go = join(dir, faultFileName(point, 'go'));
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + 600_000;
  // Blocks the whole process, as a stall inside a synchronous step would.
  while (!existsSync(go)) {
    if (Date.now() > until) throw new InjectedFault(`${point} (paused 10 minutes, no go)`);
    Atomics.wait(cell, 0, 0, 10);
  }
}
