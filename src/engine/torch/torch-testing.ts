/**
 * For tests: a Python that can import torch (CYCLESPARSE_PYTHON, Debian's /usr/bin/python3, or
 * python3 on the PATH), or undefined — then PyTorch-engine tests are skipped with the reason in
 * their name, unless CYCLESPARSE_TORCH_REQUIRED=1 (CI), which makes a missing torch an error.
 * Setting CYCLESPARSE_PYTHON here lets engines opened from configurations find the same Python.
 */

import { spawnSync } from 'node:child_process';
import { TorchEngine } from './engine.js';

function findTorchPython(): string | undefined {
  const candidates = [process.env.CYCLESPARSE_PYTHON, '/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    if (python === undefined) continue;
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  if (process.env.CYCLESPARSE_TORCH_REQUIRED === '1')
    throw new Error(
      'CYCLESPARSE_TORCH_REQUIRED=1 but no Python here imports torch (apt-get install python3-torch)',
    );
  return undefined;
}

export const TORCH_PYTHON = findTorchPython();
if (TORCH_PYTHON !== undefined) process.env.CYCLESPARSE_PYTHON = TORCH_PYTHON;

/** Why PyTorch-engine tests are skipped, for their names. */
export const TORCH_MISSING = 'needs a Python with torch (apt-get install python3-torch)';

/** A PyTorch engine on the CPU, one thread (tests run in parallel processes). */
export function openTorchCpu(): Promise<TorchEngine> {
  return TorchEngine.open({ device: 'cpu', python: TORCH_PYTHON!, threads: 1 });
}
