/**
 * Typed errors of cyclesparse. Every rejection of user input names the argument (a dotted path
 * such as `scores.conv1` or `shape.milestones[1].at`) and the allowed values, so a caller can
 * show it as is and a program can branch on `code`.
 */

export type ErrorCode = 'invalid-argument' | 'infeasible';

export class CyclesparseError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument outside its allowed values: `argument: expected <allowed>, got <received>`. */
export class InvalidArgumentError extends CyclesparseError {
  readonly argument: string;
  readonly allowed: string;
  readonly received: unknown;
  constructor(argument: string, allowed: string, received: unknown, message?: string) {
    super(
      'invalid-argument',
      message ?? `${argument}: expected ${allowed}, got ${describe(received)}`,
    );
    this.argument = argument;
    this.allowed = allowed;
    this.received = received;
  }
}

/**
 * Arguments that are each valid but cannot be satisfied together, e.g. a target sparsity that
 * the layers left prunable cannot reach. The message says which arguments and why.
 */
export class InfeasibleError extends CyclesparseError {
  readonly argument: string;
  constructor(argument: string, reason: string) {
    super('infeasible', `${argument}: ${reason}`);
    this.argument = argument;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  }
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value); // cyclic or BigInt-holding values
  }
}

/** The first problem a schema validation (zod) found, as an error at `root.<path>`. */
export function schemaError(
  root: string,
  issue: {
    readonly path: readonly PropertyKey[];
    readonly message: string;
    readonly input?: unknown;
  },
): InvalidArgumentError {
  const argument = issue.path.reduce<string>(
    (at, key) => (typeof key === 'number' ? `${at}[${key}]` : `${at}.${String(key)}`),
    root,
  );
  // zod's own messages already read "Too big: expected number to be <=1"; ours name only the
  // allowed values. The received value is shown only when the validator reported it.
  const allowed = issue.message;
  const got = 'input' in issue ? `, got ${describe(issue.input)}` : '';
  const message = /\bexpected\b/.test(allowed)
    ? `${argument}: ${allowed}${got}`
    : `${argument}: expected ${allowed}${got}`;
  return new InvalidArgumentError(argument, allowed, issue.input, message);
}

/**
 * A file cyclesparse wrote (a run's result, metrics, checkpoint, …) that is there but cannot be
 * read: not JSON, a field of the wrong type, a format version this code does not know, a
 * truncated tensor file. Its message names the file first (`runs/x/result.json: cycles[0].epochs:
 * expected …, got …`; `runs/x/metrics.jsonl:3: …` for a line); an absent file is not an error,
 * its readers return undefined.
 */
export class StoredFileError extends InvalidArgumentError {
  readonly file: string;
  /** The line of a JSON Lines file. */
  readonly line: number | undefined;
  /** `field` is the place inside the file (`cycles[0].epochs`), omitted for the whole file. */
  constructor(
    where: StoredFileLocation,
    field: string | undefined,
    allowed: string,
    received: unknown,
    message?: string,
  ) {
    const at = storedFileLocation(where);
    super(field === undefined ? at : `${at}: ${field}`, allowed, received, message);
    this.file = where.file;
    this.line = where.line;
  }

  /** The first problem a schema validation (zod) found, at `within` in the file. */
  static fromIssue(
    where: StoredFileLocation,
    issue: {
      readonly path: readonly PropertyKey[];
      readonly message: string;
      readonly input?: unknown;
    },
    within: readonly PropertyKey[] = [],
  ): StoredFileError {
    const at = storedFileLocation(where);
    const [head, ...rest] = [...within, ...issue.path];
    // schemaError words the field and the problem as everywhere else; the file goes in front.
    const root = head === undefined ? at : `${at}: ${String(head)}`;
    const inner = schemaError(root, { ...issue, path: rest });
    const field = head === undefined ? undefined : inner.argument.slice(at.length + 2);
    return new StoredFileError(where, field, inner.allowed, inner.received, inner.message);
  }
}

/** A stored file, and the line for a JSON Lines file. */
export interface StoredFileLocation {
  readonly file: string;
  readonly line?: number;
}

function storedFileLocation(where: StoredFileLocation): string {
  return where.line === undefined ? where.file : `${where.file}:${where.line}`;
}

/** A finite number in [0, 1): the only sparsities that leave something to train. */
export function requireSparsity(argument: string, value: number): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new InvalidArgumentError(argument, 'a sparsity in [0, 1)', value);
  }
  return value;
}

export function requireInteger(
  argument: string,
  value: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(argument, `an integer ${range}`, value);
  }
  return value;
}

/** A finite number in [min, max] (inclusive bounds unless stated by `openMin`/`openMax`). */
export function requireNumber(
  argument: string,
  value: number,
  range: { min: number; max: number; openMin?: boolean; openMax?: boolean },
): number {
  const aboveMin = range.openMin ? value > range.min : value >= range.min;
  const belowMax = range.openMax ? value < range.max : value <= range.max;
  if (typeof value !== 'number' || !Number.isFinite(value) || !aboveMin || !belowMax) {
    const open = range.openMin ? '(' : '[';
    const close = range.openMax ? ')' : ']';
    throw new InvalidArgumentError(
      argument,
      `a finite number in ${open}${range.min}, ${range.max}${close}`,
      value,
    );
  }
  return value;
}
