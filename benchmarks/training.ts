/**
 * Training-step benchmarks at batch 128: each (backend, model) in its own process
 * (`train-step.ts`), and the same models in PyTorch when Debian's python3-torch is installed
 * (`torch_step.py`, 1 and 2 threads), with the ratio cyclesparse / PyTorch.
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../src/engine/native.js';

export interface StepRow {
  readonly backend: string;
  readonly model: string;
  readonly batch: number;
  readonly medianMs: number;
  readonly imagesPerSecond: number;
  readonly peakRssMb: number;
  readonly maskShare: number;
}

interface Plan {
  readonly backend: 'wasm' | 'cpu' | 'native';
  readonly model: string;
  readonly stem?: 'cifar' | 'imagenet';
  readonly steps: number;
  /** Default {@link BATCH}. */
  readonly batch?: number;
  /** Minutes-long on this machine: left out by --skip-slow. */
  readonly slow?: boolean;
}

const PLAN: readonly Plan[] = [
  { backend: 'wasm', model: 'lenet-300-100', steps: 40 },
  { backend: 'wasm', model: 'lenet-5', steps: 20 },
  { backend: 'wasm', model: 'conv-4', steps: 4 },
  { backend: 'wasm', model: 'resnet-20', steps: 5 },
  { backend: 'wasm', model: 'vgg-16', steps: 3, slow: true },
  // ResNet-18 at batch 128 needs more than wasm's 4 GB heap (peak ≈ 4.1 GB): measured at 32.
  { backend: 'wasm', model: 'resnet-18', stem: 'cifar', steps: 3, batch: 32, slow: true },
  // The native kernels (when built), on every core: CYCLESPARSE_THREADS or all of them.
  { backend: 'native', model: 'lenet-300-100', steps: 40 },
  { backend: 'native', model: 'lenet-5', steps: 20 },
  { backend: 'native', model: 'conv-4', steps: 8 },
  { backend: 'native', model: 'resnet-20', steps: 8 },
  { backend: 'native', model: 'vgg-16', steps: 3, slow: true },
  { backend: 'native', model: 'resnet-18', stem: 'cifar', steps: 3, batch: 32, slow: true },
  { backend: 'cpu', model: 'lenet-300-100', steps: 10 },
  { backend: 'cpu', model: 'lenet-5', steps: 5 },
  { backend: 'cpu', model: 'resnet-20', steps: 2, batch: 32, slow: true },
];

const TORCH_MODELS = new Set(['lenet-300-100', 'lenet-5', 'conv-4', 'resnet-20']);
export const BATCH = 128;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs a benchmark process and parses the JSON line it prints last. */
export function runJson<T>(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): T {
  const result = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !line.startsWith('{')) {
    // tfjs-wasm prints its whole source on an uncaught error: keep only the end of stderr.
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}): ${result.stderr.slice(-800)}`,
    );
  }
  return JSON.parse(line) as T;
}

export function trainingSteps(options: { skipSlow: boolean }): StepRow[] {
  const native = loadNative().addon !== undefined;
  return PLAN.filter(
    (p) => !(options.skipSlow && p.slow) && (native || p.backend !== 'native'),
  ).map((p) =>
    runJson<StepRow>(process.execPath, [
      '--import',
      'tsx',
      here('./train-step.ts'),
      p.backend,
      p.model,
      p.stem ?? '-',
      String(p.batch ?? BATCH),
      String(p.steps),
    ]),
  );
}

/** True when Debian's python3 can import torch. */
export function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
}

export interface TorchRow {
  readonly model: string;
  readonly threads: number;
  readonly medianMs: number;
  readonly torch: string;
}

export function torchSteps(): TorchRow[] {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const rows: TorchRow[] = [];
  for (const model of TORCH_MODELS) {
    for (const threads of [1, 2]) {
      const steps = model === 'resnet-20' || model === 'conv-4' ? 10 : 40;
      rows.push(
        runJson<TorchRow>(
          '/usr/bin/python3',
          [here('./torch_step.py'), model, String(BATCH), String(steps), String(threads)],
          env,
        ),
      );
    }
  }
  return rows;
}
