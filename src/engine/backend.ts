/**
 * Choosing the TF.js backend. `wasm` is the default and trains every model on any CPU; `cpu` is
 * pure JavaScript (slow, everywhere). GPU backends are optional and loaded only when asked for:
 * `tensorflow` (`@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node`, whose installs download
 * libtensorflow) and `webgpu` (`@tensorflow/tfjs-backend-webgpu` on the `webgpu` package's Dawn
 * binary, which needs a GPU with a Vulkan driver). Neither is a dependency of cyclesparse.
 *
 * TF.js has one active backend per process. Tensors must be created on the backend that uses
 * them (a cpu-made tensor read by a wasm kernel was garbage in a test here), so switching
 * backends means building the network again.
 */

import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
// tfjs-core's Node build registers no gradients; the @tensorflow/tfjs bundle registers them all
// (into tfjs-core's global registry) and is the only Node-loadable copy of them.
import '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../core/errors.js';
import {
  BackendUnavailableError,
  TFJS_BACKENDS,
  type BackendInfo,
  type TfjsBackendName,
} from './engine.js';
import { installKernels, setNativeKernels } from './kernels.js';
import { loadNative, nativeKernels } from './native.js';
import { sgdAddon, sgdKernels } from './sgd-kernel.js';
import { sparseAddon, sparseKernels, sparseMode } from './sparse.js';

/** Imports an optional package by name; undefined when it is not installed. */
async function optionalImport(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * The version of an installed package, read from the package.json found above its entry point
 * (a bare `import('<pkg>/package.json')` needs a JSON import attribute in Node and is refused by
 * packages whose `exports` do not list it). Null when it is not installed.
 */
export function installedPackageVersion(specifier: string): string | null {
  let dir: string;
  try {
    dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  } catch {
    return null;
  }
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (json.name === specifier) return typeof json.version === 'string' ? json.version : null;
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

async function loadTensorflow(): Promise<string> {
  for (const specifier of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if ((await optionalImport(specifier)) === undefined) continue;
    if (tf.findBackendFactory('tensorflow') === null) {
      throw new BackendUnavailableError(
        'tensorflow',
        `${specifier} is installed but registered its backend on another copy of @tensorflow/tfjs-core; ` +
          `install the version matching @tensorflow/tfjs-core ${tf.version_core}`,
      );
    }
    return `${specifier}@${installedPackageVersion(specifier) ?? 'unknown'}`;
  }
  throw new BackendUnavailableError(
    'tensorflow',
    `not installed. Install @tensorflow/tfjs-node-gpu@${tf.version_core} (CUDA) or ` +
      `@tensorflow/tfjs-node@${tf.version_core}; their install downloads libtensorflow, so it needs network access`,
  );
}

async function loadWebgpu(): Promise<string> {
  const dawn = await optionalImport('webgpu');
  if (dawn === undefined) {
    throw new BackendUnavailableError(
      'webgpu',
      `not installed. Install webgpu and @tensorflow/tfjs-backend-webgpu@${tf.version_core}; ` +
        'it also needs a GPU with a Vulkan driver (libvulkan1)',
    );
  }
  const { create, globals } = dawn as { create: (flags: string[]) => unknown; globals: object };
  // tfjs-backend-webgpu registers only where navigator.gpu exists; Node has no navigator.
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: create([]) },
    configurable: true,
    writable: true,
  });
  if ((await optionalImport('@tensorflow/tfjs-backend-webgpu')) === undefined) {
    throw new BackendUnavailableError(
      'webgpu',
      `install @tensorflow/tfjs-backend-webgpu@${tf.version_core}`,
    );
  }
  return `webgpu@${installedPackageVersion('webgpu') ?? 'unknown'}`;
}

/**
 * Makes `name` the active backend, with cyclesparse's training kernels installed, and says what
 * it is. Asking for a backend that is not installed, or that finds no device, throws a
 * {@link BackendUnavailableError} that says what to install.
 */
export async function useBackend(name: TfjsBackendName = 'wasm'): Promise<BackendInfo> {
  if (!(TFJS_BACKENDS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError('backend', `one of ${TFJS_BACKENDS.join(', ')}`, name);
  }
  // Production mode: no per-op debug checks, and no console banners from the backends.
  tf.enableProdMode();
  let provider: string | null = null;
  let threads = 1;
  let simd: boolean | null = null;
  switch (name) {
    case 'wasm': {
      const wasm = await withoutEmscriptenHandlers(async () => {
        const module = await import('@tensorflow/tfjs-backend-wasm');
        await activate(name);
        return module;
      });
      setNativeKernels(undefined);
      threads = wasm.getThreadsCount();
      simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      break;
    }
    case 'native': {
      const { addon, reason } = loadNative();
      if (addon === undefined) throw new BackendUnavailableError(name, reason);
      const sparse = sparseAddon(addon);
      const mode = sparse === undefined ? undefined : sparseMode(); // a bad value fails here, first
      await withoutEmscriptenHandlers(async () => {
        await import('@tensorflow/tfjs-backend-wasm');
        await activate(name);
      });
      setNativeKernels({
        ...nativeKernels(addon),
        ...(sparse === undefined ? {} : sparseKernels(sparse)),
        ...(sgdAddon(addon) === undefined ? {} : sgdKernels(sgdAddon(addon)!)),
      });
      threads = nativeThreads();
      addon.setThreads(threads);
      simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      // The sparse mode is part of the provider: in auto, a product's kernel is chosen by
      // measured time, which can change a run's last bits (engine/sparse.ts).
      provider = `cyclesparse native kernels (${addon.version()}${mode === undefined ? '' : `, sparse kernels ${mode}`}) on wasm`;
      break;
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      await activate(name);
      break;
    case 'tensorflow':
      provider = await loadTensorflow();
      await activate(name);
      break;
    case 'webgpu':
      provider = await loadWebgpu();
      await activate(name);
      break;
  }
  active = { name, tfjsVersion: tf.version_core, threads, simd, provider };
  return active;
}

let active: BackendInfo | undefined;

/** The backend {@link useBackend} last started, as results record it. */
export function activeBackend(): BackendInfo {
  if (active === undefined || tf.getBackend() !== engineName(active.name as TfjsBackendName)) {
    throw new Error(
      `no backend started by useBackend is active (TF.js has ${tf.getBackend()}): call useBackend first`,
    );
  }
  return active;
}

/** The TF.js backend a cyclesparse backend runs on: `native` is wasm with native kernels. */
export function engineName(name: TfjsBackendName): string {
  return name === 'native' ? 'wasm' : name;
}

/**
 * Threads of the native kernels (and of PyTorch on the CPU): CYCLESPARSE_THREADS, else the cores
 * not already busy (the sweep pool sets CYCLESPARSE_THREADS so parallel runs share the cores).
 */
export function nativeThreads(): number {
  const fromEnv = Number(process.env.CYCLESPARSE_THREADS);
  return Number.isSafeInteger(fromEnv) && fromEnv >= 1 ? fromEnv : idleCores();
}

/**
 * Cores the process may use less the busy ones, at least 1. Busy is the 1-minute load average
 * rounded: with every core's threads, a run on a machine already busy oversubscribes it, and
 * oneDNN's threads wait for the slowest one at every layer (epochs 2.1–16.6 s instead of ~1 s).
 * The load average is what the kernel has without sampling; it lags a minute behind a change
 * and reads 0 where the OS keeps none (Windows), which gives every core as before.
 */
export function idleCores(cores = os.availableParallelism(), load = os.loadavg()[0] ?? 0): number {
  return Math.max(1, Math.min(cores, cores - Math.round(load)));
}

/**
 * Runs `start` (which loads and instantiates a wasm module) and removes the process
 * 'uncaughtException' and 'unhandledRejection' listeners it added. Emscripten's Node glue installs
 * both to rethrow from inside the listener, which Node answers with exit code 7 and a stack in
 * tfjs-backend-wasm for any error of the user's own program. Without them an error exits 1 with
 * its own stack, as in any Node program; a wasm abort is a WebAssembly.RuntimeError thrown to the
 * caller like any other error, which these listeners never handled either.
 */
export async function withoutEmscriptenHandlers<T>(start: () => Promise<T>): Promise<T> {
  const exceptions = new Set(process.listeners('uncaughtException'));
  const rejections = new Set(process.listeners('unhandledRejection'));
  try {
    return await start();
  } finally {
    for (const listener of process.listeners('uncaughtException'))
      if (!exceptions.has(listener)) process.removeListener('uncaughtException', listener);
    for (const listener of process.listeners('unhandledRejection'))
      if (!rejections.has(listener)) process.removeListener('unhandledRejection', listener);
  }
}

async function activate(name: TfjsBackendName): Promise<void> {
  const engine = engineName(name);
  let ok = false;
  try {
    ok = await tf.setBackend(engine);
  } catch (error) {
    throw new BackendUnavailableError(name, `failed to start: ${(error as Error).message}`);
  }
  if (!ok) {
    throw new BackendUnavailableError(
      name,
      name === 'webgpu'
        ? 'no WebGPU adapter found (is there a GPU with a Vulkan driver?)'
        : 'failed to start',
    );
  }
  installKernels(engine);
}
