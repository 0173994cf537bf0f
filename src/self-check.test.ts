import { describe, expect, test } from 'vitest';
import { runSelfCheck } from './self-check.js';

describe('runSelfCheck', () => {
  test.each([0, 0.59, 0.9, 0.999])('passes every check on ResNet-20 at sparsity %s', (sparsity) => {
    const report = runSelfCheck({ model: 'resnet-20', sparsity, seed: 1 });
    expect(report.weights).toBe(270_896);
    expect(report.checks.filter((c) => c.state === 'failed')).toEqual([]);
    expect(report.checks).toHaveLength(8);
    expect(report.passed).toBe(true);
  });
  test('names bad options', () => {
    expect(() => runSelfCheck({ model: 'vgg' as never, sparsity: 0.9, seed: 0 })).toThrow(
      /^model: expected one of lenet-300-100/,
    );
    expect(() => runSelfCheck({ model: 'resnet-20', sparsity: 1, seed: 0 })).toThrow(/^sparsity:/);
    expect(() => runSelfCheck({ model: 'resnet-20', sparsity: 0.5, seed: -2 })).toThrow(/^seed:/);
  });
});
