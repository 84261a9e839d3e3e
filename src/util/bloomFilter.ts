// A Bloom filter over strings: "certainly absent" or "maybe present". Used where a lookup on
// disk would otherwise run for every new key (the sim venue's duplicate client order id check):
// only a "maybe" goes to disk. No false negatives; false positives cost one disk probe.

export class BloomFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  /** `expected` keys at about `bitsPerKey` bits each (rounded up to a power of two, ≥ 2^20 bits). */
  constructor(expected: number, private readonly hashes = 3, bitsPerKey = 16) {
    let size = 1 << 20;
    while (size < expected * bitsPerKey && size < 1 << 30) size *= 2;
    this.bits = new Uint32Array(size >>> 5);
    this.mask = size - 1;
  }

  /** A filter holding `keys` (there are `count` of them), with room for as many again and at
   *  least 250,000: the sizing both id checks use, rebuilt at every open. */
  static withKeys(count: number, keys: Iterable<string>): BloomFilter {
    const f = new BloomFilter(Math.max(250_000, count * 2));
    for (const k of keys) f.add(k);
    return f;
  }

  add(key: string): void {
    const [h1, h2] = hashPair(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mightContain(key: string): boolean {
    const [h1, h2] = hashPair(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two 32-bit hashes of the UTF-16 code units (FNV-1a, then a murmur3 finaliser for the second),
 *  combined by double hashing (Kirsch-Mitzenmacher). */
function hashPair(key: string): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  let g = h ^ (h >>> 16);
  g = Math.imul(g, 0x85ebca6b);
  g ^= g >>> 13;
  g = Math.imul(g, 0xc2b2ae35);
  g ^= g >>> 16;
  return [h >>> 0, (g | 1) >>> 0];
}
