import { InvalidArgumentError } from '@commander-js/extra-typings';
import { describe, expect, test } from 'vitest';
import { parseAlpha } from './shared.js';

describe('--alpha', () => {
  test('a level in (0, 0.5) is read; others are refused saying what is allowed', () => {
    expect(parseAlpha('0.05')).toBe(0.05);
    expect(parseAlpha('0.49')).toBe(0.49);
    for (const text of ['0.5', '0.9', '1', '0', '-0.05', '', ' ', 'x'])
      expect(() => parseAlpha(text), JSON.stringify(text)).toThrow(InvalidArgumentError);
    expect(() => parseAlpha('0.5')).toThrow(/expected a level in \(0, 0\.5\), such as 0\.05/);
  });
});
