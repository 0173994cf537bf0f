/**
 * Pipelines as data. Every method of the paper is a list of phases over one network, one
 * optimizer and one mask:
 * - `train`: C cycles of the cycle shape (momentum reset at each cycle unless told otherwise),
 *   optionally starting mid-cycle (weight rewinding) and saving a snapshot after some epochs;
 * - `prune`: a new mask from a criterion (magnitude, random, SNIP, SynFlow) at a sparsity —
 *   counting and ties from the core, masks only shrink;
 * - `snapshot`: remember the weights and momentum under a name;
 * - `rewind`: weights (and optionally momentum) from a snapshot, under the current mask;
 * - `reinitialize`: fresh weights, a snapshot's, or fresh magnitudes with a snapshot's signs,
 *   under the current mask (the mask/initialisation coupling experiments).
 * The runner keeps, per cycle, losses and accuracies (final and best), sparsity overall and per
 * layer and cost; per level, the mask; and the resolved options of the method.
 */

import { InvalidArgumentError } from '../core/errors.js';
import { Mask } from '../core/mask.js';
import type { Engine } from '../engine/engine.js';
import { initialValues } from '../models/init.js';
import { prunableLayers } from '../models/spec.js';
import { NO_COST } from './cycle-summary.js';
import { runPhase, type PhaseRun } from './phase-handlers.js';
import { decodeTensors, encodeTensors } from './snapshot-codec.js';
import type { Pipeline, PipelineResult, PipelineSetup, RunHooks } from './types.js';

export type * from './types.js';

/** Runs `pipeline` on `setup` on `engine`. */
export async function runPipeline(
  engine: Engine,
  setup: PipelineSetup,
  pipeline: Pipeline,
  hooks: RunHooks = {},
): Promise<PipelineResult> {
  const prunable = setup.prunable ?? {};
  const layers = prunableLayers(setup.spec, prunable);
  const model = await engine.model(setup.spec, initialValues(setup.spec, setup.seed), setup.sgd);
  let index = 0;
  const run: PhaseRun = {
    setup,
    hooks,
    model,
    layers,
    snapshots: new Map(),
    cycles: [],
    levels: [],
    mask: Mask.dense(layers),
    cost: NO_COST,
    emitted: 0,
    resumeAt: null,
    event: async (when, extra = {}) => {
      const phase = pipeline.phases[index]!;
      const { mask, snapshots } = run;
      await hooks.observe?.({ index, phase, when, model, mask, snapshots, ...extra });
    },
    checkpoint: async (trainer, partial) => {
      if (hooks.checkpoint === undefined) return;
      const current = { weights: await model.read(), momentum: await model.readMomentum() };
      await hooks.checkpoint({
        progress: {
          phase: trainer === null ? index + 1 : index,
          trainer,
          partial,
          mask: run.mask.toJSON(),
          snapshots: [...run.snapshots.keys()],
          cycles: run.cycles,
          levels: run.levels,
          cost: run.cost,
          emitted: run.emitted,
        },
        tensors: encodeTensors(current, run.snapshots),
      });
    },
    snapshotNow: async () => ({
      weights: await model.read(),
      momentum: await model.readMomentum(),
    }),
    snapshotOf: (name) => {
      const found = run.snapshots.get(name);
      if (found === undefined)
        throw new InvalidArgumentError(
          'snapshot',
          `a snapshot taken earlier (${[...run.snapshots.keys()].join(', ') || 'none'})`,
          name,
        );
      return found;
    },
  };
  let status: PipelineResult['status'] = 'completed';
  try {
    await model.setMask(run.mask);
    if (hooks.resume !== undefined) {
      const { progress, tensors } = hooks.resume;
      const { current, snapshots } = decodeTensors(tensors, progress.snapshots);
      await model.write(current.weights);
      await model.writeMomentum(current.momentum);
      run.mask = Mask.fromJSON(progress.mask);
      await model.setMask(run.mask);
      for (const [name, snapshot] of snapshots) run.snapshots.set(name, snapshot);
      run.cycles.push(...progress.cycles);
      run.levels.push(...progress.levels);
      run.cost = { ...progress.cost };
      run.emitted = progress.emitted;
      index = progress.phase;
      run.resumeAt = { trainer: progress.trainer, partial: [...progress.partial] };
    }
    for (; index < pipeline.phases.length; index++) {
      const phase = pipeline.phases[index]!;
      if (phase.kind !== 'train') run.resumeAt = null;
      const outcome = await runPhase(phase, run, index);
      await run.event('end');
      if (outcome === 'diverged') {
        status = 'diverged';
        break;
      }
      await run.checkpoint(null, []);
    }
  } finally {
    await model.dispose();
  }
  return {
    method: pipeline.method,
    options: pipeline.options,
    setup: {
      model: setup.spec.name,
      train: setup.train.provenance,
      test: setup.test.provenance,
      batchSize: setup.batchSize,
      schedule: setup.schedule,
      sgd: setup.sgd,
      seed: setup.seed,
      prunable,
    },
    backend: engine.info,
    status,
    cycles: run.cycles,
    levels: run.levels,
    cost: run.cost,
  };
}
