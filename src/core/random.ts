/**
 * Seeded randomness. One experiment seed derives independent named streams (`init`,
 * `dataOrder`, `augmentation`, `maskSampling`, `labelNoise`, or any other name such as
 * `init/conv1`), so adding a consumer of randomness never shifts the numbers another consumer
 * sees. Each stream is a xoroshiro128+ generator from pure-rand whose 128-bit state is a hash of
 * (seed, name).
 *
 * The hash is written here because pure-rand has no seed derivation: a murmur3-style mix of the
 * UTF-16 code units of `${seed}\u0000${name}`, finalised four ways with different constants. It
 * is part of the reproducibility contract (stored results depend on it): changing it changes every
 * random number, so `random.test.ts` freezes its outputs.
 */

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';
import { InvalidArgumentError, requireInteger } from './errors.js';

export const STREAM_NAMES = [
  'init',
  'dataOrder',
  'augmentation',
  'maskSampling',
  'labelNoise',
] as const;
export type StreamName = (typeof STREAM_NAMES)[number];

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 128 bits of state from (seed, name); never all zero (xoroshiro's one bad state). */
export function streamState(seed: number, name: string): [number, number, number, number] {
  const text = `${seed}\u0000${name}`;
  const lanes = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x6a09e667];
  const state = lanes.map((lane) => {
    let h = lane;
    for (let i = 0; i < text.length; i++) {
      let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    return fmix32(h ^ text.length ^ lane);
  }) as [number, number, number, number];
  if (state.every((w) => w === 0)) state[0] = 1;
  return state;
}

export class RandomStream {
  readonly #generator: JumpableRandomGenerator;

  constructor(generator: JumpableRandomGenerator) {
    this.#generator = generator;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    return this.#generator.next() >>> 0;
  }

  /** Uniform in [0, 1), 53 bits. */
  float(): number {
    return uniformFloat64(this.#generator);
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    requireInteger('min', min, Number.MIN_SAFE_INTEGER);
    requireInteger('max', max, min);
    return uniformInt(this.#generator, min, max);
  }

  /** Standard normal (Box–Muller; the second value is discarded to keep the stream simple). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Fills `out` with uniform values in [0, 1). */
  fillUniform(out: Float32Array | Float64Array): typeof out {
    for (let i = 0; i < out.length; i++) out[i] = this.float();
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    requireInteger('n', n, 0, 0xffffffff);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = uniformInt(this.#generator, 0, i);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }

  /** An independent copy at the same position. */
  clone(): RandomStream {
    return new RandomStream(this.#generator.clone());
  }

  /** The position in the stream (128 bits as four uint32), for checkpoints. */
  state(): number[] {
    return Array.from(this.#generator.getState(), (word) => word >>> 0);
  }

  /** The stream at a position saved by {@link state}. */
  static fromState(state: readonly number[]): RandomStream {
    const words: unknown = state;
    if (
      !Array.isArray(words) ||
      words.length !== 4 ||
      !words.every(
        (w) => Number.isInteger(w) && (w as number) >= 0 && (w as number) <= 0xffffffff,
      ) ||
      words.every((w) => w === 0)
    ) {
      throw new InvalidArgumentError('state', 'four uint32 words, not all zero', state);
    }
    return new RandomStream(xoroshiro128plusFromState(words.map((w: number) => w | 0)));
  }
}

function requireSeed(seed: number): number {
  return requireInteger('seed', seed, 0);
}

/** The stream `name` of experiment seed `seed`. */
export function randomStream(seed: number, name: StreamName | (string & {})): RandomStream {
  requireSeed(seed);
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', 'a non-empty stream name', name);
  }
  return new RandomStream(xoroshiro128plusFromState(streamState(seed, name)));
}

/** All streams of one experiment seed. */
export class SeedStreams {
  readonly seed: number;
  constructor(seed: number) {
    this.seed = requireSeed(seed);
  }
  stream(name: StreamName | (string & {})): RandomStream {
    return randomStream(this.seed, name);
  }
}
