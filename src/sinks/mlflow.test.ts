/**
 * The MLflow sink against a local server that implements the endpoints it uses as MLflow's REST
 * API 2.0 documents them (https://mlflow.org/docs/latest/rest-api.html): method, path and body
 * shape are checked on every call, LogBatch's limits enforced, and the calls recorded. What
 * reaches the server must be what the run stored: params = its resolved configuration, metrics
 * = its metrics.jsonl lines at their steps, status FINISHED.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import type { RunConfig } from '../config/schema.js';
import { InvalidArgumentError } from '../core/errors.js';
import { executeRun } from '../harness/execute.js';
import { Store } from '../store/store.js';
import { checkMlflow, mlflowSettings, MlflowSink } from './mlflow.js';
import { createSinks } from './open.js';

interface Call {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: Record<string, unknown>;
  readonly auth: string | undefined;
}

const isString = (v: unknown) => typeof v === 'string';
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const keyValues = (v: unknown) =>
  Array.isArray(v) &&
  v.every(
    (e: Record<string, unknown>) =>
      Object.keys(e).every((k) => k === 'key' || k === 'value') &&
      isString(e.key) &&
      isString(e.value),
  );

/** Field → check, per endpoint: the request fields MLflow documents (others are refused). */
const ENDPOINTS: Record<
  string,
  { method: string; fields: Record<string, (v: unknown) => boolean>; required: string[] }
> = {
  'experiments/get-by-name': {
    method: 'GET',
    fields: { experiment_name: isString },
    required: ['experiment_name'],
  },
  'experiments/create': {
    method: 'POST',
    fields: { name: isString, artifact_location: isString, tags: keyValues },
    required: ['name'],
  },
  'runs/create': {
    method: 'POST',
    fields: {
      experiment_id: isString,
      user_id: isString,
      run_name: isString,
      start_time: isInt,
      tags: keyValues,
    },
    required: ['experiment_id'],
  },
  'runs/search': {
    method: 'POST',
    fields: {
      experiment_ids: (v) => Array.isArray(v) && v.every(isString),
      filter: isString,
      run_view_type: isString,
      max_results: isInt,
      order_by: (v) => Array.isArray(v) && v.every(isString),
      page_token: isString,
    },
    required: [],
  },
  'runs/log-batch': {
    method: 'POST',
    fields: {
      run_id: isString,
      params: keyValues,
      tags: keyValues,
      metrics: (v) =>
        Array.isArray(v) &&
        v.every(
          (m: Record<string, unknown>) =>
            Object.keys(m).every((k) => ['key', 'value', 'timestamp', 'step'].includes(k)) &&
            isString(m.key) &&
            typeof m.value === 'number' &&
            isInt(m.timestamp) &&
            (m.step === undefined || isInt(m.step)),
        ),
    },
    required: ['run_id'],
  },
  'runs/update': {
    method: 'POST',
    fields: {
      run_id: isString,
      status: (v) => ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(v as string),
      end_time: isInt,
      run_name: isString,
    },
    required: ['run_id'],
  },
};

interface Metric {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

interface FakeMlflow {
  readonly uri: string;
  readonly calls: Call[];
  /** The params, metrics and status of each run, as the server keeps them. */
  readonly runs: Map<
    string,
    {
      name: string;
      tags: Record<string, string>;
      params: Map<string, string>;
      metrics: Metric[];
      status: string;
    }
  >;
  /** Answer the n-th log-batch (0-based) and later ones with HTTP 500. */
  failLogBatchFrom?: number;
  /** The longest param value accepted (6000 as MLflow ≥ 2.8; 500 before). */
  paramLimit: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function fakeMlflow(): Promise<FakeMlflow> {
  const calls: Call[] = [];
  const runs: FakeMlflow['runs'] = new Map();
  const experiments = new Map<string, string>();
  let logBatches = 0;
  const read = async (request: IncomingMessage) => {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    return text;
  };
  const fake: FakeMlflow = {
    uri: '',
    calls,
    runs,
    paramLimit: 6000,
    close: () => Promise.resolve(),
  };
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const text = await read(request);
      const answer = (status: number, json: object) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(json));
      };
      const bad = (message: string) =>
        answer(400, { error_code: 'INVALID_PARAMETER_VALUE', message });
      const endpoint = url.pathname.replace(/^\/api\/2\.0\/mlflow\//, '');
      const spec = ENDPOINTS[endpoint];
      if (!url.pathname.startsWith('/api/2.0/mlflow/') || spec === undefined)
        return answer(404, { error_code: 'ENDPOINT_NOT_FOUND', message: url.pathname });
      if (request.method !== spec.method) return answer(405, { message: 'method' });
      let body: Record<string, unknown> = {};
      if (spec.method === 'POST') {
        if (request.headers['content-type'] !== 'application/json') return bad('content-type');
        body = JSON.parse(text) as Record<string, unknown>;
      }
      const query = Object.fromEntries(url.searchParams);
      const fields = spec.method === 'GET' ? query : body;
      calls.push({
        method: request.method,
        path: endpoint,
        query,
        body,
        auth: request.headers.authorization,
      });
      for (const [name, value] of Object.entries(fields)) {
        const check = spec.fields[name];
        if (check === undefined) return bad(`unknown field ${name}`);
        if (!check(value)) return bad(`bad ${name}: ${JSON.stringify(value)}`);
      }
      for (const name of spec.required) if (!(name in fields)) return bad(`missing ${name}`);
      switch (endpoint) {
        case 'experiments/get-by-name': {
          const id = experiments.get(query.experiment_name!);
          return id === undefined
            ? answer(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no experiment' })
            : answer(200, { experiment: { experiment_id: id, name: query.experiment_name } });
        }
        case 'experiments/create': {
          const id = String(experiments.size + 1);
          experiments.set(body.name as string, id);
          return answer(200, { experiment_id: id });
        }
        case 'runs/create': {
          const id = `r${runs.size + 1}`;
          runs.set(id, {
            name: body.run_name as string,
            tags: Object.fromEntries(
              (body.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]),
            ),
            params: new Map(),
            metrics: [],
            status: 'RUNNING',
          });
          return answer(200, { run: { info: { run_id: id, run_uuid: id, status: 'RUNNING' } } });
        }
        case 'runs/search': {
          const name = /^attributes\.run_name = '(.*)'$/.exec(body.filter as string)?.[1];
          const found = [...runs].filter(([, r]) => r.name === name);
          return answer(200, {
            runs: found.map(([id, r]) => ({ info: { run_id: id, run_name: r.name } })),
          });
        }
        case 'runs/log-batch': {
          const run = runs.get(body.run_id as string);
          if (run === undefined) return answer(404, { error_code: 'RESOURCE_DOES_NOT_EXIST' });
          const metrics = (body.metrics ?? []) as Metric[];
          const params = (body.params ?? []) as { key: string; value: string }[];
          // MLflow's limits (mlflow/utils/validation.py).
          if (metrics.length > 1000 || params.length > 100 || metrics.length + params.length > 1000)
            return bad('batch over the limits');
          if (params.some((p) => p.value.length > fake.paramLimit || p.key.length > 250))
            return bad('param too long');
          if (fake.failLogBatchFrom !== undefined && logBatches++ >= fake.failLogBatchFrom)
            return answer(500, { error_code: 'INTERNAL_ERROR', message: 'disk full' });
          for (const p of params) {
            const before = run.params.get(p.key);
            if (before !== undefined && before !== p.value) return bad(`param ${p.key} changed`);
            run.params.set(p.key, p.value);
          }
          run.metrics.push(...metrics);
          return answer(200, {});
        }
        case 'runs/update': {
          const run = runs.get(body.run_id as string);
          if (run === undefined) return answer(404, { error_code: 'RESOURCE_DOES_NOT_EXIST' });
          run.status = body.status as string;
          return answer(200, { run_info: { run_id: body.run_id, status: body.status } });
        }
      }
      return answer(500, {});
    })();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(fake, {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
}

const yaml = `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 10 }
training: { epochsPerCycle: 2 }
method: { name: dense }
`;

/** Every leaf of a JSON value under its dotted path (written here, not the sink's flattening). */
function leaves(value: unknown, path: string[] = []): [string, unknown][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value))
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [[path.join('.'), value]];
}

describe('MLflow sink', () => {
  test('a run sends its resolved configuration, each stored epoch and FINISHED', async () => {
    const server = await fakeMlflow();
    const root = mkdtempSync(join(tmpdir(), 'mlflow-'));
    const store = new Store(root);
    const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
    const env = {
      MLFLOW_TRACKING_URI: `${server.uri}/`,
      MLFLOW_TRACKING_TOKEN: 'secret-token',
    };
    await expect(checkMlflow(env)).resolves.toBe('1'); // created "cyclesparse"
    const sinks = createSinks([{ kind: 'mlflow' }], { env });
    const outcome = await executeRun(store, config, undefined, { ...(sinks && { sinks }) });
    expect(outcome.state).toBe('finished');

    expect(server.calls.every((c) => c.auth === 'Bearer secret-token')).toBe(true);
    expect(server.calls.map((c) => c.path)).toEqual([
      'experiments/get-by-name',
      'experiments/create',
      'experiments/get-by-name',
      'runs/create',
      'runs/log-batch', // params
      'runs/log-batch', // epoch 1
      'runs/log-batch', // epoch 2
      'runs/update',
    ]);
    expect(server.calls[0]!.query).toEqual({ experiment_name: 'cyclesparse' });
    expect(server.runs.size).toBe(1);
    const run = server.runs.get('r1')!;
    expect(run.name).toBe(outcome.id);
    expect(run.status).toBe('FINISHED');
    expect(run.tags).toMatchObject({
      'cyclesparse.run_id': outcome.id,
      'cyclesparse.method': 'dense',
      'cyclesparse.seed': '0',
    });
    expect(run.tags['cyclesparse.version']).toBe(
      (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version,
    );

    const dir = store.runOf(config).path;
    const stored = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      config: unknown;
    };
    expect(run.tags['cyclesparse.backend']).toBe(
      (JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { backend: { name: string } })
        .backend.name,
    );
    const expected = new Map(
      leaves(stored.config).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
    );
    expect(new Map([...run.params].sort())).toEqual(new Map([...expected].sort()));

    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            metrics: Record<string, number>;
            test: { loss: number; accuracy: number };
          },
      );
    expect(lines).toHaveLength(2);
    for (const [step, line] of lines.entries()) {
      const at = Object.fromEntries(
        run.metrics.filter((m) => m.step === step).map((m) => [m.key, m.value]),
      );
      expect(at).toMatchObject({
        'train/loss': line.metrics.trainLoss,
        'train/accuracy': line.metrics.trainAccuracy,
        'train/learning_rate': line.metrics.learningRate,
        'test/loss': line.test.loss,
        'test/accuracy': line.test.accuracy,
        cycle: line.metrics.cycle,
      });
    }
    expect(run.metrics.every((m) => Math.abs(m.timestamp - Date.now()) < 600_000)).toBe(true);
  });

  test('a server failing mid-run: one warning, training goes on, the result is stored', async () => {
    const server = await fakeMlflow();
    server.failLogBatchFrom = 1; // params go through, the first epoch's metrics do not
    const store = new Store(mkdtempSync(join(tmpdir(), 'mlflow-fail-')));
    const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
    const warnings: string[] = [];
    const sinks = createSinks([{ kind: 'mlflow' }], {
      env: { MLFLOW_TRACKING_URI: server.uri },
      warn: (line) => warnings.push(line),
    });
    const outcome = await executeRun(store, config, undefined, { ...(sinks && { sinks }) });
    expect(outcome.state).toBe('finished');
    expect(store.runOf(config).metrics()).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/MLflow \(http:\/\/127\.0\.0\.1:\d+\).*HTTP 500.*disk full/);
    // After the failure nothing more is sent (no retry per epoch holding training up).
    expect(server.calls.filter((c) => c.path === 'runs/log-batch')).toHaveLength(2);
    expect(server.calls.some((c) => c.path === 'runs/update')).toBe(false);
  });

  test('params beyond LogBatch limits go in batches of 100, long values cut to 6000', async () => {
    const server = await fakeMlflow();
    const sink = new MlflowSink(
      mlflowSettings({
        MLFLOW_TRACKING_URI: server.uri,
        MLFLOW_EXPERIMENT_NAME: 'limits',
        MLFLOW_TRACKING_USERNAME: 'ann',
        MLFLOW_TRACKING_PASSWORD: 'pw:1',
      }),
    );
    const wide = Object.fromEntries(
      Array.from({ length: 250 }, (_, i) => [`k${i}`, i === 7 ? 'x'.repeat(7000) : i]),
    );
    const config = { method: { name: 'dense' }, seed: 3, wide } as unknown as RunConfig;
    await sink.start({ id: 'wide-run', config, backend: 'cpu', firstStep: 0 });
    const values = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`m${i}`, i]));
    await sink.epoch({ step: 4, phase: 'train', level: 0, epoch: 4, cycle: 0, values, time: 5 });
    await sink.end({ status: 'failed' });

    const batches = server.calls.filter((c) => c.path === 'runs/log-batch');
    expect(batches.map((c) => (c.body.params as unknown[] | undefined)?.length ?? 0)).toEqual([
      100, 100, 52, 0, 0,
    ]);
    expect(batches.map((c) => (c.body.metrics as unknown[] | undefined)?.length ?? 0)).toEqual([
      0, 0, 0, 1000, 500,
    ]);
    const run = server.runs.get('r1')!;
    expect(run.params.size).toBe(252);
    expect(run.params.get('wide.k7')).toBe('x'.repeat(6000));
    expect(run.params.get('seed')).toBe('3');
    expect(run.metrics.find((m) => m.key === 'm1499')).toEqual({
      key: 'm1499',
      value: 1499,
      step: 4,
      timestamp: 5,
    });
    expect(run.status).toBe('FAILED');
    expect(server.calls[0]!.auth).toBe(`Basic ${Buffer.from('ann:pw:1').toString('base64')}`);
    expect(server.calls[0]!.query).toEqual({ experiment_name: 'limits' });

    // A server before MLflow 2.8 (500 characters): the batch with the long value is sent again cut.
    const old = await fakeMlflow();
    old.paramLimit = 500;
    const oldSink = new MlflowSink(mlflowSettings({ MLFLOW_TRACKING_URI: old.uri }));
    await oldSink.start({ id: 'wide-run', config, backend: 'cpu', firstStep: 0 });
    expect(old.runs.get('r1')!.params.size).toBe(252);
    expect(old.runs.get('r1')!.params.get('wide.k7')).toBe('x'.repeat(500));
    expect(old.calls.filter((c) => c.path === 'runs/log-batch')).toHaveLength(4);
  });

  test('a resumed run goes on in the MLflow run of its name, params not sent again', async () => {
    const server = await fakeMlflow();
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
    const first = new MlflowSink(mlflowSettings(env));
    await first.start({ id: 'run-r', config, backend: 'cpu', firstStep: 0 });
    const second = new MlflowSink(mlflowSettings(env));
    await second.start({ id: 'run-r', config, backend: 'cpu', firstStep: 3 });
    await second.epoch({
      step: 3,
      phase: 'train',
      level: 0,
      epoch: 3,
      cycle: 0,
      values: { 'train/loss': Number.NaN, 'test/accuracy': 0.5 },
      time: 9,
    });
    await second.end({ status: 'finished' });
    expect(server.runs.size).toBe(1);
    const run = server.runs.get('r1')!;
    expect(run.status).toBe('FINISHED');
    // JSON cannot carry NaN: left out.
    expect(run.metrics).toEqual([{ key: 'test/accuracy', value: 0.5, step: 3, timestamp: 9 }]);
    const paramBatches = server.calls.filter(
      (c) => c.path === 'runs/log-batch' && c.body.params !== undefined,
    );
    expect(paramBatches).toHaveLength(1);
    const search = server.calls.find((c) => c.path === 'runs/search')!;
    expect(search.body).toMatchObject({ filter: "attributes.run_name = 'run-r'", max_results: 1 });
  });

  test('an unreachable server or no MLFLOW_TRACKING_URI: an error naming it, before training', async () => {
    const server = await fakeMlflow();
    const closed = server.uri;
    await new Promise((r) => servers.pop()!.close(r));
    const error = await checkMlflow({ MLFLOW_TRACKING_URI: closed }, { timeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(closed);
    expect((error as Error).message).toMatch(/cannot reach the MLflow tracking server/);
    expect(() => mlflowSettings({})).toThrow(/MLFLOW_TRACKING_URI/);
    expect(() => mlflowSettings({ MLFLOW_TRACKING_URI: 'localhost:5000' })).toThrow(
      /MLFLOW_TRACKING_URI: expected an http:\/\/ or https:\/\/ URL/,
    );
  });
});
