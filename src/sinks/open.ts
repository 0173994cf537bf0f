/**
 * Sinks from `--log` specs: checked once before training (`checkSinks`: bad input is refused
 * before any run starts) and built in each process that trains (`createSinks`).
 */

import { accessSync, constants, mkdirSync } from 'node:fs';
import { InvalidArgumentError } from '../core/errors.js';
import { checkMlflow, mlflowSettings, MlflowSink } from './mlflow.js';
import { fanOut, parseLogSpec, type MetricSink, type SinkSpec } from './sink.js';
import { TensorBoardSink } from './tensorboard.js';

export interface SinkOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Where a failing sink's one warning goes (stderr by default). */
  readonly warn?: (line: string) => void;
  /** Per MLflow request. */
  readonly timeoutMs?: number;
}

/** The sinks `specs` name, as one; undefined for none. */
export function createSinks(
  specs: readonly SinkSpec[],
  options: SinkOptions = {},
): MetricSink | undefined {
  if (specs.length === 0) return undefined;
  const sinks = specs.map((spec) =>
    spec.kind === 'tensorboard'
      ? new TensorBoardSink(spec.dir)
      : new MlflowSink(mlflowSettings(options.env), {
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        }),
  );
  return fanOut(sinks, options.warn);
}

/**
 * Before training: a TensorBoard directory can be made and written; MLflow is configured, its
 * server answers and the experiment exists. Throws an InvalidArgumentError naming the
 * directory or the URI.
 */
export async function checkSinks(
  specs: readonly SinkSpec[],
  options: SinkOptions = {},
): Promise<void> {
  for (const spec of specs) {
    if (spec.kind === 'tensorboard') {
      try {
        mkdirSync(spec.dir, { recursive: true });
        accessSync(spec.dir, constants.W_OK);
      } catch (error) {
        throw new InvalidArgumentError(
          '--log tensorboard',
          'a directory that can be created and written',
          spec.dir,
          `--log tensorboard=${spec.dir}: cannot write there (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
    } else {
      await checkMlflow(options.env, {
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
    }
  }
}

/**
 * The CLI's `--log` values, parsed and checked ({@link checkSinks}) before anything trains:
 * an InvalidArgumentError (exit 2) names a bad spec, directory or server.
 */
export async function sinksFromOptions(
  values: readonly string[] | undefined,
  options: SinkOptions = {},
): Promise<SinkSpec[]> {
  const specs = (values ?? []).map(parseLogSpec);
  await checkSinks(specs, options);
  return specs;
}
