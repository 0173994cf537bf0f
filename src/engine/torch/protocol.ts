/**
 * The PyTorch process's wire format (python/cyclesparse_torch.py has the other half): a frame is
 * a little-endian u32 length, a JSON header of that many bytes, then the raw little-endian bytes
 * of each tensor the header lists under `tensors` as [name, dtype, shape], in order. Compact
 * (tensors are never text), self-describing, and readable with nothing but the standard library
 * on either side.
 */

export type WireDtype = 'float32' | 'float64' | 'uint8' | 'int16' | 'int32';

export type WireArray = Float32Array | Float64Array | Uint8Array | Int16Array | Int32Array;

export interface WireTensor {
  readonly name: string;
  readonly data: WireArray;
  readonly shape: readonly number[];
}

export type Header = Record<string, unknown>;

const ELEMENT: Record<
  WireDtype,
  { bytes: number; make: (b: ArrayBuffer, o: number, n: number) => WireArray }
> = {
  float32: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  float64: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  uint8: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  int16: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  int32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
};

function dtypeOf(data: WireArray): WireDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  return 'int32';
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** One frame: the header (with its tensor list) and every tensor's bytes, as buffers to write. */
export function encodeFrame(header: Header, tensors: readonly WireTensor[] = []): Buffer[] {
  const listed = tensors.map((t) => {
    if (sizeOf(t.shape) !== t.data.length)
      throw new Error(`tensor ${t.name}: shape ${t.shape.join('×')} for ${t.data.length} values`);
    return [t.name, dtypeOf(t.data), t.shape];
  });
  const json = Buffer.from(JSON.stringify({ ...header, tensors: listed }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length, 0);
  return [
    length,
    json,
    ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ];
}

export interface Frame {
  readonly header: Header;
  readonly tensors: Map<string, WireTensor>;
}

/** Reassembles frames from a byte stream delivered in arbitrary chunks. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The header of the frame being read, once complete, with the frame's total size. */
  #pending: { header: Header; jsonEnd: number; total: number } | undefined;

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  #take(bytes: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const head = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return head;
  }

  #peek(bytes: number): Buffer {
    if (this.#chunks[0]!.length < bytes) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!.subarray(0, bytes);
  }

  #next(): Frame | undefined {
    if (this.#pending === undefined) {
      if (this.#buffered < 4) return undefined;
      const jsonLength = this.#peek(4).readUInt32LE(0);
      if (this.#buffered < 4 + jsonLength) return undefined;
      const header = JSON.parse(this.#peek(4 + jsonLength).toString('utf8', 4)) as Header;
      let total = 4 + jsonLength;
      for (const [, dtype, shape] of (header.tensors ?? []) as [string, WireDtype, number[]][])
        total += sizeOf(shape) * ELEMENT[dtype].bytes;
      this.#pending = { header, jsonEnd: 4 + jsonLength, total };
    }
    const { header, jsonEnd, total } = this.#pending;
    if (this.#buffered < total) return undefined;
    this.#pending = undefined;
    const frame = this.#take(total);
    // One aligned copy of the tensor bytes; typed arrays are views into it.
    const body = new ArrayBuffer(total - jsonEnd);
    new Uint8Array(body).set(frame.subarray(jsonEnd));
    const tensors = new Map<string, WireTensor>();
    let offset = 0;
    for (const [name, dtype, shape] of (header.tensors ?? []) as [string, WireDtype, number[]][]) {
      const { bytes, make } = ELEMENT[dtype];
      // Views must be aligned to their element size: copy the rare misaligned one.
      const n = sizeOf(shape);
      const data =
        offset % bytes === 0
          ? make(body, offset, n)
          : make(body.slice(offset, offset + n * bytes), 0, n);
      tensors.set(name, { name, data, shape });
      offset += n * bytes;
    }
    return { header, tensors };
  }
}
