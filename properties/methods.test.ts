/**
 * Invariants of the methods, on random small models, seeds and settings: pruning levels,
 * rewinding, SCULPT's phases, the coupling experiments, cost accounting, and the SNIP and
 * SynFlow scores against an independent float64 implementation.
 */

import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { pruningLevels } from '../src/core/density-schedule.js';
import { CIFAR_STEP_WARMUP, LrSchedule, cyclicEpochs } from '../src/core/lr-schedule.js';
import { Mask } from '../src/core/mask.js';
import { randomStream } from '../src/core/random.js';
import { keptCount } from '../src/core/selection.js';
import { Batcher, NO_AUGMENTATION } from '../src/data/batches.js';
import { syntheticDataset, withLabelNoise } from '../src/data/dataset.js';
import type { Engine, TrainPlan } from '../src/engine/engine.js';
import { TfjsEngine } from '../src/engine/tfjs-engine.js';
import type { TorchEngine } from '../src/engine/torch/engine.js';
import { openTorchCpu, TORCH_PYTHON } from '../src/engine/torch/torch-testing.js';
import { initialValues } from '../src/models/init.js';
import {
  layerOfWeight,
  prunableLayers,
  weightName,
  type ModelSpec,
  type Node,
} from '../src/models/spec.js';
import { pipelineOf } from '../src/methods/registry.js';
import { COUPLING_INITS } from '../src/methods/catalog/coupling.js';
import {
  runPipeline,
  type EpochRecord,
  type PhaseEvent,
  type PipelineSetup,
  type ResumeState,
} from '../src/methods/runner.js';
import { snipScores } from '../src/prune/snip.js';
import { synflowMask, synflowScores } from '../src/prune/synflow.js';
import { bernoulliMask, mlpCase, mlpSpec, reference, smallModel } from './models.js';
import { snipReference, synflowReference } from './reference-mlp.js';
import { synflowDefinition } from './reference-net.js';

let wasm: Engine;
beforeAll(async () => {
  wasm = await TfjsEngine.open('wasm');
});

const EPOCHS = 3;
const BATCH = 8;

function tinySetup(spec: ModelSpec, seed: number): PipelineSetup {
  const data = (count: number, name: string) =>
    syntheticDataset({
      shape: spec.input,
      classes: spec.classes,
      count,
      stream: randomStream(seed, name),
    });
  const channels = spec.input[2];
  return {
    spec,
    train: data(24, 'train'),
    test: data(8, 'test'),
    normalization: {
      mean: new Array<number>(channels).fill(0.5),
      std: new Array<number>(channels).fill(0.25),
    },
    augmentation: NO_AUGMENTATION,
    batchSize: BATCH,
    schedule: { peak: 0.05, shape: CIFAR_STEP_WARMUP, granularity: 'epoch' },
    sgd: { momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
    seed,
  };
}

const totalWeights = (spec: ModelSpec) =>
  prunableLayers(spec).reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);

/** Every parameter of `actual` equals `expected`, masked weights 0 (−0 counts as 0). */
function expectMaskedCopy(
  actual: ReadonlyMap<string, Float32Array>,
  expected: ReadonlyMap<string, Float32Array>,
  mask: Mask,
  what: string,
): void {
  for (const [name, values] of actual) {
    const reference = expected.get(name);
    if (reference === undefined) continue;
    const layer = layerOfWeight(name);
    const kept = layer !== undefined && mask.has(layer) ? mask.toArray(layer) : undefined;
    values.forEach((v, i) => {
      const want = kept !== undefined && kept[i] === 0 ? 0 : reference[i]!;
      if (v !== want) throw new Error(`${what}: ${name}[${i}] is ${v}, expected ${want}`);
    });
  }
}

const learningRate = (setup: PipelineSetup, step: number) =>
  new LrSchedule({
    ...setup.schedule,
    stepsPerEpoch: Math.ceil(setup.train.count / BATCH),
    cycleEpochs: cyclicEpochs(EPOCHS, 1),
  }).learningRateAt(step);

const seed = fc.integer({ min: 0, max: 500 });
const rate = fc.oneof(fc.constant(0.2), fc.double({ min: 0.1, max: 0.6, noNaN: true }));

describe('IMP, WR and LRR', () => {
  test.prop(
    [
      smallModel,
      seed,
      fc.constantFrom('imp' as const, 'wr' as const, 'lrr' as const),
      fc.integer({ min: 1, max: 3 }),
      rate,
    ],
    { numRuns: 15 },
  )(
    'masks shrink to the iterated rule, and each level starts from its method’s rewind point ⊙ mask',
    async (spec, s, method, levels, r) => {
      const setup = tinySetup(spec, s);
      const weights = totalWeights(spec);
      const options = { epochsPerCycle: EPOCHS, levels, rate: r, weights };
      const pipeline =
        method === 'imp'
          ? pipelineOf('imp', options)
          : method === 'wr'
            ? pipelineOf('wr', { ...options, shape: CIFAR_STEP_WARMUP })
            : pipelineOf('lrr', options);
      const plan = pruningLevels({ rate: r, levels }, weights);
      let previous = Mask.dense(prunableLayers(spec));
      let initial: Map<string, Float32Array> | undefined;
      let lastEnd: Map<string, Float32Array> | undefined;
      const rewindEpoch = pipeline.options.rewindEpoch as number | undefined;
      await runPipeline(wasm, setup, pipeline, {
        observe: async (event: PhaseEvent) => {
          const { phase, when, mask, model } = event;
          if (phase.kind === 'prune' && when === 'end') {
            expect(mask.isSubsetOf(previous)).toBe(true);
            expect(mask.totalKept).toBe(plan[phase.level]!.kept);
            previous = mask;
          }
          if (phase.kind !== 'train') return;
          if (when === 'end') {
            lastEnd = await model.read();
            return;
          }
          if (phase.level === 0) {
            initial = await model.read();
            return;
          }
          const now = await model.read();
          if (method === 'imp') {
            expectMaskedCopy(now, initial!, mask, `IMP level ${phase.level}`);
            expect(event.firstLearningRate).toBe(learningRate(setup, 0));
          } else if (method === 'wr') {
            const point = event.snapshots.get('rewind')!;
            expectMaskedCopy(now, point.weights, mask, `WR level ${phase.level}`);
            expectMaskedCopy(
              await event.model.readMomentum(),
              point.momentum,
              mask,
              `WR momentum level ${phase.level}`,
            );
            expect(event.firstLearningRate).toBe(
              learningRate(setup, rewindEpoch! * Math.ceil(setup.train.count / BATCH)),
            );
          } else {
            expectMaskedCopy(now, lastEnd!, mask, `LRR level ${phase.level}`);
            expect(event.firstLearningRate).toBe(learningRate(setup, 0)); // the schedule restarts
          }
        },
      });
    },
  );
});

/** `engine`, with every plan its models train recorded. */
function recordingPlans(engine: Engine): { engine: Engine; plans: TrainPlan[] } {
  const plans: TrainPlan[] = [];
  return {
    plans,
    engine: {
      info: engine.info,
      model: async (...args: Parameters<Engine['model']>) => {
        const model = await engine.model(...args);
        const train = model.train.bind(model);
        model.train = (plan) => {
          plans.push(plan);
          return train(plan);
        };
        return model;
      },
    },
  };
}

describe('what each level starts from', () => {
  test.prop([smallModel, seed, fc.boolean()], { numRuns: 8 })(
    'LRR restarts the momentum at every level exactly when it records resetMomentum',
    async (spec, s, resetMomentum) => {
      const setup = tinySetup(spec, s);
      const pipeline = pipelineOf('lrr', {
        epochsPerCycle: EPOCHS,
        levels: 2,
        weights: totalWeights(spec),
        resetMomentum,
      });
      expect(pipeline.options.resetMomentum).toBe(resetMomentum);
      const { engine, plans } = recordingPlans(wasm);
      await runPipeline(engine, setup, pipeline);
      // Each level restarts the schedule at step 0; whether its first step zeroes the momentum:
      const firstSteps = plans.filter((p) => p.firstStep === 0).map((p) => p.resetMomentum[0]);
      expect(firstSteps).toEqual([1, resetMomentum ? 1 : 0, resetMomentum ? 1 : 0]);
      // And nowhere else: one cycle per level.
      expect(plans.flatMap((p) => [...p.resetMomentum.subarray(1)]).every((r) => r === 0)).toBe(
        true,
      );
    },
  );

  test.prop([smallModel, seed, fc.constantFrom('wr' as const, 'coupling' as const)], {
    numRuns: 8,
  })(
    'the rewind point (WR) and the warm-up weights (coupling) are the weights after exactly that many epochs',
    async (spec, s, method) => {
      const setup = tinySetup(spec, s);
      const weights = totalWeights(spec);
      const epochs = 4;
      const pipeline =
        method === 'wr'
          ? pipelineOf('wr', {
              epochsPerCycle: epochs,
              levels: 1,
              weights,
              shape: CIFAR_STEP_WARMUP,
              rewindEpoch: 2,
            })
          : pipelineOf('coupling', {
              epochsPerCycle: epochs,
              levels: 1,
              weights,
              init: 'warmup',
              cycles: 1,
              shape: CIFAR_STEP_WARMUP,
              warmupEpochs: 2,
            });
      const name = method === 'wr' ? 'rewind' : 'warmup';
      const states: ResumeState[] = [];
      await runPipeline(wasm, setup, pipeline, {
        checkpoint: (state) => states.push(structuredClone(state)),
      });
      // The state saved after the first training's second epoch holds the network then.
      const firstTrain = pipeline.phases.findIndex((p) => p.kind === 'train');
      const afterTwo = states.find(
        (st) => st.progress.phase === firstTrain && st.progress.trainer?.epoch === 2,
      )!;
      const snapshot = states.at(-1)!.tensors;
      for (const [key, values] of afterTwo.tensors) {
        if (!key.startsWith('param:')) continue;
        expect(snapshot.get(`snapshot:${name}:${key}`), key).toEqual(values);
      }
    },
  );
});

describe('SCULPT', () => {
  test.prop(
    [
      smallModel,
      seed,
      fc.constantFrom('random' as const, 'snip' as const, 'synflow' as const),
      fc.double({ min: 0, max: 0.6, noNaN: true }),
      fc.double({ min: 0.6, max: 0.95, noNaN: true }),
    ],
    {
      numRuns: 10,
    },
  )(
    'runs its phases in order, lands on the target exactly, and does not rewind after the coupling prune',
    async (spec, s, start, startSparsity, targetSparsity) => {
      const setup = tinySetup(spec, s);
      const pipeline = pipelineOf('sculpt', {
        start,
        startSparsity,
        targetSparsity,
        cycles: 2,
        epochsPerCycle: EPOCHS,
        ...(start === 'synflow' ? { synflowIterations: 5 } : {}),
      });
      expect(
        pipeline.phases.map((p) =>
          p.kind === 'train' || p.kind === 'prune' ? `${p.kind}:${p.label}` : p.kind,
        ),
      ).toEqual(['prune:start mask', 'train:cyclic', 'prune:coupling prune', 'train:retrain']);
      let trained: Map<string, Float32Array> | undefined;
      const result = await runPipeline(wasm, setup, pipeline, {
        observe: async (event) => {
          if (
            event.phase.kind === 'train' &&
            event.phase.label === 'cyclic' &&
            event.when === 'end'
          )
            trained = await event.model.read();
          if (
            event.phase.kind === 'train' &&
            event.phase.label === 'retrain' &&
            event.when === 'start'
          ) {
            expectMaskedCopy(
              await event.model.read(),
              trained!,
              event.mask,
              'SCULPT retrain start',
            );
          }
        },
      });
      expect(Mask.fromJSON(result.levels.at(-1)!.mask).totalKept).toBe(
        keptCount(targetSparsity, totalWeights(spec)),
      );
    },
  );
});

describe('coupling experiments', () => {
  test.prop([smallModel, seed, fc.constantFrom(...COUPLING_INITS)], { numRuns: 12 })(
    'the coupled network starts from the chosen weights under the LRR mask (signs only: warm-up signs, fresh magnitudes)',
    async (spec, s, init) => {
      const setup = tinySetup(spec, s);
      const pipeline = pipelineOf('coupling', {
        epochsPerCycle: EPOCHS,
        levels: 1,
        weights: totalWeights(spec),
        init,
        cycles: 1,
        shape: CIFAR_STEP_WARMUP,
      });
      const freshValues = initialValues(spec, s, 'init/coupling');
      await runPipeline(wasm, setup, pipeline, {
        observe: async (event) => {
          if (!(
            event.phase.kind === 'train' &&
            event.phase.label === 'coupled' &&
            event.when === 'start'
          ))
            return;
          const now = await event.model.read();
          const warmup = event.snapshots.get('warmup')!.weights;
          if (init === 'fresh') expectMaskedCopy(now, freshValues, event.mask, 'fresh');
          if (init === 'original')
            expectMaskedCopy(now, event.snapshots.get('init')!.weights, event.mask, 'original');
          if (init === 'warmup') expectMaskedCopy(now, warmup, event.mask, 'warm-up');
          if (init === 'signs-only') {
            for (const layer of event.mask.layers) {
              const name = weightName(layer.name);
              const kept = event.mask.toArray(layer.name);
              now.get(name)!.forEach((v, i) => {
                if (kept[i] === 0) return expect(v === 0).toBe(true);
                expect(Math.abs(v)).toBe(Math.abs(freshValues.get(name)![i]!));
                expect(Math.sign(v)).toBe(warmup.get(name)![i]! < 0 ? -1 : 1);
              });
            }
          }
          for (const buffer of (await event.model.readMomentum()).values())
            expect(buffer.every((v) => v === 0)).toBe(true);
        },
      });
    },
  );
});

describe('resuming', () => {
  test.prop(
    [
      smallModel,
      seed,
      fc.constantFrom('lrr' as const, 'wr' as const, 'coupling' as const, 'sculpt' as const),
      fc.nat(),
    ],
    { numRuns: 10 },
  )(
    'continuing from any saved state ends with exactly the uninterrupted result',
    async (spec, s, method, pick) => {
      const setup = tinySetup(spec, s);
      const weights = totalWeights(spec);
      const pipeline =
        method === 'lrr'
          ? pipelineOf('lrr', { epochsPerCycle: EPOCHS, levels: 2, weights })
          : method === 'wr'
            ? pipelineOf('wr', {
                epochsPerCycle: EPOCHS,
                levels: 2,
                weights,
                shape: CIFAR_STEP_WARMUP,
              })
            : method === 'coupling'
              ? pipelineOf('coupling', {
                  epochsPerCycle: EPOCHS,
                  levels: 1,
                  weights,
                  init: 'signs-only',
                  cycles: 2,
                  shape: CIFAR_STEP_WARMUP,
                })
              : pipelineOf('sculpt', {
                  start: 'snip',
                  startSparsity: 0.3,
                  targetSparsity: 0.8,
                  cycles: 2,
                  epochsPerCycle: EPOCHS,
                });
      const states: ResumeState[] = [];
      const emitted: EpochRecord[] = [];
      const straight = await runPipeline(wasm, setup, pipeline, {
        checkpoint: (state) => states.push(structuredClone(state)),
        onEpoch: (record) => emitted.push(record),
      });
      const from = states[pick % states.length]!;
      const later: EpochRecord[] = [];
      const resumed = await runPipeline(wasm, setup, pipeline, {
        resume: from,
        onEpoch: (record) => later.push(record),
      });
      expect(resumed).toEqual(straight);
      const withoutTime = (records: EpochRecord[]) =>
        records.map((r) => ({ ...r, metrics: { ...r.metrics, seconds: 0 } }));
      expect(withoutTime([...emitted.slice(0, from.progress.emitted), ...later])).toEqual(
        withoutTime(emitted),
      );
    },
  );
});

describe('cost accounting', () => {
  test.prop([smallModel, seed, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })], {
    numRuns: 8,
  })(
    'the one-cycle control and the C-cycle run report the same epochs, steps and FLOPs',
    async (spec, s, cycles, epochsPerCycle) => {
      const setup = tinySetup(spec, s);
      const cyclic = await runPipeline(
        wasm,
        setup,
        pipelineOf('cyclic', { cycles, epochsPerCycle }),
      );
      const control = await runPipeline(
        wasm,
        setup,
        pipelineOf('one-cycle', { cycles, epochsPerCycle }),
      );
      expect(control.cost).toEqual(cyclic.cost);
      expect(cyclic.cost.steps).toBe(cycles * epochsPerCycle * Math.ceil(24 / BATCH));
    },
  );
});

function expectProportional(
  actual: readonly Float32Array[],
  expected: readonly Float64Array[],
  what: string,
): void {
  // One common factor (SynFlow's per-layer scaling multiplies every score by the same number).
  const sum = (arrays: readonly ArrayLike<number>[]) =>
    arrays.reduce((s, a) => s + Array.from(a).reduce((x, y) => x + y, 0), 0);
  const factor = sum(actual) / sum(expected);
  const scale = Math.max(...expected.map((e) => Math.max(...Array.from(e))));
  expected.forEach((layer, l) =>
    layer.forEach((v, i) => {
      if (Math.abs(actual[l]![i]! / factor - v) > 1e-4 * scale)
        throw new Error(`${what}: layer ${l}[${i}] ${actual[l]![i]! / factor} vs ${v}`);
    }),
  );
}

describe('SNIP and SynFlow scores', () => {
  test.prop([mlpCase], { numRuns: 25 })(
    'SNIP equals |∂L/∂w ⊙ w| computed independently in float64',
    async (c) => {
      const spec = mlpSpec(c);
      const model = await wasm.model(spec, initialValues(spec, c.seed));
      const data = syntheticDataset({
        shape: spec.input,
        classes: spec.classes,
        count: 6,
        stream: randomStream(c.seed, 'data'),
      });
      const normalization = {
        mean: new Array<number>(c.inputs).fill(0.4),
        std: new Array<number>(c.inputs).fill(0.3),
      };
      const indices = Uint32Array.from([0, 1, 2, 3, 4, 5]);
      const batch = new Batcher(data, normalization).fill(indices);
      const mask = Mask.dense(prunableLayers(spec));
      const scores = await snipScores(model, mask, {
        dataset: data,
        normalization,
        indices,
        augmentation: null,
      });
      const images = Array.from({ length: 6 }, (_, n) =>
        Float64Array.from(batch.images.subarray(n * c.inputs, (n + 1) * c.inputs)),
      );
      const expected = snipReference(
        reference(spec, await model.read()),
        images,
        Array.from(batch.labels),
      );
      const scale = Math.max(1e-6, ...expected.map((e) => Math.max(...Array.from(e))));
      mask.names().forEach((name, l) =>
        scores[name]!.forEach((v, i) => {
          if (Math.abs(v - expected[l]![i]!) > 1e-4 * scale)
            throw new Error(`${name}[${i}]: ${v} vs ${expected[l]![i]}`);
        }),
      );
      await model.dispose();
    },
  );

  test.prop([mlpCase], { numRuns: 25 })(
    'one SynFlow pass equals the direct formula, up to one common factor',
    async (c) => {
      const spec = mlpSpec({ ...c, bias: false });
      const model = await wasm.model(spec, initialValues(spec, c.seed));
      const mask = Mask.dense(prunableLayers(spec));
      const scores = await synflowScores(model, mask);
      expectProportional(
        mask.names().map((n) => scores[n]!),
        synflowReference(reference(spec, await model.read())).scores,
        'SynFlow',
      );
      await model.dispose();
    },
  );

  test.prop(
    [
      fc.oneof(
        smallModel.filter((m) =>
          m.nodes.every(
            (n) => n.op !== 'bn' && (n.op !== 'conv' || !n.bias) && n.op !== 'residual',
          ),
        ),
        mlpCase.map((c) => mlpSpec({ ...c, bias: false })),
      ),
      seed,
    ],
    { numRuns: 20 },
  )(
    'SynFlow conserves flow: in a bias-free, BatchNorm-free ReLU chain every layer’s scores sum to the same total',
    async (spec, s) => {
      const bare: ModelSpec = {
        ...spec,
        nodes: spec.nodes.map((n) =>
          n.op === 'dense' || n.op === 'conv' ? { ...n, bias: false } : n,
        ),
      };
      const model = await wasm.model(bare, initialValues(bare, s));
      const scores = await synflowScores(model, Mask.dense(prunableLayers(bare)));
      const sums = Object.values(scores).map((a) => a.reduce((x, y) => x + y, 0));
      sums.forEach((sum) => expect(Math.abs(sum - sums[0]!) / sums[0]!).toBeLessThan(1e-3));
      await model.dispose();
    },
  );

  test.prop(
    [
      smallModel,
      seed,
      fc.double({ min: 0, max: 0.98, noNaN: true }),
      fc.integer({ min: 1, max: 12 }),
    ],
    { numRuns: 12 },
  )(
    'iterative SynFlow shrinks the mask round by round to exactly the target count',
    async (spec, s, sparsity, iterations) => {
      const model = await wasm.model(spec, initialValues(spec, s));
      const start = Mask.dense(prunableLayers(spec));
      const mask = await synflowMask(model, start, { sparsity, iterations });
      expect(mask.isSubsetOf(start)).toBe(true);
      expect(mask.totalKept).toBe(keptCount(sparsity, start.totalSize));
      await model.dispose();
    },
  );
});

/** SynFlow on the engines under test: wasm, and PyTorch (CPU) where torch imports. */
const synflowEngines = async (): Promise<Engine[]> => [
  wasm,
  ...(TORCH_PYTHON === undefined ? [] : [await torchEngine()]),
];
let torchOpened: Promise<TorchEngine> | undefined;
const torchEngine = () => (torchOpened ??= openTorchCpu());
afterAll(async () => (await torchOpened)?.close());

/** Every score equals the reference up to one common positive factor (float32 rounding). */
function expectSameUpToFactor(
  actual: Record<string, Float32Array>,
  expected: ReadonlyMap<string, Float64Array>,
  what: string,
): void {
  let sumA = 0;
  let sumE = 0;
  let max = 0;
  for (const [name, e] of expected) {
    const a = actual[layerOfWeight(name)!]!;
    e.forEach((v, i) => {
      sumA += a[i]!;
      sumE += v;
      max = Math.max(max, v);
    });
  }
  if (sumE === 0) {
    // Every path is pruned: R is 0 and so is every score.
    if (sumA !== 0) throw new Error(`${what}: scores sum to ${sumA} where R is 0`);
    return;
  }
  if (!(sumA > 0 && Number.isFinite(sumA))) throw new Error(`${what}: scores sum to ${sumA}`);
  const factor = sumA / sumE;
  for (const [name, e] of expected) {
    const a = actual[layerOfWeight(name)!]!;
    e.forEach((v, i) => {
      // Each score to float32 accuracy of its own size, not only of the largest one: a scaling
      // that is off for some paths (a residual block's body against its shortcut) shows up
      // in the small scores first.
      if (Math.abs(a[i]! / factor - v) > 1e-3 * Math.abs(v) + 1e-7 * max)
        throw new Error(`${what}: ${name}[${i}] ${a[i]! / factor} vs ${v} (largest ${max})`);
    });
  }
}

describe('SynFlow against its definition', () => {
  test.prop([smallModel, seed, fc.double({ min: 0.3, max: 1, noNaN: true })], { numRuns: 15 })(
    'scores are the unscaled float64 definition up to one common factor, residual blocks included',
    async (spec, s, density) => {
      const values = initialValues(spec, s);
      const mask =
        density === 1 ? Mask.dense(prunableLayers(spec)) : bernoulliMask(spec, s, density);
      const kept = new Map(mask.names().map((l) => [weightName(l), mask.toArray(l)] as const));
      const { scores } = synflowDefinition(spec, values, kept, [...kept.keys()]);
      for (const engine of await synflowEngines()) {
        const model = await engine.model(spec, values);
        await model.setMask(mask);
        expectSameUpToFactor(await synflowScores(model, mask), scores, engine.info.name);
        await model.dispose();
      }
    },
  );

  test('a network whose R overflows float32 (1.9e58 here) still gets finite scores, in the right proportions', async () => {
    // A 36-layer chain of 4×4 dense layers whose weights have magnitude 10.
    const width = 4;
    const nodes: Node[] = [{ op: 'flatten' }];
    for (let l = 0; l < 36; l++) {
      nodes.push(
        { op: 'dense', name: `fc${l}`, in: width, out: width, bias: false },
        { op: 'relu' },
      );
    }
    const spec: ModelSpec = { name: 'deep-chain', input: [1, 1, width], classes: width, nodes };
    const stream = randomStream(5, 'deep');
    const values = new Map(
      Array.from({ length: 36 }, (_, l) => [
        weightName(`fc${l}`),
        Float32Array.from({ length: width * width }, () => (stream.float() < 0.5 ? -10 : 10)),
      ]),
    );
    const mask = Mask.dense(prunableLayers(spec));
    const kept = new Map(mask.names().map((l) => [weightName(l), mask.toArray(l)] as const));
    const { r, scores } = synflowDefinition(spec, values, kept, [...kept.keys()]);
    expect(r).toBeGreaterThan(1e50); // beyond float32's 3.4e38
    for (const engine of await synflowEngines()) {
      const model = await engine.model(spec, values);
      expectSameUpToFactor(await synflowScores(model, mask), scores, engine.info.name);
      await model.dispose();
    }
  });

  test.prop(
    [
      smallModel,
      seed,
      fc.double({ min: 0.5, max: 0.97, noNaN: true }),
      fc.integer({ min: 2, max: 6 }),
    ],
    {
      numRuns: 10,
    },
  )(
    "iterative SynFlow scores each round on the previous round's mask, at densities (1 − s)^(k/K)",
    async (spec, s, sparsity, rounds) => {
      const model = await wasm.model(spec, initialValues(spec, s));
      const seen: Map<string, Float32Array>[] = [];
      const original = model.gradients.bind(model);
      model.gradients = (request) => {
        seen.push(new Map(request.values));
        return original(request);
      };
      const start = Mask.dense(prunableLayers(spec));
      const final = await synflowMask(model, start, { sparsity, iterations: rounds });
      expect(final.totalKept).toBe(keptCount(sparsity, start.totalSize));
      // Round by round: the kept weights the scorer saw follow the exponential schedule, and the
      // weights it saw as zero are exactly those pruned before.
      const expectedKept: number[] = [];
      let kept = start.totalKept;
      for (let k = 1; k <= rounds; k++) {
        const target = k === rounds ? sparsity : 1 - (1 - sparsity) ** (k / rounds);
        if (keptCount(target, start.totalSize) >= kept) continue;
        expectedKept.push(kept);
        kept = keptCount(target, start.totalSize);
      }
      const nonZero = (values: Map<string, Float32Array>) =>
        start
          .names()
          .reduce((n, l) => n + values.get(weightName(l))!.filter((v) => v !== 0).length, 0);
      // Initial weights are never exactly 0, so non-zero positive weights are the kept ones.
      expect(seen.map(nonZero)).toEqual(expectedKept);
      await model.dispose();
    },
  );
});

describe('label noise', () => {
  test.prop([
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    fc.integer({ min: 1, max: 300 }),
    fc.integer({ min: 2, max: 10 }),
    seed,
  ])(
    'flips exactly round(f·n) labels, none to its own class, the same ones for the same seed',
    (fraction, count, classes, s) => {
      const data = syntheticDataset({
        shape: [1, 1, 1],
        classes,
        count,
        stream: randomStream(s, 'data'),
      });
      const noisy = withLabelNoise(data, fraction, randomStream(s, 'labelNoise'));
      const changed = noisy.labels.filter((label, i) => label !== data.labels[i]).length;
      expect(changed).toBe(count - keptCount(fraction, count));
      expect(withLabelNoise(data, fraction, randomStream(s, 'labelNoise')).labels).toEqual(
        noisy.labels,
      );
    },
  );
});
