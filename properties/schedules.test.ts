import { test } from '@fast-check/vitest';
import { describe } from 'vitest';
import {
  budgetContract,
  checkLaw,
  cyclesparseSchedule,
  scheduleContract,
} from '../src/contracts/index.js';
import { splitBudget } from '../src/core/lr-schedule.js';

describe('scheduleContract(cyclesparse LrSchedule)', () => {
  for (const law of scheduleContract(cyclesparseSchedule)) test(law.name, () => checkLaw(law));
});

describe('budgetContract(splitBudget)', () => {
  for (const law of budgetContract(splitBudget)) test(law.name, () => checkLaw(law));
});
