/**
 * Packed bit vectors: bit `i` of a vector lives in word `i >>> 5` at position `i & 31`.
 * Bits past the vector's length are always 0, so whole-word operations (popcount, equality,
 * subset tests) need no tail handling.
 */

export function wordCount(length: number): number {
  return (length + 31) >>> 5;
}

/** A vector of `length` ones. */
export function allOnes(length: number): Uint32Array {
  const words = new Uint32Array(wordCount(length));
  words.fill(0xffffffff);
  const tail = length & 31;
  if (tail !== 0) words[words.length - 1] = (2 ** tail - 1) >>> 0;
  return words;
}

export function popcount32(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function popcount(words: Uint32Array): number {
  let total = 0;
  for (let i = 0; i < words.length; i++) total += popcount32(words[i]!);
  return total;
}

export function getBit(words: Uint32Array, index: number): boolean {
  return ((words[index >>> 5]! >>> (index & 31)) & 1) === 1;
}

/** Number of set bits in `a & b`. */
export function andCount(a: Uint32Array, b: Uint32Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += popcount32(a[i]! & b[i]!);
  return total;
}

/** Number of set bits in `a | b`. */
export function orCount(a: Uint32Array, b: Uint32Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += popcount32(a[i]! | b[i]!);
  return total;
}

/** True when every bit set in `a` is set in `b`. */
export function isSubset(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i]! & ~b[i]!) !== 0) return false;
  return true;
}

export function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Calls `visit(index)` for every set bit, in increasing index order. */
export function forEachSetBit(words: Uint32Array, visit: (index: number) => void): void {
  for (let w = 0; w < words.length; w++) {
    let word = words[w]!;
    while (word !== 0) {
      const lowest = word & -word;
      visit((w << 5) + 31 - Math.clz32(lowest));
      word ^= lowest;
    }
  }
}
