/**
 * TensorBoard event files: `DIR/<run id>/events.out.tfevents.<seconds>.<host>`, one folder per
 * run so TensorBoard shows runs side by side. Each file is a TFRecord stream (uint64 length,
 * masked CRC-32C of the length, the data, masked CRC-32C of the data) of `Event` protocol
 * buffers: first `file_version: "brain.Event:2"`, then one event per epoch with the epoch's
 * metrics as scalar summaries (`simple_value`) at step = the epoch's line in metrics.jsonl.
 *
 * The few protobuf fields are encoded by hand: the writers TensorBoard documents need
 * TensorFlow (or PyTorch) and its native library, and no maintained Node package writes event
 * files; field numbers are those of tensorboard/compat/proto/event.proto and summary.proto.
 *
 * Every event is written to the file as it happens (a live TensorBoard sees each epoch). Each
 * file (a fresh or a resumed run) starts with `SessionLog START` at its first step; a resumed
 * run appends a new file, and its START makes TensorBoard drop the earlier files' events at that
 * step and later (epochs trained after the checkpoint and trained again), as after a TensorFlow
 * restart, so no step is shown twice (checked with TensorBoard 2.21's loader).
 */

import { crc32c } from '@aws-crypto/crc32c';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { EpochEvent, MetricSink, RunStart } from './sink.js';

// ---- protobuf wire format (https://protobuf.dev/programming-guides/encoding/) ----

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A non-negative integer below 2^53 as a base-128 varint. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

const key = (field: number, wire: number) => varint(field * 8 + wire);

function doubleField(field: number, value: number): Buffer {
  const data = Buffer.alloc(8);
  data.writeDoubleLE(value);
  return Buffer.concat([key(field, FIXED64), data]);
}

function floatField(field: number, value: number): Buffer {
  const data = Buffer.alloc(4);
  data.writeFloatLE(value);
  return Buffer.concat([key(field, FIXED32), data]);
}

const varintField = (field: number, value: number) =>
  Buffer.concat([key(field, VARINT), varint(value)]);

function bytesField(field: number, data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([key(field, LENGTH_DELIMITED), varint(bytes.length), bytes]);
}

// Event (event.proto): wall_time 1 (double), step 2 (int64), file_version 3, summary 5,
// session_log 7. Summary (summary.proto): value 1 (repeated Value); Value: tag 1, simple_value 2
// (float). SessionLog: status 1 (START = 1).

export const FILE_VERSION = 'brain.Event:2';

function event(wallTime: number, step: number, what: Buffer): Buffer {
  return Buffer.concat([
    doubleField(1, wallTime),
    ...(step === 0 ? [] : [varintField(2, step)]), // proto3 leaves defaults out
    what,
  ]);
}

export function fileVersionEvent(wallTime: number): Buffer {
  return event(wallTime, 0, bytesField(3, FILE_VERSION));
}

export function sessionStartEvent(wallTime: number, step: number): Buffer {
  return event(wallTime, step, bytesField(7, varintField(1, 1)));
}

export function scalarsEvent(
  wallTime: number,
  step: number,
  values: Readonly<Record<string, number>>,
): Buffer {
  const summary = Buffer.concat(
    Object.entries(values).map(([tag, value]) =>
      bytesField(1, Buffer.concat([bytesField(1, tag), floatField(2, value)])),
    ),
  );
  return event(wallTime, step, bytesField(5, summary));
}

// ---- TFRecord framing (tensorflow/core/lib/io/record_writer.cc) ----

const MASK_DELTA = 0xa282ead8;

/** CRC-32C rotated right by 15 bits plus a constant, as TFRecord stores it. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function tfRecord(data: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc32c(data));
  return Buffer.concat([header, data, footer]);
}

// ---- the sink ----

/** Writes each run's metrics under `dir/<run id>/`. */
export class TensorBoardSink implements MetricSink {
  readonly name: string;
  readonly #dir: string;
  readonly #host: string;
  #fd: number | undefined;
  /** The file this process writes (for tests and messages). */
  file: string | undefined;

  constructor(dir: string, host = hostname()) {
    this.#dir = dir;
    this.#host = host.replace(/[/\\]/g, '_');
    this.name = `TensorBoard (${dir})`;
  }

  start(run: RunStart): Promise<void> {
    const folder = join(this.#dir, run.id);
    mkdirSync(folder, { recursive: true });
    const now = Date.now();
    const base = `events.out.tfevents.${Math.floor(now / 1000)}.${this.#host}`;
    // A file of the same second (a run resumed at once) is never appended to: `.1`, `.2`, …
    // sort after it, and TensorBoard reads a folder's files in name order.
    for (let n = 0; this.#fd === undefined; n++) {
      const name = n === 0 ? base : `${base}.${n}`;
      try {
        this.#fd = openSync(join(folder, name), 'wx');
        this.file = join(folder, name);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw error;
      }
    }
    this.#write(fileVersionEvent(now / 1000));
    // Every session starts with SessionLog START at its first step, as TensorFlow's writers do:
    // TensorBoard takes the first START of a run as its beginning and every later one as a
    // restart that purges the earlier events at its step and later.
    this.#write(sessionStartEvent(now / 1000, run.firstStep));
    return Promise.resolve();
  }

  epoch(event: EpochEvent): Promise<void> {
    this.#write(scalarsEvent(event.time / 1000, event.step, event.values));
    return Promise.resolve();
  }

  end(): Promise<void> {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    return Promise.resolve();
  }

  /** One record, written through to the file (TensorBoard polls the file). */
  #write(data: Buffer): void {
    if (this.#fd === undefined) throw new Error('the event file is not open');
    const record = tfRecord(data);
    let at = 0;
    while (at < record.length) at += writeSync(this.#fd, record, at);
  }
}
