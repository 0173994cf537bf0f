/**
 * The fused native SGD update (native/optimizer.cc) against MaskedSgd's TF.js kernels on wasm:
 * parameters and momentum bit for bit (Object.is, so ±0 too) over several steps, with and without
 * a mask, momentum, Nesterov and weight decay. Skipped where the addon is not built.
 */

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { Mask } from '../core/mask.js';
import { prunableLayers } from '../models/spec.js';
import { modelSpec } from '../models/zoo.js';
import { useBackend } from './backend.js';
import type { SgdOptions } from './engine.js';
import { values } from './kernel-testing.js';
import { BATCH_NORM_TRAIN, loadNative } from './native.js';
import { SPARSE_CONV } from './sparse.js';
import { Network } from './network.js';
import { MaskedSgd } from './sgd.js';
import { SGD_STEP, sgdAddon } from './sgd-kernel.js';

const addon = sgdAddon(loadNative().addon);
// LeNet-300-100: its first layer (235,200 weights) takes the kernel's multithreaded path.
const spec = modelSpec('lenet-300-100');

async function train(
  backend: 'wasm' | 'native',
  options: SgdOptions,
  masked: boolean,
): Promise<{ params: Float32Array[]; momentum: Float32Array[] }> {
  await useBackend(backend);
  expect(tf.getKernel(SGD_STEP, tf.getBackend()) !== undefined).toBe(backend === 'native');
  const network = Network.initialize(spec, 3);
  const sgd = new MaskedSgd(network, options);
  if (masked) {
    const layers = prunableLayers(spec);
    const bits = (size: number, seed: number) =>
      Array.from(values(size, seed), (v) => (v > 0 ? 1 : 0));
    sgd.setMask(
      Mask.fromArrays(
        layers,
        Object.fromEntries(
          layers.map((l, i) => [
            l.name,
            bits(
              l.shape.reduce((a, b) => a * b, 1),
              i + 1,
            ),
          ]),
        ),
      ),
    );
  }
  const names = [...network.params.keys()];
  for (const [step, lr] of [0.1, 0.05, 0.3].entries()) {
    const grads = Object.fromEntries(
      names.map((name, i) => {
        const p = network.params.get(name)!;
        return [name, tf.tensor(values(p.size, 100 * step + i + 7), p.shape)];
      }),
    );
    const tensors = tf.memory().numTensors;
    sgd.step(grads, lr);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose(Object.values(grads));
  }
  const params = await network.read();
  const momentum = await sgd.read();
  const out = {
    params: names.map((n) => params.get(n)!),
    momentum: names.map((n) => momentum.get(n)!),
  };
  sgd.dispose();
  network.dispose();
  await useBackend('wasm');
  return out;
}

describe.skipIf(addon === undefined)('fused SGD update', () => {
  test.each([
    [{ momentum: 0.9, nesterov: false, weightDecay: 1e-4 }, true],
    [{ momentum: 0.9, nesterov: true, weightDecay: 5e-4 }, true],
    [{ momentum: 0.9, nesterov: false, weightDecay: 1e-4 }, false],
    [{ momentum: 0, nesterov: false, weightDecay: 0 }, true],
    [{ momentum: 0.5, nesterov: false, weightDecay: 0 }, false],
  ] as const)(
    '%o, masked %s: parameters and momentum equal the TF.js kernels bit for bit',
    async (options, masked) => {
      const reference = await train('wasm', options, masked);
      const fused = await train('native', options, masked);
      for (const kind of ['params', 'momentum'] as const)
        reference[kind].forEach((expected, n) => {
          const got = fused[kind][n]!;
          const first = expected.findIndex((v, i) => !Object.is(v, got[i]));
          expect(first, `${kind}[${n}] at ${first}: ${expected[first]} vs ${got[first]}`).toBe(-1);
        });
    },
  );

  test('native-only kernels leave with the native backend (wasm after native runs TF.js only)', async () => {
    // Twice: the second start must not take the first one's kernels for TF.js's own.
    await useBackend('native');
    await useBackend('native');
    for (const name of [SGD_STEP, SPARSE_CONV, BATCH_NORM_TRAIN])
      expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
    await useBackend('wasm');
    for (const name of [SGD_STEP, SPARSE_CONV, BATCH_NORM_TRAIN])
      expect(tf.getKernel(name, 'wasm'), name).toBeUndefined();
  });

  test('bad operands are refused with the reason', async () => {
    await useBackend('native');
    try {
      const run = (inputs: tf.NamedTensorMap, momentum: number) =>
        tf.engine().runKernel(SGD_STEP, inputs, {
          learningRate: 0.1,
          momentum,
          weightDecay: 0,
          nesterov: false,
        });
      expect(() => run({ param: tf.ones([4]), gradient: tf.ones([3]) }, 0)).toThrow(
        /every input has the parameter's 4 values/,
      );
      expect(() => run({ param: tf.ones([4]), gradient: tf.ones([4]) }, 0.9)).toThrow(
        /momentum buffer/,
      );
    } finally {
      await useBackend('wasm');
    }
  });
});
