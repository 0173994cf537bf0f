/**
 * Opening the engine a configuration names. TF.js backends are one engine with one active
 * backend per process; PyTorch engines are Python processes, one per (device, precision), kept
 * for the life of the process so consecutive runs (a sweep's cells in a pool process) reuse the
 * process and the data already on the device.
 */

import { activeBackend } from './backend.js';
import type { BackendName, Engine, Precision } from './engine.js';
import { TfjsEngine } from './tfjs-engine.js';
import { TorchEngine } from './torch/engine.js';

export interface EngineChoice {
  readonly backend: BackendName;
  /** PyTorch engine only (default cuda). */
  readonly device?: string | undefined;
  /** PyTorch engine only (default fp32). */
  readonly precision?: Precision | undefined;
}

const torchEngines = new Map<string, Promise<TorchEngine>>();

function activeTfjs(): string | undefined {
  try {
    return activeBackend().name;
  } catch {
    return undefined;
  }
}

/** The engine for `choice`: started the first time, reused after. */
export async function openEngine(choice: EngineChoice): Promise<Engine> {
  if (choice.backend !== 'torch') {
    const backend = choice.backend;
    return activeTfjs() === backend ? TfjsEngine.active() : TfjsEngine.open(backend);
  }
  const device = choice.device ?? 'cuda';
  const precision = choice.precision ?? 'fp32';
  const key = `${device}:${precision}`;
  let engine = torchEngines.get(key);
  if (engine === undefined) {
    engine = TorchEngine.open({ device, precision });
    torchEngines.set(key, engine);
    // A failed start is not kept: the next call tries again (and says why again).
    engine.catch(() => torchEngines.delete(key));
  }
  const opened = await engine;
  if (opened.process.alive) return opened;
  torchEngines.delete(key); // it died (a failed run): a fresh process for what comes next
  return openEngine(choice);
}

/** Ends every PyTorch process this process started (tests; long-lived processes that are done). */
export async function closeEngines(): Promise<void> {
  const engines = [...torchEngines.values()];
  torchEngines.clear();
  for (const engine of engines) (await engine.catch(() => undefined))?.close();
}
