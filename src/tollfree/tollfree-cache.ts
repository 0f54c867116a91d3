/**
 * The per-process cache of compiled toll-free entries, keyed by E.164, bounded (least recently used
 * out first), with `null` remembered for numbers that have no entry.
 *
 * Invalidation is by event (tollfree-changes.ts drops entries when any process writes); the maximum
 * age is only the backstop for a lost pub/sub message. A load that started before an invalidation
 * is returned but not kept, so a slow read can never put back what a change just dropped.
 * No I/O here: loaders come in as functions.
 */
import type { CompiledEntry } from './translate';

export interface Cached {
  compiled: CompiledEntry;
  accountId: string;
  version: number;
}

interface Slot {
  value: Cached | null;
  loadedAt: number;
}

export class TollFreeCache {
  private readonly slots = new Map<string, Slot>();
  /** Bumped by every invalidation; a load only stores its result if this did not move meanwhile. */
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  /** The cached value (null: known to have no entry), or undefined when it must be loaded. */
  peek(e164: string): Cached | null | undefined {
    const slot = this.slots.get(e164);
    if (!slot) return undefined;
    if (this.now() - slot.loadedAt > this.maxAgeMs) {
      this.slots.delete(e164);
      return undefined;
    }
    // Re-insertion keeps the Map in least-recently-used order.
    this.slots.delete(e164);
    this.slots.set(e164, slot);
    return slot.value;
  }

  async get(e164: string, load: (e164: string) => Promise<Cached | null>): Promise<Cached | null> {
    const hit = this.peek(e164);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const generation = this.generation;
    const value = await load(e164);
    if (generation === this.generation) this.store(e164, value);
    return value;
  }

  store(e164: string, value: Cached | null): void {
    this.slots.delete(e164);
    this.slots.set(e164, { value, loadedAt: this.now() });
    if (this.slots.size > this.maxEntries) this.slots.delete(this.slots.keys().next().value!);
  }

  drop(e164: string): void {
    this.generation++;
    this.slots.delete(e164);
  }

  clear(): void {
    this.generation++;
    this.slots.clear();
  }
}
