// Owns replay protection: the highest nonce-count seen per nonce (RFC 7616 §3.4: a request whose nc
// is not above the last one is a replay). The interface lets the app keep the counts in Redis so
// every node sees them. Must not import anything outside src/sip.

export interface NonceCountStore {
  /**
   * Records nc for nonce and returns true when it is higher than every count seen before for that
   * nonce; returns false (and records nothing) for a replay. Must be atomic per nonce.
   * `ttlMs` is how long the nonce can still be valid, so the entry may be dropped after it.
   */
  advance(nonce: string, nc: number, ttlMs: number): Promise<boolean>;
}

export class InMemoryNonceCountStore implements NonceCountStore {
  private readonly counts = new Map<string, { nc: number; expires: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async advance(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    if (this.counts.size > 10000) this.sweep(now);
    const seen = this.counts.get(nonce);
    if (seen && seen.expires > now && nc <= seen.nc) return false;
    this.counts.set(nonce, { nc, expires: now + ttlMs });
    return true;
  }

  private sweep(now: number): void {
    for (const [nonce, entry] of this.counts) if (entry.expires <= now) this.counts.delete(nonce);
  }
}
