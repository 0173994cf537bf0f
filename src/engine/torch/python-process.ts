/**
 * The PyTorch process: python/cyclesparse_torch.py started with the configured Python, spoken to
 * in frames (protocol.ts), one request at a time in order. (Not a "worker": that word belongs to
 * the queue's `cyclesparse worker`.) Failures are never silent: a process that exits fails every
 * pending request with its exit status and the end of its stderr, and one that sends nothing (no
 * reply, no progress) for `timeoutSeconds` while a request is pending is killed and reported as
 * hung. While idle the process does not keep Node's event loop alive; it exits when its stdin
 * closes or its parent disappears.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CyclesparseError, InvalidArgumentError } from '../../core/errors.js';
import { DatasetFileError } from '../../data/files.js';
import { BackendUnavailableError } from '../engine.js';
import { encodeFrame, FrameReader, type Frame, type Header, type WireTensor } from './protocol.js';

/** The PyTorch side's script, shipped in the package (`python/` beside `src/` and `dist/`). */
export const TORCH_SCRIPT = fileURLToPath(
  new URL('../../../python/cyclesparse_torch.py', import.meta.url),
);

/** Seconds without a frame from a busy process before it counts as hung (default 600). */
export function defaultTimeoutSeconds(): number {
  const fromEnv = Number(process.env.CYCLESPARSE_TORCH_TIMEOUT);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 600;
}

/** The Python that runs the PyTorch process: CYCLESPARSE_PYTHON, else `python3` on the PATH. */
export function defaultPython(): string {
  return process.env.CYCLESPARSE_PYTHON ?? 'python3';
}

/** A failure of the PyTorch process itself (it died, hung or failed to compute): a runtime failure. */
export class TorchProcessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchProcessError';
  }
}

interface Pending {
  readonly op: string;
  readonly resolve: (frame: Frame) => void;
  readonly reject: (error: Error) => void;
}

const STDERR_KEPT = 16 * 1024;

export class TorchProcess {
  readonly python: string;
  readonly timeoutSeconds: number;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #reader = new FrameReader();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stderr = '';
  #exited: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** CYCLESPARSE_TORCH_TRACE: a file that records every request, to replay a failure. */
  readonly #trace = process.env.CYCLESPARSE_TORCH_TRACE;

  constructor(options: { python?: string; timeoutSeconds?: number } = {}) {
    this.python = options.python ?? defaultPython();
    this.timeoutSeconds = options.timeoutSeconds ?? defaultTimeoutSeconds();
    if (!existsSync(TORCH_SCRIPT))
      throw new BackendUnavailableError('torch', `the PyTorch script is missing: ${TORCH_SCRIPT}`);
    this.#child = spawn(this.python, ['-u', TORCH_SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // Deterministic cuBLAS (torch.use_deterministic_algorithms needs it before CUDA starts).
        CUBLAS_WORKSPACE_CONFIG: process.env.CUBLAS_WORKSPACE_CONFIG ?? ':4096:8',
        // PyTorch runs its own intra-op threads; an OpenBLAS pthread pool beside them
        // oversubscribes the cores (research/feasibility.md §3.1) and, with Debian's torch 1.13,
        // corrupted the heap in backward passes here.
        OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1',
        PYTHONUNBUFFERED: '1',
      },
    });
    this.#child.stdout.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    this.#child.stdin.on('error', () => {}); // a dead process: reported by 'exit'
    this.#child.on('error', (error: NodeJS.ErrnoException) => {
      const message =
        error.code === 'ENOENT'
          ? `${this.python} not found: install Python 3 with PyTorch, or set CYCLESPARSE_PYTHON to a Python that has it`
          : `cannot start ${this.python}: ${error.message}`;
      this.#fail(new BackendUnavailableError('torch', message));
    });
    this.#child.on('exit', (code, signal) => {
      const how = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      this.#fail(
        new TorchProcessError(`PyTorch worker (${this.python}) ${how}${this.#stderrTail()}`),
      );
    });
    this.#idle();
  }

  #stderrTail(): string {
    const tail = this.#stderr.trim().split('\n').slice(-30).join('\n');
    return tail === '' ? '' : `; its stderr ends:\n${tail}`;
  }

  #fail(error: Error): void {
    if (this.#exited !== undefined) return;
    this.#exited = error.message;
    clearTimeout(this.#timer);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** No request pending: let Node exit without waiting for the process. */
  #idle(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#child.unref();
    (this.#child.stdout as unknown as { unref(): void }).unref();
    (this.#child.stderr as unknown as { unref(): void }).unref();
    (this.#child.stdin as unknown as { unref(): void }).unref();
  }

  #busy(): void {
    this.#child.ref();
    (this.#child.stdout as unknown as { ref(): void }).ref();
    (this.#child.stderr as unknown as { ref(): void }).ref();
    this.#armTimer();
  }

  #armTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const op = [...this.#pending.values()][0]?.op ?? 'a request';
      this.#fail(
        new TorchProcessError(
          `PyTorch worker (${this.python}) sent nothing for ${this.timeoutSeconds} s during ${op}: killed as hung (CYCLESPARSE_TORCH_TIMEOUT sets the limit)${this.#stderrTail()}`,
        ),
      );
      this.#child.kill('SIGKILL');
    }, this.timeoutSeconds * 1000);
  }

  #receive(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (error) {
      this.#fail(
        new TorchProcessError(
          `unreadable reply from the PyTorch worker: ${(error as Error).message}`,
        ),
      );
      this.#child.kill('SIGKILL');
      return;
    }
    for (const frame of frames) {
      if (this.#pending.size > 0) this.#armTimer();
      const id = frame.header.id as number;
      if (frame.header.progress !== undefined) continue;
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#pending.delete(id);
      if (this.#pending.size === 0) this.#idle();
      if (frame.header.ok === true) pending.resolve(frame);
      else pending.reject(this.#errorOf(frame.header, pending.op));
    }
  }

  #errorOf(header: Header, op: string): Error {
    const message = String(header.error);
    switch (header.kind) {
      case 'missing-torch':
        return new BackendUnavailableError(
          'torch',
          `${this.python} (${String(header.python)}) cannot import torch (${message}): install PyTorch (pip install torch, or Debian's python3-torch), or set CYCLESPARSE_PYTHON to a Python that has it`,
        );
      case 'missing-pillow':
        return new BackendUnavailableError(
          'torch',
          `${this.python} (${String(header.python)}) cannot import Pillow (${message}), which reads image files: install it (pip install pillow, or Debian's python3-pil), or set CYCLESPARSE_PYTHON to a Python that has it`,
        );
      case 'pillow-build':
        return new BackendUnavailableError(
          'torch',
          `${this.python} (${String(header.python)}) has Pillow ${String(header.pillow)} with ${String(header.jpeg)}: ${message}. The TF.js engines decode and resize image files as upstream Pillow with libjpeg-turbo does (measured with Pillow 9.4 and libjpeg-turbo 2.1), so this engine would train on other pixels: install upstream Pillow (pip install --force-reinstall pillow, whose wheels bundle libjpeg-turbo, or Debian's python3-pil), or set CYCLESPARSE_PYTHON to a Python that has it`,
        );
      case 'shared-memory':
        return new BackendUnavailableError(
          'torch',
          `the image loader processes ran out of shared memory (/dev/shm) in ${op}${typeof header.step === 'number' ? ` (batch ${header.step} of the request)` : ''}: ${message}. Give /dev/shm room (in Docker: a larger --shm-size, such as --shm-size=16g, or --ipc=host), or set CYCLESPARSE_LOADER_WORKERS=0 to decode in the PyTorch process (slower)`,
        );
      case 'data-file':
        return new DatasetFileError(
          String(header.file),
          `cannot be read as the data set's image in ${op} (batch ${String(header.step)} of the request): ${message}`,
          'Replace or remove the file and index the folder again',
        );
      case 'input': {
        // "field: expected …, got …" from the worker: the same shape as our own input errors.
        const match = /^([\w.[\]]+): expected (.*), got (.*)$/s.exec(message);
        return match !== null
          ? new InvalidArgumentError(match[1]!, match[2]!, match[3]!)
          : new CyclesparseError('invalid-argument', message);
      }
      default:
        return new TorchProcessError(
          `PyTorch worker failed in ${op}: ${message}${typeof header.traceback === 'string' ? `\n${header.traceback.trim()}` : ''}`,
        );
    }
  }

  /** Sends one request and waits for its reply. */
  request(op: string, header: Header = {}, tensors: readonly WireTensor[] = []): Promise<Frame> {
    if (this.#exited !== undefined) return Promise.reject(new TorchProcessError(this.#exited));
    const id = this.#nextId++;
    const promise = new Promise<Frame>((resolve, reject) =>
      this.#pending.set(id, { op, resolve, reject }),
    );
    if (this.#pending.size === 1) this.#busy();
    for (const buffer of encodeFrame({ ...header, id, op }, tensors)) {
      this.#child.stdin.write(buffer);
      if (this.#trace !== undefined) appendFileSync(this.#trace, buffer);
    }
    return promise;
  }

  /** Ends the process (its stdin closes; it exits after the request in progress). */
  close(): void {
    this.#exited ??= 'PyTorch worker closed';
    this.#child.stdin.end();
    this.#idle();
  }

  /** Kills the process now. */
  kill(): void {
    this.#child.kill('SIGKILL');
  }

  /** False once the process has exited, hung, or been closed. */
  get alive(): boolean {
    return this.#exited === undefined;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }
}

/** @deprecated The old name: use `TorchProcessError` ("worker" is the queue's word). */
export const TorchWorkerError = TorchProcessError;
/** @deprecated The old name: use `TorchProcessError`. */
export type TorchWorkerError = TorchProcessError;
/** @deprecated The old name: use `TORCH_SCRIPT`. */
export const WORKER_SCRIPT = TORCH_SCRIPT;
