import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { Mask } from '../core/mask.js';
import type { ModelSpec } from '../models/spec.js';
import { prunableLayers } from '../models/spec.js';
import { activeBackend, installedPackageVersion, useBackend } from './backend.js';
import { BackendUnavailableError } from './engine.js';
import { BATCH_NORM_EPSILON, Network } from './network.js';
import { MaskedSgd } from './sgd.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('useBackend', () => {
  test('wasm: one thread in Node, SIMD, TF.js 4.22.0', async () => {
    expect(await useBackend('wasm')).toEqual({
      name: 'wasm',
      tfjsVersion: '4.22.0',
      threads: 1,
      simd: true,
      provider: null,
    });
    expect(tf.getBackend()).toBe('wasm');
  });
  test('activeBackend reports what useBackend started, and refuses a backend switched behind it', async () => {
    expect(activeBackend().name).toBe('wasm');
    await tf.setBackend('cpu');
    expect(() => activeBackend()).toThrow(
      /no backend started by useBackend is active \(TF\.js has cpu\)/,
    );
    await useBackend('wasm');
  });
  test('cpu works everywhere', async () => {
    expect((await useBackend('cpu')).name).toBe('cpu');
    await useBackend('wasm');
  });
  test('optional GPU backends that are not installed say what to install', async () => {
    await expect(useBackend('tensorflow')).rejects.toThrow(BackendUnavailableError);
    await expect(useBackend('tensorflow')).rejects.toThrow(
      /backend tensorflow: not installed\. Install @tensorflow\/tfjs-node-gpu@4\.22\.0 \(CUDA\) or @tensorflow\/tfjs-node@4\.22\.0/,
    );
    await expect(useBackend('webgpu')).rejects.toThrow(
      /backend webgpu: not installed\. Install webgpu and @tensorflow\/tfjs-backend-webgpu@4\.22\.0/,
    );
    await expect(useBackend('webgl' as never)).rejects.toThrow(
      /^backend: expected one of wasm, native, cpu, tensorflow, webgpu, got "webgl"/,
    );
    expect(tf.getBackend()).toBe('wasm');
  });
  test("reads an installed package's version from its package.json (how optional backends are recorded)", () => {
    // A bare import('<pkg>/package.json') fails in Node without a JSON import attribute, and is
    // refused by packages whose exports do not list it; this lookup needs neither.
    expect(installedPackageVersion('@tensorflow/tfjs-core')).toBe(tf.version_core);
    expect(installedPackageVersion('@tensorflow/tfjs-backend-wasm')).toBe('4.22.0');
    expect(installedPackageVersion('no-such-package-here')).toBeNull();
  });
});

/** 2 inputs → 3 outputs, one dense layer with bias: small enough to check SGD by hand. */
const linear: ModelSpec = {
  name: 'linear',
  input: [1, 1, 2],
  classes: 3,
  nodes: [{ op: 'flatten' }, { op: 'dense', name: 'fc', in: 2, out: 3, bias: true }],
};

function values(network: Network, name: string): number[] {
  return Array.from(network.param(name).dataSync());
}

describe('MaskedSgd follows torch.optim.SGD', () => {
  const grads = (w: number[], b: number[]) => ({
    'fc.weight': tf.tensor(w, [2, 3]),
    'fc.bias': tf.tensor(b, [3]),
  });
  const g1 = [0.5, -1, 0.25, 2, 0, -0.5];
  const g2 = [1, 1, -1, 0.5, 0.25, 0];

  test.each([
    { momentum: 0.9, nesterov: false, weightDecay: 0.01 },
    { momentum: 0.9, nesterov: true, weightDecay: 0.001 },
    { momentum: 0, nesterov: false, weightDecay: 0 },
  ])('two steps with %o match the formula in float64', (options) => {
    const network = Network.initialize(linear, 0);
    const sgd = new MaskedSgd(network, options);
    let w = values(network, 'fc.weight');
    let buffer = new Array<number>(6).fill(0);
    for (const [g, lr] of [
      [g1, 0.1],
      [g2, 0.05],
    ] as const) {
      const step = grads(g, [0, 0, 0]);
      sgd.step(step, lr);
      tf.dispose(Object.values(step));
      const d = g.map((gi, i) => gi + options.weightDecay * w[i]!);
      buffer = buffer.map((bi, i) => options.momentum * bi + d[i]!);
      const direction = options.nesterov
        ? d.map((di, i) => di + options.momentum * buffer[i]!)
        : options.momentum === 0
          ? d
          : buffer;
      w = w.map((wi, i) => wi - lr * direction[i]!);
    }
    values(network, 'fc.weight').forEach((v, i) => expect(v).toBeCloseTo(w[i]!, 6));
    sgd.dispose();
    network.dispose();
  });

  test('a mask zeroes pruned weights and momentum, and no step revives them', () => {
    const network = Network.initialize(linear, 0);
    const sgd = new MaskedSgd(network, { momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    sgd.step(grads(g1, [1, 1, 1]), 0.1); // momentum everywhere first
    const mask = Mask.fromArrays(prunableLayers(linear), { fc: [1, 0, 1, 0, 1, 1] });
    sgd.setMask(mask);
    for (let i = 0; i < 5; i++) sgd.step(grads(g2, [1, 1, 1]), 0.1);
    const weight = values(network, 'fc.weight');
    const momentum = Array.from(sgd.momentum.get('fc.weight')!.dataSync());
    // Exactly zero (a pruned negative weight may be −0, which is 0).
    expect([weight[1], weight[3], momentum[1], momentum[3]].every((v) => v === 0)).toBe(true);
    expect(weight.filter((v) => v === 0)).toHaveLength(2);
    expect(() => sgd.setMask(Mask.dense([{ name: 'fc', shape: [3, 2] }]))).toThrow(
      /^mask\.fc: expected a prunable layer of linear with its weight's shape/,
    );
  });

  test('names bad options', () => {
    const network = Network.initialize(linear, 0);
    expect(() => new MaskedSgd(network, { momentum: 1, nesterov: false, weightDecay: 0 })).toThrow(
      /^momentum:/,
    );
    expect(() => new MaskedSgd(network, { momentum: 0, nesterov: true, weightDecay: 0 })).toThrow(
      /^nesterov: expected false when momentum is 0/,
    );
    expect(() => new MaskedSgd(network).step({}, 0.1)).toThrow(
      /^grads\.fc\.weight: expected a gradient for every parameter/,
    );
  });
});

describe('training-mode BatchNorm', () => {
  const spec: ModelSpec = {
    name: 'bn',
    input: [3, 3, 2],
    classes: 2,
    nodes: [
      { op: 'bn', name: 'bn', channels: 2 },
      { op: 'flatten' },
      { op: 'dense', name: 'fc', in: 18, out: 2, bias: false },
    ],
  };
  test('its closed-form gradient equals autodiff of the textbook formula', () => {
    const network = Network.initialize(spec, 1);
    const gamma = network.param('bn.gamma');
    gamma.assign(tf.tensor([1.5, -0.5]));
    const x = tf.randomNormal<tf.Rank.R4>([4, 3, 3, 2], 1, 2, 'float32', 7);
    const weight = network.param('fc.weight');
    const loss = (y: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.reshape(y, [4, 18]), weight)));
    const ours = tf.grads((input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      void g;
      void b;
      const result = network.forward(input as tf.Tensor4D, 'train');
      result.statistics.forEach((s) => tf.dispose([s.mean, s.variance]));
      return tf.sum(tf.square(result.logits));
    })([x, gamma, network.param('bn.beta')]);
    const textbook = tf.grads((input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      return loss(
        tf.add(
          tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, BATCH_NORM_EPSILON))), g),
          b,
        ),
      );
    })([x, gamma, network.param('bn.beta')]);
    ours.forEach((g, i) => {
      const a = g.dataSync();
      const b = textbook[i]!.dataSync();
      const scale = Math.max(...Array.from(b, Math.abs));
      a.forEach((v, j) => expect(Math.abs(v - b[j]!) / scale).toBeLessThan(1e-4));
    });
  });
  test('running statistics move by momentum 0.1 towards the batch mean and unbiased variance', () => {
    const network = Network.initialize(spec, 1);
    const x = tf.tensor4d(
      Float32Array.from({ length: 36 }, (_, i) => i),
      [2, 3, 3, 2],
    );
    const { statistics, logits } = network.forward(x, 'train');
    logits.dispose();
    network.updateRunningStatistics(statistics);
    const even = Array.from({ length: 18 }, (_, i) => 2 * i); // channel 0 values
    const mean = even.reduce((a, b) => a + b) / 18;
    const unbiased = even.reduce((a, b) => a + (b - mean) ** 2, 0) / 17;
    expect(network.buffers.get('bn.mean')!.dataSync()[0]).toBeCloseTo(0.1 * mean, 4);
    expect(network.buffers.get('bn.variance')!.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * unbiased, 3);
  });
  test('eval mode uses the running statistics', () => {
    const network = Network.initialize(spec, 1);
    const x = tf.ones<tf.Rank.R4>([1, 3, 3, 2]);
    // Running mean 0, variance 1, gamma 1, beta 0: eval-mode BN is x / √(1 + ε).
    const direct = tf.matMul(
      tf.reshape(tf.div(x, Math.sqrt(1 + BATCH_NORM_EPSILON)), [1, 18]),
      network.param('fc.weight'),
    );
    const { logits } = network.forward(x, 'eval');
    Array.from(logits.dataSync()).forEach((v, i) =>
      expect(v).toBeCloseTo(direct.dataSync()[i]!, 5),
    );
    expect(() => network.forward(tf.ones<tf.Rank.R4>([1, 4, 4, 2]), 'eval')).toThrow(
      /^images: expected a batch of 3×3×2 images, got \[1,4,4,2\]/,
    );
  });
});

describe('Network', () => {
  test('initialises Kaiming-normal weights (std √(2/fan_in)), zero biases, unit BN scale', () => {
    const spec: ModelSpec = {
      name: 'wide',
      input: [1, 1, 400],
      classes: 200,
      nodes: [{ op: 'flatten' }, { op: 'dense', name: 'fc', in: 400, out: 200, bias: true }],
    };
    const network = Network.initialize(spec, 3);
    const w = values(network, 'fc.weight');
    const std = Math.sqrt(w.reduce((a, b) => a + b * b, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / 400), 3);
    expect(new Set(values(network, 'fc.bias'))).toEqual(new Set([0]));
    expect(values(Network.initialize(spec, 3), 'fc.weight')).toEqual(w);
    expect(values(Network.initialize(spec, 4), 'fc.weight')).not.toEqual(w);
  });
  test('refuses to run on a backend other than the one it was built on', async () => {
    const network = Network.initialize(linear, 0);
    await useBackend('cpu');
    try {
      expect(() => network.forward(tf.ones<tf.Rank.R4>([1, 1, 1, 2]), 'eval')).toThrow(
        /network was built on backend wasm, but cpu is active/,
      );
    } finally {
      await useBackend('wasm');
    }
  });
});
