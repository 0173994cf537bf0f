/**
 * `npm run bench:gpu [-- options]`: what cyclesparse does on a GPU, measured side by side in one
 * run, written to `reports/benchmarks/gpu.json`:
 *
 *   1. the machine: Node, the PyTorch engine's device and versions, the WebGPU adapter;
 *   2. a 10-step trace (ResNet-20, batch 32, crop + flip) of each GPU engine against the CPU
 *      reference (wasm), same init, data order and augmentation: the losses and their largest
 *      relative difference;
 *   3. step times of LeNet-300-100, LeNet-5, Conv-4 and ResNet-20 at batch 128 and 512 for the
 *      PyTorch engine, raw PyTorch (benchmarks/torch_step.py on the same device) and webgpu, with
 *      the ratio engine ÷ raw PyTorch;
 *   4. a whole epoch of ResNet-20 at batch 128 (50,000 CIFAR-sized images, crop + flip): the
 *      engine's throughput against a raw PyTorch training loop's;
 *   5. a short real-data run: ResNet-20 on the CIFAR-10 subset (3,000 training and 1,000 held-out
 *      images), dense, a few epochs, with test accuracy and time per epoch.
 *
 * Plain JavaScript over the built package (`dist/`), so it runs where only Node and a Python with
 * torch are installed (scripts/gpu-payload.sh packs both; see docs/PERFORMANCE.md). Anything that
 * cannot run (no CUDA, no WebGPU adapter, no data) is recorded with the reason, never skipped
 * silently.
 *
 *   --device cuda          PyTorch device (cuda, cuda:N, cpu to try the script on a CPU)
 *   --engines torch,webgpu --models lenet-300-100,lenet-5,conv-4,resnet-20  --batches 128,512
 *   --data-dir DIR         the CIFAR-10 subset (default ../shared/data/cifar10-subset if present)
 *   --epochs 3             epochs of the real-data run
 *   --quick                fewer steps and a 10,000-image epoch (a smoke test of the script)
 *   --out reports/benchmarks/gpu.json
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const load = (module) => import(new URL(`../dist/${module}`, import.meta.url).href);
if (!existsSync(here('../dist/index.js'))) {
  console.error('bench:gpu runs the built package: npm run build first (npm run bench:gpu does)');
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    engines: { type: 'string', default: 'torch,webgpu' },
    models: { type: 'string', default: 'lenet-300-100,lenet-5,conv-4,resnet-20' },
    batches: { type: 'string', default: '128,512' },
    'data-dir': { type: 'string' },
    epochs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'reports/benchmarks/gpu.json' },
  },
});

const { TorchEngine } = await load('engine/torch/engine.js');
const { TfjsEngine } = await load('engine/tfjs-engine.js');
const { defaultPython } = await load('engine/torch/python-process.js');
const { Trainer } = await load('train/trainer.js');
const { LrSchedule, CONSTANT, CIFAR_STEP_WARMUP } = await load('core/lr-schedule.js');
const { randomStream } = await load('core/random.js');
const { syntheticDataset, splitValidation } = await load('data/dataset.js');
const { CIFAR_AUGMENTATION, NO_AUGMENTATION, NORMALIZATIONS } = await load('data/batches.js');
const { loadCifar10File } = await load('data/cifar.js');
const { initialValues } = await load('models/init.js');
const { modelSpec } = await load('models/zoo.js');
const { runPipeline } = await load('methods/runner.js');
const methods = await load('methods/pipelines.js');

const quick = values.quick;
const device = values.device;
const engines = new Set(values.engines.split(','));
const models = values.models.split(',');
const batches = values.batches.split(',').map(Number);
const log = (line) => process.stderr.write(`${line}\n`);
const reasonOf = (error) =>
  String(error?.message ?? error)
    .split('\n')
    .slice(0, 3)
    .join(' ');

// 1. The machine and the engines ---------------------------------------------------------------

const report = {
  date: new Date().toISOString(),
  settings: { device, engines: [...engines], models, batches, quick },
  machine: {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    python: defaultPython(),
  },
  engines: {},
  trace: null,
  steps: [],
  epoch: null,
  realData: null,
};

let torch;
if (engines.has('torch')) {
  try {
    torch = await TorchEngine.open({ device, python: defaultPython() });
    report.engines.torch = torch.info;
    log(`torch: ${torch.info.torch.deviceName}, PyTorch ${torch.info.torch.torchVersion}`);
  } catch (error) {
    report.engines.torch = { unavailable: reasonOf(error) };
    log(`torch on ${device}: unavailable (${reasonOf(error)})`);
  }
}

/** webgpu is a TF.js backend: one active at a time, so it is started when it is measured. */
async function openWebgpu() {
  const tf = await import('@tensorflow/tfjs-core');
  const engine = await TfjsEngine.open('webgpu');
  const adapter = tf.backend().adapterInfo;
  return { engine, adapter: adapter === undefined ? null : { ...adapter } };
}
if (engines.has('webgpu')) {
  try {
    const { engine, adapter } = await openWebgpu();
    report.engines.webgpu = { ...engine.info, adapter };
    log(`webgpu: ${JSON.stringify(adapter)}`);
  } catch (error) {
    report.engines.webgpu = { unavailable: reasonOf(error) };
    log(`webgpu: unavailable (${reasonOf(error)})`);
  }
}
const webgpuReady = report.engines.webgpu !== undefined && !report.engines.webgpu.unavailable;

// Shared: a trainer over synthetic CIFAR- or MNIST-shaped data, `chunk` steps an epoch. ---------

function syntheticTrainer(model, spec, batch, chunk, augment) {
  const data = syntheticDataset({
    shape: spec.input,
    classes: spec.classes,
    count: batch * chunk,
    stream: randomStream(0, 'data'),
  });
  const channels = spec.input[2];
  return new Trainer(
    model,
    {
      dataset: data,
      normalization: {
        mean: new Array(channels).fill(0.5),
        std: new Array(channels).fill(0.25),
      },
      augmentation: augment && channels === 3 ? CIFAR_AUGMENTATION : NO_AUGMENTATION,
      batchSize: batch,
    },
    new LrSchedule({
      peak: 0.01,
      shape: CONSTANT,
      granularity: 'step',
      stepsPerEpoch: chunk,
      cycleEpochs: [1000],
    }),
    { seed: 0 },
  );
}

// 2. A 10-step trace of each GPU engine against the CPU reference -------------------------------

async function traceOn(engine) {
  const spec = modelSpec('resnet-20');
  const model = await engine.model(spec, initialValues(spec, 0));
  const trainer = syntheticTrainer(model, spec, 32, 10, true);
  const losses = [];
  for (let k = 0; k < 10; k++) losses.push((await trainer.trainStep()).loss);
  await model.dispose();
  return losses;
}

{
  log('trace: ResNet-20, batch 32, 10 steps');
  const reference = await traceOn(await TfjsEngine.open('wasm'));
  const rows = { wasm: { losses: reference } };
  const compare = (losses) =>
    Math.max(...losses.map((l, i) => Math.abs(l - reference[i]) / Math.abs(reference[i])));
  if (torch !== undefined) {
    const losses = await traceOn(torch);
    rows[`torch-${device}`] = { losses, maxRelativeDifference: compare(losses) };
  }
  if (webgpuReady) {
    try {
      const losses = await traceOn((await openWebgpu()).engine);
      rows.webgpu = { losses, maxRelativeDifference: compare(losses) };
    } catch (error) {
      rows.webgpu = { failed: reasonOf(error) };
    }
  }
  report.trace = { model: 'resnet-20', batch: 32, steps: 10, reference: 'wasm', engines: rows };
  for (const [name, row] of Object.entries(rows))
    if (row.maxRelativeDifference !== undefined)
      log(
        `  ${name}: largest relative loss difference to wasm ${row.maxRelativeDifference.toExponential(2)}`,
      );
}

// 3. Step times ---------------------------------------------------------------------------------

/**
 * Median ms per step over epochs of `chunk` steps (one engine request each, as a training run
 * makes one per epoch), after one such epoch to warm up.
 */
async function engineStepMs(engine, name, batch, epochs, chunk) {
  const spec = modelSpec(name);
  const model = await engine.model(spec, initialValues(spec, 0));
  const trainer = syntheticTrainer(model, spec, batch, chunk, true);
  await trainer.run({ untilStep: chunk }); // warm-up: cuDNN, allocator, V8
  const samples = [];
  for (let e = 0; e < epochs; e++) {
    const started = performance.now();
    await trainer.run({ untilStep: trainer.position.step + chunk });
    samples.push((performance.now() - started) / chunk);
  }
  await model.dispose();
  return median(samples);
}

function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function rawTorch(args) {
  const result = spawnSync(
    defaultPython(),
    [here('./torch_step.py'), ...args, '--device', device],
    {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
      maxBuffer: 1 << 26,
    },
  );
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !line.startsWith('{'))
    throw new Error(`torch_step.py ${args.join(' ')}: ${result.stderr.slice(-600)}`);
  return JSON.parse(line);
}

const threads = String(os.availableParallelism());
for (const name of models) {
  for (const batch of batches) {
    const row = { model: name, batch };
    const epochs = quick ? 1 : 3;
    if (torch !== undefined) {
      try {
        row.torchEngineMs = await engineStepMs(torch, name, batch, epochs, 50);
        const raw = rawTorch([name, String(batch), String(epochs * 50), threads, '0.9', '50']);
        row.rawTorchMs = raw.medianMs;
        row.ratio = row.torchEngineMs / row.rawTorchMs;
      } catch (error) {
        row.torchFailed = reasonOf(error);
      }
    }
    if (webgpuReady) {
      try {
        row.webgpuMs = await engineStepMs(
          (await openWebgpu()).engine,
          name,
          batch,
          quick ? 1 : 2,
          10,
        );
      } catch (error) {
        row.webgpuFailed = reasonOf(error);
      }
    }
    report.steps.push(row);
    log(
      `  ${name} batch ${batch}: torch engine ${row.torchEngineMs?.toFixed(2) ?? '-'} ms, raw PyTorch ${row.rawTorchMs?.toFixed(2) ?? '-'} ms (ratio ${row.ratio?.toFixed(2) ?? '-'}), webgpu ${row.webgpuMs?.toFixed(1) ?? '-'} ms`,
    );
  }
}

// 4. A whole epoch ------------------------------------------------------------------------------

if (torch !== undefined) {
  const images = quick ? 10_000 : 50_000;
  try {
    const spec = modelSpec('resnet-20');
    const model = await torch.model(spec, initialValues(spec, 0));
    const trainer = syntheticTrainer(model, spec, 128, Math.ceil(images / 128), true);
    await trainer.run({ untilStep: 5 }); // warm-up (and the data set sent to the device)
    await trainer.run({ untilStep: trainer.batchesPerEpoch }); // to the epoch's end
    const started = performance.now();
    await trainer.run({ untilStep: 2 * trainer.batchesPerEpoch });
    const seconds = (performance.now() - started) / 1000;
    await model.dispose();
    const raw = rawTorch(['resnet-20', '128', '0', threads, '0.9', '5', '--epoch', String(images)]);
    report.epoch = {
      model: 'resnet-20',
      batch: 128,
      images,
      engineSeconds: seconds,
      engineImagesPerSecond: images / seconds,
      rawTorchSeconds: raw.epochSeconds,
      rawTorchImagesPerSecond: raw.imagesPerSecond,
      throughputShare: images / seconds / raw.imagesPerSecond,
    };
    log(
      `epoch of ${images} images: engine ${seconds.toFixed(2)} s, raw PyTorch ${raw.epochSeconds.toFixed(2)} s (throughput ${(100 * report.epoch.throughputShare).toFixed(0)}%)`,
    );
  } catch (error) {
    report.epoch = { failed: reasonOf(error) };
  }
}

// 5. Real data ----------------------------------------------------------------------------------

const defaultData = here('../../shared/data/cifar10-subset');
const dataDir = values['data-dir'] ?? (existsSync(defaultData) ? defaultData : undefined);
const subset = dataDir === undefined ? undefined : join(dataDir, 'data_batch_1_first4000.bin');
if (subset === undefined || !existsSync(subset)) {
  report.realData = { unavailable: `no CIFAR-10 subset (--data-dir): ${subset ?? 'none given'}` };
} else if (torch !== undefined) {
  const { train, validation } = splitValidation(
    loadCifar10File(subset),
    1000,
    randomStream(0, 'split'),
  );
  const epochs = quick ? 1 : Number(values.epochs);
  const setup = {
    spec: modelSpec('resnet-20'),
    train,
    test: validation,
    normalization: NORMALIZATIONS.cifar10,
    augmentation: CIFAR_AUGMENTATION,
    batchSize: 128,
    schedule: { peak: 0.1, shape: CIFAR_STEP_WARMUP, granularity: 'epoch' },
    sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
    seed: 0,
  };
  const run = async (engine) => {
    const perEpoch = [];
    const started = performance.now();
    const result = await runPipeline(engine, setup, methods.dense({ epochs }), {
      onEpoch: (record) =>
        perEpoch.push({
          epoch: record.metrics.epoch,
          seconds: record.metrics.seconds,
          trainLoss: record.metrics.trainLoss,
          testAccuracy: record.test.accuracy,
        }),
    });
    return { status: result.status, seconds: (performance.now() - started) / 1000, perEpoch };
  };
  report.realData = {
    model: 'resnet-20',
    data: `${train.count} training and ${validation.count} held-out images of ${subset}`,
    method: `dense, ${epochs} epochs, batch 128, peak LR 0.1, crop + flip`,
    engines: { [`torch-${device}`]: await run(torch) },
  };
  log(`real data: ${JSON.stringify(report.realData.engines)}`);
}

torch?.close();
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${values.out}`);
