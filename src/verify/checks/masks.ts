/** `masks`: every level has a 0/1 mask for every prunable tensor, with the first level's shapes. */

import { readMasks, type AdmitMasks } from '../artifact.js';
import type { Check, CheckRun } from './check.js';

/** Unlike the other checks it sees every level: it decides which levels the others see. */
export interface MaskGate extends CheckRun {
  readonly admit: AdmitMasks;
}

export const masks: Check<'masks', MaskGate> = {
  id: 'masks',
  title: 'binary masks with the expected names and shapes',
  needs: () => 'no masks',
  start: ({ manifest, layers, total }, tally) => ({
    admit(tensors, file, index) {
      tally.checked++;
      const read = readMasks(tensors, file, layers, index);
      if ('masks' in read) return read.masks;
      tally.fail(read.fault.detail, read.fault.where);
      return undefined;
    },
    passDetail: () =>
      `${manifest.levels.length} level(s), ${layers.length} prunable tensors, ${total} weights`,
  }),
};
