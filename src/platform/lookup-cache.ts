/**
 * A small per-process cache for the reads every call makes of provisioning data (a user's
 * credentials, a DID, a destination's route candidates): bounded (the oldest entry out first),
 * entries served for at most `maxAgeMs`, misses included (`undefined` is a value like any other).
 *
 * The consistency is the trunk cache's (routing/trunks.service.ts): a repository clears its cache
 * on every write it makes, so a change made through this process is seen at once; another
 * process sees it within `maxAgeMs`. Concurrent misses of one key share one load. A clear drops
 * loads in flight too (their callers still get them), so a slow read cannot put back what a write
 * just dropped; a failed load is not kept either.
 *
 * No I/O and no Nest here: loaders come in as functions. Imports nothing.
 */
interface Slot<V> {
  value: Promise<V>;
  loadedAt: number;
}

export class LookupCache<K, V> {
  private readonly slots = new Map<K, Slot<V>>();

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  get(key: K, load: (key: K) => Promise<V>): Promise<V> {
    const slot = this.slots.get(key);
    if (slot && this.now() - slot.loadedAt <= this.maxAgeMs) return slot.value;
    if (slot) this.slots.delete(key);
    const value = load(key);
    const fresh: Slot<V> = { value, loadedAt: this.now() };
    this.slots.set(key, fresh);
    if (this.slots.size > this.maxEntries) this.slots.delete(this.slots.keys().next().value as K);
    // Forgotten on failure: the callers get the error, the next read tries again.
    value.catch(() => {
      if (this.slots.get(key) === fresh) this.slots.delete(key);
    });
    return value;
  }

  clear(): void {
    this.slots.clear();
  }
}
