/**
 * Pillow as a test oracle: Debian's Python, which has it (the pyenv `python3` on PATH does not).
 * Oracles in tests are Python programs run with it; they share no code with what they check.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

export const hasPillow =
  existsSync(PYTHON) &&
  (() => {
    try {
      execFileSync(PYTHON, ['-c', 'import PIL'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
