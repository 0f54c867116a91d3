/**
 * A fast, well-mixed 32-bit hash of a string, stable across processes and releases: FNV-1a over the
 * UTF-16 code units, then the murmur3 finaliser, because FNV alone leaves consecutive ids
 * ("call-1", "call-2") clustered in the high bits. Used wherever a call id must pick the same
 * outcome every time (toll-free splits, weighted trunk order). Not for secrets.
 */
export function stableHash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
