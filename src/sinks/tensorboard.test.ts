/**
 * TensorBoard event files read back as TensorBoard reads them: TFRecord frames whose CRCs are
 * checked with a bitwise CRC-32C written here (not the writer's library), `Event` messages
 * decoded by protobufjs from TensorBoard's own schema (fixtures/tensorboard-event.proto). The
 * scalars must be the metrics the run stored in metrics.jsonl, at steps = their lines.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { parseConfigText, resolveRun } from '../config/resolve.js';
import { executeRun } from '../harness/execute.js';
import { Store } from '../store/store.js';
import { setFaultHook } from '../train/faults.js';
import { createSinks } from './open.js';
import { TensorBoardSink } from './tensorboard.js';

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), one bit at a time. */
function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's mask (tensorflow/core/lib/hash/crc32c.h: rotate right 15, add 0xa282ead8). */
const masked = (crc: number) => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

/** The records of a TFRecord file, every length and data CRC checked. */
function readRecords(file: string): Buffer[] {
  const bytes = readFileSync(file);
  const records: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const lengthBytes = bytes.subarray(at, at + 8);
    expect(bytes.readUInt32LE(at + 8)).toBe(masked(crc32cBitwise(lengthBytes)));
    const length = Number(bytes.readBigUInt64LE(at));
    const data = bytes.subarray(at + 12, at + 12 + length);
    expect(data.length).toBe(length);
    expect(bytes.readUInt32LE(at + 12 + length)).toBe(masked(crc32cBitwise(data)));
    records.push(Buffer.from(data));
    at += 12 + length + 4;
  }
  expect(at).toBe(bytes.length);
  return records;
}

const schema = protobuf.parse(
  readFileSync(new URL('./fixtures/tensorboard-event.proto', import.meta.url), 'utf8'),
  { keepCase: true },
).root;
const EventType = schema.lookupType('tensorboard.Event');

interface DecodedEvent {
  wall_time?: number;
  step?: number;
  file_version?: string;
  session_log?: { status?: string };
  summary?: { value?: { tag: string; simple_value?: number }[] };
}

function readEvents(file: string): DecodedEvent[] {
  return readRecords(file).map(
    (data) =>
      EventType.toObject(EventType.decode(data), {
        longs: Number,
        enums: String,
        defaults: false,
      }) as DecodedEvent,
  );
}

const yaml = `extends: mini-mnist-lenet300
data: { trainPerClass: 10, testPerClass: 10 }
training: { epochsPerCycle: 2 }
method: { name: dense }
`;

describe('TensorBoard event files', () => {
  test('a run writes one event per stored epoch: tags, steps and values as in metrics.jsonl', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tb-'));
    const store = new Store(join(root, 'store'));
    const logdir = join(root, 'tb');
    const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
    const sinks = createSinks([{ kind: 'tensorboard', dir: logdir }]);
    const before = Date.now() / 1000;
    const outcome = await executeRun(store, config, undefined, { ...(sinks && { sinks }) });
    expect(outcome.state).toBe('finished');

    const stored = readFileSync(join(store.runOf(config).path, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            level: number;
            metrics: Record<string, number>;
            test: { loss: number; accuracy: number };
          },
      );
    expect(stored.length).toBe(2);

    const files = readdirSync(join(logdir, outcome.id));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d{10}\.[^/]+$/);
    const events = readEvents(join(logdir, outcome.id, files[0]!));
    expect(events[0]!.file_version).toBe('brain.Event:2');
    expect(events[1]).toMatchObject({ session_log: { status: 'START' } });
    expect(events[1]!.step ?? 0).toBe(0);
    const scalars = events.slice(2);
    expect(scalars).toHaveLength(stored.length);
    for (const [i, event] of scalars.entries()) {
      const line = stored[i]!;
      expect(event.step ?? 0).toBe(i);
      expect(event.wall_time).toBeGreaterThanOrEqual(Math.floor(before));
      const values = Object.fromEntries(
        (event.summary?.value ?? []).map((v) => [v.tag, v.simple_value]),
      );
      // simple_value is a float32: the stored doubles rounded to float32.
      expect(values).toEqual({
        'train/loss': Math.fround(line.metrics.trainLoss!),
        'train/accuracy': Math.fround(line.metrics.trainAccuracy!),
        'train/learning_rate': Math.fround(line.metrics.learningRate!),
        'train/seconds': Math.fround(line.metrics.seconds!),
        'test/loss': Math.fround(line.test.loss),
        'test/accuracy': Math.fround(line.test.accuracy),
        cycle: line.metrics.cycle,
        level: line.level,
      });
    }
  });

  test('a resumed run appends a new file that starts with SessionLog START at its first step', async () => {
    const logdir = mkdtempSync(join(tmpdir(), 'tb-resume-'));
    const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
    const run = { id: 'run-x', config, backend: 'cpu' };
    const first = new TensorBoardSink(logdir, 'host/a');
    await first.start({ ...run, firstStep: 0 });
    for (const step of [0, 1, 2])
      await first.epoch({
        step,
        phase: 'train',
        level: 0,
        epoch: step,
        cycle: 0,
        values: { 'test/accuracy': step / 10, big: 2 ** 40 + step },
        time: 1_700_000_000_000 + step * 1000,
      });
    await first.end();
    const second = new TensorBoardSink(logdir, 'host/a');
    await second.start({ ...run, firstStep: 2 });
    await second.epoch({
      step: 2,
      phase: 'train',
      level: 0,
      epoch: 2,
      cycle: 0,
      values: { 'test/accuracy': 0.25 },
      time: 1_700_000_005_000,
    });
    // Steps past 32 bits (multi-byte varints) read back exactly.
    await second.epoch({
      step: 2 ** 33 + 300,
      phase: 'train',
      level: 0,
      epoch: 3,
      cycle: 0,
      values: {},
      time: 1_700_000_006_000,
    });
    await second.end();

    // Same second: the second file's name sorts after the first (TensorBoard reads in name order).
    const files = readdirSync(join(logdir, 'run-x')).sort();
    expect(files).toHaveLength(2);
    expect(join(logdir, 'run-x', files[0]!)).toBe(first.file);
    expect(join(logdir, 'run-x', files[1]!)).toBe(second.file);
    expect(files[0]).toContain('.host_a');

    const old = readEvents(first.file!);
    expect(old.map((e) => e.step ?? 0)).toEqual([0, 0, 0, 1, 2]);
    expect(old[1]!.session_log?.status).toBe('START');
    expect(old[4]!.wall_time).toBe(1_700_000_002);
    expect(old[4]!.summary?.value?.map((v) => v.simple_value)).toEqual([
      Math.fround(0.2),
      Math.fround(2 ** 40 + 2),
    ]);
    const resumed = readEvents(second.file!);
    expect(resumed[0]!.file_version).toBe('brain.Event:2');
    expect(resumed[1]).toMatchObject({ step: 2, session_log: { status: 'START' } });
    expect(resumed[2]).toMatchObject({ step: 2, wall_time: 1_700_000_005 });
    expect(resumed[3]!.step).toBe(2 ** 33 + 300);
    expect(resumed).toHaveLength(4);
  });

  test('a run stopped and resumed: after TensorBoard’s restart purge, the events are metrics.jsonl', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tb-stop-'));
    const store = new Store(join(root, 'store'));
    const logdir = join(root, 'tb');
    const config = resolveRun(
      parseConfigText(yaml.replace('epochsPerCycle: 2', 'epochsPerCycle: 4'), 'test.yaml'),
    );
    const sinks = () => createSinks([{ kind: 'tensorboard', dir: logdir }])!;
    // Stopped as a kill would, between writing the third checkpoint's tensors and publishing it:
    // the epoch before it is stored but not covered by a checkpoint, so it is trained again.
    let written = 0;
    setFaultHook((point) => {
      if (point === 'state:tensors-written' && ++written === 3) throw new Error('stopped here');
    });
    try {
      expect((await executeRun(store, config, undefined, { sinks: sinks() })).state).toBe('failed');
    } finally {
      setFaultHook(undefined);
    }
    const outcome = await executeRun(store, config, undefined, { sinks: sinks() });
    expect(outcome).toMatchObject({ state: 'finished', resumed: true });

    const files = readdirSync(join(logdir, outcome.id)).sort();
    expect(files).toHaveLength(2);
    // TensorBoard's rule (plugin_event_accumulator._CheckForRestartAndMaybePurge): a run's first
    // SessionLog START begins it; each later one drops the events at its step and after.
    let shown: { step: number; accuracy: number | undefined }[] = [];
    let starts = 0;
    for (const file of files)
      for (const event of readEvents(join(logdir, outcome.id, file))) {
        const step = event.step ?? 0;
        if (event.session_log?.status === 'START' && starts++ > 0)
          shown = shown.filter((e) => e.step < step);
        const accuracy = event.summary?.value?.find((v) => v.tag === 'test/accuracy');
        if (accuracy !== undefined) shown.push({ step, accuracy: accuracy.simple_value });
      }
    expect(starts).toBe(2);
    const stored = store.runOf(config).metrics();
    expect(stored).toHaveLength(4);
    expect(shown).toEqual(
      stored.map((line, step) => ({ step, accuracy: Math.fround(line.test.accuracy) })),
    );
    const resumedAt = readEvents(join(logdir, outcome.id, files[1]!))[1]!;
    expect(resumedAt.session_log?.status).toBe('START');
    expect(resumedAt.step ?? 0).toBeGreaterThan(0);
    // The stopped session had written the epoch trained again: the purge is what hides it.
    const before = readEvents(join(logdir, outcome.id, files[0]!)).map((e) => e.step ?? 0);
    expect(Math.max(...before)).toBeGreaterThanOrEqual(resumedAt.step!);
  });

  // TensorBoard itself, where a Python with the tensorboard package is at hand (not in CI; set
  // TENSORBOARD_PYTHON to one): its multiplexer loads the folder as the server does.
  const python = process.env.TENSORBOARD_PYTHON ?? '/usr/bin/python3';
  const hasTensorBoard =
    spawnSync(python, ['-c', 'import tensorboard'], { encoding: 'utf8' }).status === 0;
  test.skipIf(!hasTensorBoard)(
    'TensorBoard loads one run per folder; a resumed file purges the steps trained again',
    async () => {
      const logdir = mkdtempSync(join(tmpdir(), 'tb-real-'));
      const config = resolveRun(parseConfigText(yaml, 'test.yaml'));
      const epoch = (sink: TensorBoardSink, step: number, accuracy: number) =>
        sink.epoch({
          step,
          phase: 'train',
          level: 0,
          epoch: step,
          cycle: 0,
          values: { 'test/accuracy': accuracy },
          time: 1_700_000_000_000 + step * 1000,
        });
      const first = new TensorBoardSink(logdir);
      await first.start({ id: 'a', config, backend: 'cpu', firstStep: 0 });
      for (const step of [0, 1, 2, 3]) await epoch(first, step, step / 10);
      await first.end();
      const resumed = new TensorBoardSink(logdir);
      await resumed.start({ id: 'a', config, backend: 'cpu', firstStep: 2 });
      for (const step of [2, 3, 4]) await epoch(resumed, step, 0.5 + step / 100);
      await resumed.end();
      const other = new TensorBoardSink(logdir);
      await other.start({ id: 'b', config, backend: 'cpu', firstStep: 0 });
      await epoch(other, 0, 0.75);
      await other.end();

      const read = spawnSync(
        python,
        [
          '-c',
          `import json, sys
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
from tensorboard.util import tensor_util
m = pem.EventMultiplexer()
m.AddRunsFromDirectory(sys.argv[1])
m.Reload()
print(json.dumps({run: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
  for e in m.Tensors(run, 'test/accuracy')] for run in sorted(m.Runs())}))`,
          logdir,
        ],
        { encoding: 'utf8' },
      );
      expect(read.status).toBe(0);
      expect(JSON.parse(read.stdout)).toEqual({
        a: [
          [0, 0],
          [1, Math.fround(0.1)],
          [2, Math.fround(0.52)],
          [3, Math.fround(0.53)],
          [4, Math.fround(0.54)],
        ],
        b: [[0, 0.75]],
      });
    },
  );
});
