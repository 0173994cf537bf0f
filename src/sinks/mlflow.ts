/**
 * MLflow tracking through its REST API 2.0 (https://mlflow.org/docs/latest/rest-api.html), over
 * fetch: one MLflow run per cyclesparse run (run name = run id), the resolved configuration as
 * params, each epoch's metrics at step = the epoch's line in metrics.jsonl, and the status at
 * the end.
 *
 * Configured by the environment as MLflow's own clients are: MLFLOW_TRACKING_URI (required),
 * MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (basic auth),
 * MLFLOW_EXPERIMENT_NAME (default "cyclesparse").
 *
 * A resumed run (epochs already stored) goes on in the MLflow run of the same name if there is
 * one: its params are not sent again and steps continue; epochs that were trained after the
 * checkpoint and are trained again appear twice in MLflow's history at their step (MLflow
 * appends metric values, never replaces them).
 */

import { InvalidArgumentError } from '../core/errors.js';
import {
  flattenParams,
  type EpochEvent,
  type MetricSink,
  type RunEnd,
  type RunStart,
} from './sink.js';

/** MLflow's LogBatch request limits (mlflow/utils/validation.py). */
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** Longer param values are cut to this: MLflow ≥ 2.8 allows 6000 characters (mlflow#9709). */
  paramValueLength: 6000,
  /** What servers before MLflow 2.8 allow (from 1.28; 250 before). */
  oldParamValueLength: 500,
  keyLength: 250,
} as const;

export interface MlflowSettings {
  readonly uri: string;
  readonly experiment: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The settings from the environment; without MLFLOW_TRACKING_URI, an error naming it. */
export function mlflowSettings(env: NodeJS.ProcessEnv = process.env): MlflowSettings {
  const uri = env.MLFLOW_TRACKING_URI?.trim();
  if (uri === undefined || uri === '')
    throw new InvalidArgumentError(
      'MLFLOW_TRACKING_URI',
      'the URL of an MLflow tracking server',
      env.MLFLOW_TRACKING_URI,
      '--log mlflow: set MLFLOW_TRACKING_URI to the URL of an MLflow tracking server (e.g. http://localhost:5000)',
    );
  if (!/^https?:\/\//.test(uri))
    throw new InvalidArgumentError(
      'MLFLOW_TRACKING_URI',
      'an http:// or https:// URL of an MLflow tracking server',
      uri,
    );
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.MLFLOW_TRACKING_TOKEN) headers.authorization = `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
  else if (env.MLFLOW_TRACKING_USERNAME !== undefined && env.MLFLOW_TRACKING_PASSWORD !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD}`).toString('base64')}`;
  return {
    uri: uri.replace(/\/+$/, ''),
    experiment: env.MLFLOW_EXPERIMENT_NAME?.trim() || 'cyclesparse',
    headers,
  };
}

/** An answer from the server that is not 2xx. */
export class MlflowError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Json = Record<string, unknown>;

export class MlflowClient {
  readonly settings: MlflowSettings;
  readonly #timeoutMs: number;

  constructor(settings: MlflowSettings, options: { readonly timeoutMs?: number } = {}) {
    this.settings = settings;
    // A server that stops answering must not hold training up for long.
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  async request(method: 'GET' | 'POST', endpoint: string, body: Json): Promise<Json> {
    const url = new URL(`${this.settings.uri}/api/2.0/mlflow/${endpoint}`);
    if (method === 'GET')
      for (const [k, v] of Object.entries(body)) url.searchParams.set(k, String(v));
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: this.settings.headers,
        ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `cannot reach the MLflow tracking server at ${this.settings.uri} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
      );
    }
    const text = await response.text();
    let json: Json = {};
    try {
      json = text === '' ? {} : (JSON.parse(text) as Json);
    } catch {
      // not JSON (a proxy's error page): the status says enough
    }
    if (!response.ok) {
      const code = typeof json.error_code === 'string' ? json.error_code : undefined;
      const message = typeof json.message === 'string' ? json.message : text.slice(0, 200);
      throw new MlflowError(
        response.status,
        code,
        `${endpoint}: HTTP ${response.status}${code === undefined ? '' : ` ${code}`}${message === '' ? '' : `: ${message}`}`,
      );
    }
    return json;
  }

  /** The experiment's id, creating it if there is none of that name. */
  async experimentId(name: string): Promise<string> {
    const get = async () => {
      try {
        const answer = await this.request('GET', 'experiments/get-by-name', {
          experiment_name: name,
        });
        return String((answer.experiment as Json).experiment_id);
      } catch (error) {
        if (error instanceof MlflowError && error.code === 'RESOURCE_DOES_NOT_EXIST')
          return undefined;
        throw error;
      }
    };
    const found = await get();
    if (found !== undefined) return found;
    try {
      const created = await this.request('POST', 'experiments/create', { name });
      return String(created.experiment_id);
    } catch (error) {
      // Another cell of the sweep created it first.
      if (error instanceof MlflowError && error.code === 'RESOURCE_ALREADY_EXISTS') {
        const again = await get();
        if (again !== undefined) return again;
      }
      throw error;
    }
  }
}

/**
 * Before training: the server answers and the experiment exists (or is created). An
 * unreachable server or a refused request is the user's to fix: an error naming the URI.
 */
export async function checkMlflow(
  env: NodeJS.ProcessEnv = process.env,
  options: { readonly timeoutMs?: number } = {},
): Promise<string> {
  const settings = mlflowSettings(env);
  try {
    return await new MlflowClient(settings, {
      timeoutMs: options.timeoutMs ?? 10_000,
    }).experimentId(settings.experiment);
  } catch (error) {
    throw new InvalidArgumentError(
      'MLFLOW_TRACKING_URI',
      'a reachable MLflow tracking server',
      settings.uri,
      `--log mlflow: ${(error as Error).message}; check MLFLOW_TRACKING_URI (${settings.uri}) and the server`,
    );
  }
}

/** `items` in pieces of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const cut = (text: string, length: number) => (text.length > length ? text.slice(0, length) : text);

export class MlflowSink implements MetricSink {
  readonly name: string;
  readonly #client: MlflowClient;
  #runId: string | undefined;

  constructor(settings: MlflowSettings, options: { readonly timeoutMs?: number } = {}) {
    this.#client = new MlflowClient(settings, options);
    this.name = `MLflow (${settings.uri})`;
  }

  async start(run: RunStart): Promise<void> {
    const client = this.#client;
    const experiment = await client.experimentId(client.settings.experiment);
    if (run.firstStep > 0) {
      const found = await client.request('POST', 'runs/search', {
        experiment_ids: [experiment],
        filter: `attributes.run_name = '${run.id}'`,
        order_by: ['attributes.start_time DESC'],
        max_results: 1,
      });
      const previous = (found.runs as { info: { run_id: string } }[] | undefined)?.[0];
      if (previous !== undefined) {
        this.#runId = previous.info.run_id;
        await client.request('POST', 'runs/update', { run_id: this.#runId, status: 'RUNNING' });
        return;
      }
    }
    const tags = {
      'cyclesparse.run_id': run.id,
      'cyclesparse.method': run.config.method.name,
      'cyclesparse.seed': String(run.config.seed),
      'cyclesparse.backend': run.backend,
      ...(run.version === undefined ? {} : { 'cyclesparse.version': run.version }),
    };
    const created = await client.request('POST', 'runs/create', {
      experiment_id: experiment,
      run_name: run.id,
      start_time: Date.now(),
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    });
    this.#runId = String(((created.run as Json).info as Json).run_id);
    const params = Object.entries(flattenParams(run.config)).map(([key, value]) => ({
      key: cut(key, MLFLOW_LIMITS.keyLength),
      value: cut(value, MLFLOW_LIMITS.paramValueLength),
    }));
    const log = (batch: typeof params) =>
      client.request('POST', 'runs/log-batch', { run_id: this.#runId, params: batch });
    for (const batch of chunks(params, MLFLOW_LIMITS.paramsPerBatch)) {
      try {
        await log(batch);
      } catch (error) {
        // An older server refusing a long value: once more with values cut to its limit (a
        // param already logged with the same value is accepted again).
        const short = MLFLOW_LIMITS.oldParamValueLength;
        if (
          !(error instanceof MlflowError && error.status === 400) ||
          !batch.some((p) => p.value.length > short)
        )
          throw error;
        await log(batch.map((p) => ({ ...p, value: cut(p.value, short) })));
      }
    }
  }

  async epoch(event: EpochEvent): Promise<void> {
    // JSON has no NaN or infinity (a diverged epoch's loss): such values are left out.
    const metrics = Object.entries(event.values)
      .filter(([, value]) => Number.isFinite(value))
      .map(([key, value]) => ({
        key,
        value,
        timestamp: Math.round(event.time),
        step: event.step,
      }));
    for (const batch of chunks(metrics, MLFLOW_LIMITS.metricsPerBatch))
      await this.#client.request('POST', 'runs/log-batch', {
        run_id: this.#runOrThrow(),
        metrics: batch,
      });
  }

  async end(event: RunEnd): Promise<void> {
    await this.#client.request('POST', 'runs/update', {
      run_id: this.#runOrThrow(),
      status: event.status === 'failed' ? 'FAILED' : 'FINISHED',
      end_time: Date.now(),
    });
  }

  #runOrThrow(): string {
    if (this.#runId === undefined) throw new Error('no MLflow run was created');
    return this.#runId;
  }
}
