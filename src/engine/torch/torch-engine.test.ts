/**
 * The PyTorch engine: its wire format, its Python process's failures (missing Python, missing torch, no
 * CUDA, death, hangs, errors inside PyTorch), layouts, and each scorer's masks against the wasm
 * engine. Training itself is compared with wasm in properties/training.test.ts and every
 * pipeline runs on it in methods/pipelines.test.ts.
 */

import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.js';
import { Mask } from '../../core/mask.js';
import { prune } from '../../core/prune.js';
import { randomStream } from '../../core/random.js';
import { NORMALIZATIONS } from '../../data/batches.js';
import { subsetPerClass } from '../../data/dataset.js';
import { loadMnist } from '../../data/mnist.js';
import { initialValues } from '../../models/init.js';
import { prunableLayers } from '../../models/spec.js';
import { modelSpec } from '../../models/zoo.js';
import { magnitudeScores } from '../../prune/magnitude.js';
import { snipScores } from '../../prune/snip.js';
import { synflowScores } from '../../prune/synflow.js';
import { BackendUnavailableError, type Engine, type EngineModel } from '../engine.js';
import { TfjsEngine } from '../tfjs-engine.js';
import { TorchEngine, torchLayouts } from './engine.js';
import { encodeFrame, FrameReader } from './protocol.js';
import { openTorchCpu, TORCH_MISSING, TORCH_PYTHON } from './torch-testing.js';
import { TorchProcess, TorchProcessError } from './python-process.js';

describe('wire format', () => {
  test('frames survive any split into chunks, every dtype, misaligned tensors included', () => {
    const tensors = [
      { name: 'bytes', data: Uint8Array.from([1, 2, 3]), shape: [3] },
      { name: 'floats', data: Float32Array.from([0.5, -0, Infinity, NaN]), shape: [2, 2] },
      { name: 'doubles', data: Float64Array.from([Math.PI]), shape: [1] },
      { name: 'shorts', data: Int16Array.from([-4, 4]), shape: [2] },
      { name: 'ints', data: Int32Array.from([-1, 2 ** 31 - 1]), shape: [2] },
      { name: 'empty', data: new Float32Array(0), shape: [0, 3] },
    ];
    const bytes = Buffer.concat([
      ...encodeFrame({ id: 1, note: 'é' }, tensors),
      ...encodeFrame({ id: 2 }),
    ]);
    for (const chunk of [1, 3, 7, bytes.length]) {
      const reader = new FrameReader();
      const frames = [];
      for (let at = 0; at < bytes.length; at += chunk)
        frames.push(...reader.push(bytes.subarray(at, at + chunk)));
      expect(frames.map((f) => f.header.id)).toEqual([1, 2]);
      expect(frames[0]!.header.note).toBe('é');
      for (const t of tensors) {
        const got = frames[0]!.tensors.get(t.name)!;
        expect(got.shape).toEqual(t.shape);
        expect(got.data.constructor).toBe(t.data.constructor);
        expect(Array.from(got.data)).toEqual(Array.from(t.data));
      }
    }
  });
  test('refuses a tensor whose shape does not match its values', () => {
    expect(() =>
      encodeFrame({}, [{ name: 'x', data: new Float32Array(3), shape: [2, 2] }]),
    ).toThrow(/tensor x: shape 2×2 for 3 values/);
  });
});

describe('layouts', () => {
  test('conv kernels are hwio, dense weights io, and a dense layer after a spatial flatten says its map', () => {
    const layouts = new Map(torchLayouts(modelSpec('lenet-5')));
    expect(layouts.get('conv1.weight')).toEqual(['hwio']);
    expect(layouts.get('fc1.weight')).toEqual(['io-hwc', 5, 5, 16]);
    expect(layouts.get('fc2.weight')).toEqual(['io']);
    // LeNet-300-100 flattens the 28×28×1 image itself.
    expect(new Map(torchLayouts(modelSpec('lenet-300-100'))).get('fc1.weight')).toEqual([
      'io-hwc',
      28,
      28,
      1,
    ]);
    // ResNets pool globally first: a plain dense layer.
    expect(new Map(torchLayouts(modelSpec('resnet-20'))).get('fc.weight')).toEqual(['io']);
  });
});

/** A directory holding a `python3` stand-in made of a shell script. */
function fakePython(script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-python-'));
  const file = join(dir, 'python3');
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('starting the PyTorch process', () => {
  test('a Python that does not exist is named, with what to do', async () => {
    await expect(
      TorchEngine.open({ device: 'cpu', python: '/nonexistent/python3' }),
    ).rejects.toThrow(
      /^backend torch: \/nonexistent\/python3 not found: install Python 3 with PyTorch, or set CYCLESPARSE_PYTHON/,
    );
  });
  test('a device outside cpu, cuda, cuda:N, mps is refused before anything starts', async () => {
    await expect(TorchEngine.open({ device: 'gpu0' })).rejects.toThrow(
      /^training\.device: expected cpu, cuda, cuda:N or mps, got "gpu0"/,
    );
  });
  test('a process that answers nothing is killed as hung after the timeout, with its stderr', async () => {
    const python = fakePython('echo "warming up" >&2; sleep 30');
    const started = performance.now();
    const error = await TorchEngine.open({ device: 'cpu', python, timeoutSeconds: 1 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TorchProcessError);
    expect((error as Error).message).toMatch(
      /sent nothing for 1 s during hello: killed as hung \(CYCLESPARSE_TORCH_TIMEOUT sets the limit\); its stderr ends:\nwarming up/,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
  });
  test('a process that exits says how, with its stderr', async () => {
    const python = fakePython('echo "Segmentation fault" >&2; exit 139');
    await expect(TorchEngine.open({ device: 'cpu', python })).rejects.toThrow(
      /PyTorch worker \(.*python3\) exited with code 139; its stderr ends:\nSegmentation fault/,
    );
  });
});

describe.runIf(TORCH_PYTHON !== undefined)('the PyTorch process with torch', () => {
  let torch: TorchEngine;
  let wasm: Engine;
  beforeAll(async () => {
    torch = await openTorchCpu();
    wasm = await TfjsEngine.open('wasm');
  });
  afterAll(() => torch.close());

  test('records the device, versions and precision it computes with', () => {
    expect(torch.info).toMatchObject({
      name: 'torch',
      tfjsVersion: null,
      threads: 1,
      torch: { device: 'cpu', precision: 'fp32', deterministic: false, python: TORCH_PYTHON },
    });
    expect(torch.info.torch!.torchVersion).toMatch(/^\d+\.\d+/);
  });

  test('a Python without torch is named, with what to install', async () => {
    // A `torch` package that fails to import stands in for a missing one.
    const dir = mkdtempSync(join(tmpdir(), 'no-torch-'));
    mkdirSync(join(dir, 'torch'));
    writeFileSync(
      join(dir, 'torch', '__init__.py'),
      'raise ImportError("No module named torch")\n',
    );
    const python = fakePython(`PYTHONPATH=${dir} exec ${TORCH_PYTHON} "$@"`);
    const error = await TorchEngine.open({ device: 'cpu', python }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(
      /^backend torch: .*python3 \(.*\) cannot import torch \(ImportError: No module named torch\): install PyTorch \(pip install torch, or Debian's python3-torch\), or set CYCLESPARSE_PYTHON/,
    );
  });

  test('CUDA asked for where PyTorch has none is refused, naming training.device', async () => {
    const probe = await TorchEngine.open({ device: 'cuda', python: TORCH_PYTHON! }).catch(
      (e: unknown) => e,
    );
    if (probe instanceof TorchEngine) {
      probe.close(); // a GPU machine: nothing to refuse
      return;
    }
    expect(probe).toBeInstanceOf(InvalidArgumentError);
    expect((probe as Error).message).toMatch(
      /^training\.device: expected cpu \(this PyTorch .* sees no CUDA device: .*\), got "cuda"/,
    );
  });

  test('an error inside PyTorch is a runtime failure with its traceback; the process goes on', async () => {
    const spec = modelSpec('lenet-300-100');
    const model = await torch.model(spec, initialValues(spec, 0));
    const error = await torch.process
      .request('model.evaluate', { model: 999, data: 'none', batchSize: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/^model: expected a live model, got "999"/);
    const data = subsetPerClass(loadMnist('test'), 2, randomStream(0, 'subset'));
    await model.evaluate(data, NORMALIZATIONS.mnist, 4); // sends the data set
    const key = await torch.dataKey(data, NORMALIZATIONS.mnist);
    const runtime = await torch.process
      .request('model.evaluate', { model: model.id, data: key, batchSize: 0 })
      .catch((e: unknown) => e);
    expect(runtime).toBeInstanceOf(TorchProcessError);
    expect((runtime as Error).message).toMatch(
      /^PyTorch worker failed in model\.evaluate: ValueError: .*\nTraceback/s,
    );
    // Still serving.
    expect((await model.evaluate(data, NORMALIZATIONS.mnist, 4)).count).toBe(20);
    await model.dispose();
  });

  test('a process killed mid-epoch fails the request with how it died, never a silent result', async () => {
    const engine = await openTorchCpu();
    const spec = modelSpec('lenet-300-100');
    const model = await engine.model(spec, initialValues(spec, 0));
    const data = loadMnist('test');
    const pending = model.evaluate(data, NORMALIZATIONS.mnist, 10);
    setTimeout(() => engine.process.kill(), 50);
    await expect(pending).rejects.toThrow(/PyTorch worker \(.*\) was killed by SIGKILL/);
    expect(engine.process.alive).toBe(false);
    await expect(model.read()).rejects.toThrow(/was killed by SIGKILL/);
  });

  test('each scorer gives the same scores as on wasm, and masks that differ only at near-ties', async () => {
    const spec = modelSpec('lenet-5');
    const values = initialValues(spec, 3);
    const layers = prunableLayers(spec);
    const data = subsetPerClass(loadMnist('train'), 10, randomStream(0, 'subset'));
    const batch = {
      dataset: data,
      normalization: NORMALIZATIONS.mnist,
      indices: randomStream(3, 'batch').permutation(data.count).subarray(0, 64),
      augmentation: null,
    };
    const start = prune(Mask.dense(layers), magnitudeScores(values, Mask.dense(layers)), {
      sparsity: 0.5,
      scope: 'global',
    });
    const scorer =
      (score: (model: EngineModel) => Promise<Record<string, Float32Array>>) =>
      async (engine: Engine) => {
        const model = await engine.model(spec, values);
        await model.setMask(start);
        try {
          return await score(model);
        } finally {
          await model.dispose();
        }
      };
    const scorers = {
      magnitude: scorer(async (model) => magnitudeScores(await model.read(), start)),
      snip: scorer((model) => snipScores(model, start, batch)),
      synflow: scorer((model) => synflowScores(model, start)),
    };
    for (const [name, score] of Object.entries(scorers)) {
      const [a, b] = [await score(wasm), await score(torch)];
      const maskA = prune(start, a, { sparsity: 0.9, scope: 'global' });
      const maskB = prune(start, b, { sparsity: 0.9, scope: 'global' });
      for (const layer of layers) {
        const sa = a[layer.name]!;
        const sb = b[layer.name]!;
        const scale = Math.max(...Array.from(sa, Math.abs));
        sa.forEach((v, i) => {
          if (Math.abs(sb[i]! - v) > 1e-4 * scale)
            throw new Error(`${name} ${layer.name}[${i}]: torch ${sb[i]}, wasm ${v}`);
        });
        // Where the masks differ, the two scores sit within float tolerance of each other
        // around the threshold: a near-tie, not a different ranking.
        const ka = maskA.toArray(layer.name);
        const kb = maskB.toArray(layer.name);
        ka.forEach((bit, i) => {
          if (bit !== kb[i] && Math.abs(sb[i]! - sa[i]!) > 1e-4 * scale)
            throw new Error(`${name} ${layer.name}[${i}] kept on one engine only`);
        });
      }
      let differ = 0;
      for (const l of layers) {
        const kb = maskB.toArray(l.name);
        maskA.toArray(l.name).forEach((bit, i) => (differ += bit === kb[i] ? 0 : 1));
      }
      expect(differ).toBeLessThanOrEqual(2);
    }
  });
});

test.skipIf(TORCH_PYTHON !== undefined)(
  `PyTorch engine tests ${TORCH_MISSING} (skipped)`,
  () => {},
);

describe('the PyTorch process', () => {
  test('ends with its parent: a process whose stdin closes exits', async () => {
    const torch = new TorchProcess({ python: fakePython('cat > /dev/null; exit 0') });
    torch.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await expect(torch.request('hello')).rejects.toThrow(/closed|exited/);
  });
});
