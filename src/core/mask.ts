/**
 * Masks: which weights of which layers are kept. A mask is immutable; pruning returns a new one.
 * Storage is one packed bit vector per layer (1 bit a weight: 3.2 MB for ResNet-50's 25.6M
 * weights), and the layer order given at construction is the flat-index order used by global
 * selection.
 */

import { z } from 'zod';
import {
  allOnes,
  andCount,
  equalWords,
  getBit,
  isSubset,
  orCount,
  popcount,
  wordCount,
} from './bits.js';
import { InvalidArgumentError, schemaError } from './errors.js';

/**
 * How a weight tensor's axes map to channels. Only ER needs it (density ∝ (c_in + c_out) /
 * (c_in · c_out)); TF.js conventions are the default: `io` for 2-D, `hwio` for 4-D.
 */
export type WeightLayout = 'io' | 'oi' | 'hwio' | 'oihw';

export interface LayerSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly layout?: WeightLayout;
}

export function layerSize(spec: LayerSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

/** Input and output channel counts of a 2-D or 4-D weight, by its layout. */
export function channels(spec: LayerSpec): { in: number; out: number } | undefined {
  const s = spec.shape;
  const layout = spec.layout ?? (s.length === 2 ? 'io' : s.length === 4 ? 'hwio' : undefined);
  switch (layout) {
    case 'io':
      return s.length === 2 ? { in: s[0]!, out: s[1]! } : undefined;
    case 'oi':
      return s.length === 2 ? { in: s[1]!, out: s[0]! } : undefined;
    case 'hwio':
      return s.length === 4 ? { in: s[2]!, out: s[3]! } : undefined;
    case 'oihw':
      return s.length === 4 ? { in: s[1]!, out: s[0]! } : undefined;
    default:
      return undefined;
  }
}

/** Validates a layer list: non-empty, unique non-empty names, positive integer dimensions. */
export function validateLayers(layers: readonly LayerSpec[], argument = 'layers'): void {
  // Checked through `unknown` values: JS callers can pass anything, and Array.isArray on a
  // typed readonly array would narrow it to any[].
  const list: unknown = layers;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(argument, 'a non-empty list of layers', layers);
  }
  const seen = new Set<string>();
  layers.forEach((layer, i) => {
    if (typeof layer.name !== 'string' || layer.name.length === 0) {
      throw new InvalidArgumentError(`${argument}[${i}].name`, 'a non-empty string', layer.name);
    }
    if (seen.has(layer.name)) {
      throw new InvalidArgumentError(`${argument}[${i}].name`, 'a unique layer name', layer.name);
    }
    seen.add(layer.name);
    const shape: unknown = layer.shape;
    if (
      !Array.isArray(shape) ||
      shape.length === 0 ||
      !shape.every((d: unknown) => typeof d === 'number' && Number.isSafeInteger(d) && d > 0)
    ) {
      throw new InvalidArgumentError(
        `${argument}[${i}].shape`,
        'a non-empty list of positive integers',
        layer.shape,
      );
    }
    if (layer.layout !== undefined && channels(layer) === undefined) {
      throw new InvalidArgumentError(
        `${argument}[${i}].layout`,
        `a layout matching a ${layer.shape.length}-D shape ('io'/'oi' for 2-D, 'hwio'/'oihw' for 4-D)`,
        layer.layout,
      );
    }
  });
}

export interface LayerSparsity {
  readonly name: string;
  readonly size: number;
  readonly kept: number;
  readonly sparsity: number;
}

/** The stored form's shape (`Mask.fromJSON` also checks sizes); stores check files with it. */
export const maskJsonSchema = z
  .object({
    format: z.literal('cyclesparse.mask'),
    version: z.literal(1),
    layers: z
      .array(
        z
          .object({
            name: z.string().min(1),
            shape: z.array(z.number().int().positive()).min(1),
            layout: z.enum(['io', 'oi', 'hwio', 'oihw']).optional(),
            kept: z.number().int().nonnegative(),
            bits: z.string(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** The stored form of a mask: plain JSON, bits as base64 of little-endian bytes. */
export type MaskJson = z.infer<typeof maskJsonSchema>;

export class Mask {
  readonly layers: readonly LayerSpec[];
  readonly #bits: ReadonlyMap<string, Uint32Array>;
  readonly #index: ReadonlyMap<string, number>;

  private constructor(layers: readonly LayerSpec[], bits: Map<string, Uint32Array>) {
    this.layers = Object.freeze(
      layers.map((l) => Object.freeze({ ...l, shape: Object.freeze<number[]>([...l.shape]) })),
    );
    this.#bits = bits;
    this.#index = new Map(layers.map((l, i) => [l.name, i]));
  }

  /** Every weight kept. */
  static dense(layers: readonly LayerSpec[]): Mask {
    validateLayers(layers);
    return new Mask(layers, new Map(layers.map((l) => [l.name, allOnes(layerSize(l))])));
  }

  /** From 0/1 arrays, one per layer (any other value is an error naming layer and index). */
  static fromArrays(
    layers: readonly LayerSpec[],
    values: Readonly<Record<string, ArrayLike<number>>>,
  ): Mask {
    validateLayers(layers);
    const bits = new Map<string, Uint32Array>();
    for (const layer of layers) {
      const data = values[layer.name];
      const size = layerSize(layer);
      if (data === undefined || data.length !== size) {
        throw new InvalidArgumentError(
          `mask.${layer.name}`,
          `${size} values for shape [${layer.shape.join(', ')}]`,
          data === undefined ? undefined : `${data.length} values`,
        );
      }
      const words = new Uint32Array(wordCount(size));
      for (let i = 0; i < size; i++) {
        const v = data[i];
        if (v === 1) words[i >>> 5] = (words[i >>> 5]! | (1 << (i & 31))) >>> 0;
        else if (v !== 0) {
          throw new InvalidArgumentError(`mask.${layer.name}[${i}]`, '0 or 1', v);
        }
      }
      bits.set(layer.name, words);
    }
    const extra = Object.keys(values).filter((name) => !bits.has(name));
    if (extra.length > 0) {
      throw new InvalidArgumentError('mask', `only layers of the layer list`, extra);
    }
    return new Mask(layers, bits);
  }

  /** @internal Adopts packed bit vectors (trusted: built by core modules). */
  static fromBits(layers: readonly LayerSpec[], bits: ReadonlyMap<string, Uint32Array>): Mask {
    return new Mask(layers, new Map(bits));
  }

  static fromJSON(json: unknown): Mask {
    const parsed = maskJsonSchema.safeParse(json);
    if (!parsed.success) throw schemaError('mask', parsed.error.issues[0]!);
    const layers = parsed.data.layers.map(({ name, shape, layout }) =>
      layout === undefined ? { name, shape } : { name, shape, layout },
    );
    validateLayers(layers, 'mask.layers');
    const bits = new Map<string, Uint32Array>();
    parsed.data.layers.forEach((entry, i) => {
      const size = entry.shape.reduce((a, b) => a * b, 1);
      const bytes = fromBase64(entry.bits, `mask.layers.${i}.bits`);
      if (bytes.length !== (size + 7) >>> 3) {
        throw new InvalidArgumentError(
          `mask.layers.${i}.bits`,
          `${(size + 7) >>> 3} bytes for ${size} weights`,
          `${bytes.length} bytes`,
        );
      }
      const words = new Uint32Array(wordCount(size));
      bytes.forEach((byte, b) => {
        words[b >>> 2] = (words[b >>> 2]! | (byte << ((b & 3) * 8))) >>> 0;
      });
      const tail = size & 31;
      if (tail !== 0 && words[words.length - 1]! >>> tail !== 0) {
        throw new InvalidArgumentError(
          `mask.layers.${i}.bits`,
          'no bits past the layer size',
          'set',
        );
      }
      if (popcount(words) !== entry.kept) {
        throw new InvalidArgumentError(
          `mask.layers.${i}.kept`,
          `the number of set bits (${popcount(words)})`,
          entry.kept,
        );
      }
      bits.set(entry.name, words);
    });
    return new Mask(layers, bits);
  }

  toJSON(): MaskJson {
    return {
      format: 'cyclesparse.mask',
      version: 1,
      layers: this.layers.map((layer) => {
        const words = this.#words(layer.name);
        const bytes = new Uint8Array((layerSize(layer) + 7) >>> 3);
        for (let b = 0; b < bytes.length; b++)
          bytes[b] = (words[b >>> 2]! >>> ((b & 3) * 8)) & 0xff;
        return {
          name: layer.name,
          shape: [...layer.shape],
          ...(layer.layout === undefined ? {} : { layout: layer.layout }),
          kept: popcount(words),
          bits: toBase64(bytes),
        };
      }),
    };
  }

  #words(name: string): Uint32Array {
    const words = this.#bits.get(name);
    if (words === undefined) {
      throw new InvalidArgumentError('layer', `one of ${this.names().join(', ')}`, name);
    }
    return words;
  }

  names(): string[] {
    return this.layers.map((l) => l.name);
  }

  has(name: string): boolean {
    return this.#index.has(name);
  }

  layer(name: string): LayerSpec {
    return this.layers[this.#layerIndex(name)]!;
  }

  #layerIndex(name: string): number {
    const i = this.#index.get(name);
    if (i === undefined) {
      throw new InvalidArgumentError('layer', `one of ${this.names().join(', ')}`, name);
    }
    return i;
  }

  /** @internal The packed bits of one layer. A view: callers must not write to it. */
  bitsOf(name: string): Uint32Array {
    return this.#words(name);
  }

  size(name: string): number {
    return layerSize(this.layer(name));
  }

  kept(name: string): number {
    return popcount(this.#words(name));
  }

  get totalSize(): number {
    return this.layers.reduce((sum, l) => sum + layerSize(l), 0);
  }

  get totalKept(): number {
    return this.layers.reduce((sum, l) => sum + popcount(this.#words(l.name)), 0);
  }

  /** Pruned / all masked weights. */
  sparsity(): number {
    return 1 - this.totalKept / this.totalSize;
  }

  layerSparsity(name: string): number {
    return 1 - this.kept(name) / this.size(name);
  }

  perLayer(): LayerSparsity[] {
    return this.layers.map((l) => {
      const size = layerSize(l);
      const kept = popcount(this.#words(l.name));
      return { name: l.name, size, kept, sparsity: 1 - kept / size };
    });
  }

  isKept(name: string, index: number): boolean {
    const size = this.size(name);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new InvalidArgumentError('index', `an integer in [0, ${size - 1}]`, index);
    }
    return getBit(this.#words(name), index);
  }

  /** One layer as 0/1 bytes, row-major like the weight tensor. */
  toArray(name: string): Uint8Array {
    const words = this.#words(name);
    const out = new Uint8Array(this.size(name));
    for (let i = 0; i < out.length; i++) out[i] = (words[i >>> 5]! >>> (i & 31)) & 1;
    return out;
  }

  /** Same layers (names, shapes, order) as `other`. */
  sameLayersAs(other: Mask): boolean {
    return (
      this.layers.length === other.layers.length &&
      this.layers.every((l, i) => {
        const o = other.layers[i]!;
        return l.name === o.name && l.shape.join() === o.shape.join();
      })
    );
  }

  /** Every weight kept here is kept in `other` (this mask is a pruning of `other`). */
  isSubsetOf(other: Mask): boolean {
    requireSameLayers(this, other);
    return this.layers.every((l) => isSubset(this.#words(l.name), other.bitsOf(l.name)));
  }

  equals(other: Mask): boolean {
    return (
      this.sameLayersAs(other) &&
      this.layers.every((l) => equalWords(this.#words(l.name), other.bitsOf(l.name)))
    );
  }
}

function requireSameLayers(a: Mask, b: Mask): void {
  if (!a.sameLayersAs(b)) {
    throw new InvalidArgumentError(
      'masks',
      'two masks over the same layers (names, shapes, order)',
      `[${a.names().join(', ')}] vs [${b.names().join(', ')}]`,
    );
  }
}

export interface LayerOverlap {
  readonly name: string;
  readonly intersection: number;
  readonly union: number;
  /** |A ∩ B| / |A ∪ B|; 1 when both keep nothing (two identical empty sets). */
  readonly iou: number;
}

/** Per-layer overlap of the kept sets of two masks over the same layers. */
export function layerOverlap(a: Mask, b: Mask): LayerOverlap[] {
  requireSameLayers(a, b);
  return a.layers.map(({ name }) => {
    const intersection = andCount(a.bitsOf(name), b.bitsOf(name));
    const union = orCount(a.bitsOf(name), b.bitsOf(name));
    return { name, intersection, union, iou: union === 0 ? 1 : intersection / union };
  });
}

/** Intersection over union of the kept sets over all layers; 1 when both keep nothing. */
export function intersectionOverUnion(a: Mask, b: Mask): number {
  const layers = layerOverlap(a, b);
  const intersection = layers.reduce((s, l) => s + l.intersection, 0);
  const union = layers.reduce((s, l) => s + l.union, 0);
  return union === 0 ? 1 : intersection / union;
}

// base64 through the platform's btoa/atob (Node >= 16 and browsers) keeps core free of node:*.
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

function fromBase64(text: string, argument: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new InvalidArgumentError(argument, 'base64 text', text);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
