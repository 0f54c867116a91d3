// Owns per-source protection at the SIP edge, in the manner of Kamailio's pike module: how many
// requests one IP address may send per second, and which addresses are trusted (trunks) and get
// their own, higher limit. The transport layer asks it about every packet before parsing.
//
// A source within its limit is admitted. A source over it gets a stateless 503 with Retry-After
// (cheap: no transaction, no TU). A source far over it (dropFactor times the limit within one
// second) is dropped silently, before its packets are even parsed: answering a flood would make us
// its amplifier. Responses and ACKs are not new work (they create no transaction and cannot be
// answered with 503), so they take no token; but they still count towards "far over", so a
// response flood is dropped like a request flood.
//
// Hand-written on purpose: it runs for every datagram, so it is a token bucket per IP over a bounded
// Map with no allocation per packet once a source is known, plus node's BlockList for the trusted
// CIDRs. The rate-limiting packages on npm are built for HTTP middleware (per-request promises,
// stores, keys as strings built per call) and none bound their memory under spoofed sources.
// Must not import anything outside src/sip.
import { BlockList, isIPv6 } from 'node:net';

export type Verdict = 'admit' | 'refuse' | 'drop';

export interface SourceGuardOptions {
  /** Requests per second per source IP; 0 disables the limit. */
  readonly ratePerSecond: number;
  /** The same for trusted addresses (trunks); 0 means unlimited. */
  readonly trustedRatePerSecond: number;
  /** At this many times the limit within one second, packets are dropped instead of answered (default 4). */
  readonly dropFactor?: number;
  /** Sources remembered at most (default 65536); the oldest are forgotten first. */
  readonly maxSources?: number;
  readonly now?: () => number;
}

/** Counts of what the guard turned away since the last summary, for a rate-limited log line. */
export interface RefusalSummary {
  readonly refused: number;
  readonly dropped: number;
  /** The source with most refusals and drops in the period, and how many. */
  readonly top: { readonly address: string; readonly count: number };
  readonly seconds: number;
}

interface Entry {
  tokens: number;
  /** When tokens were last refilled (ms). */
  refilled: number;
  /** Start of the current one-second arrival window (ms), and the packets seen in it. */
  windowStart: number;
  arrivals: number;
  /** The trust list generation `trusted` was computed for. */
  generation: number;
  trusted: boolean;
}

const SUMMARY_INTERVAL_MS = 10_000;

/** Parses "10.0.0.0/8", "192.0.2.1" or "2001:db8::/32" into a BlockList; throws on anything else. */
export function trustList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const [address, bits] = text.trim().split('/');
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

export class SourceGuard {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly dropFactor: number;
  private readonly maxSources: number;
  private trusted = new BlockList();
  private generation = 0;
  private lastSweep = 0;
  private periodStart = 0;
  private lastSummary = -Infinity;
  private refused = 0;
  private dropped = 0;
  private readonly offenders = new Map<string, number>();

  constructor(private readonly options: SourceGuardOptions) {
    this.now = options.now ?? Date.now;
    this.dropFactor = options.dropFactor ?? 4;
    this.maxSources = options.maxSources ?? 65536;
  }

  /** Replaces the trusted addresses (e.g. every trunk's inboundAddresses); bad entries throw before anything changes. */
  setTrusted(cidrs: readonly string[]): void {
    this.trusted = trustList(cidrs);
    this.generation++;
  }

  isTrusted(address: string): boolean {
    return this.trusted.check(address.replace(/^::ffff:/, ''), isIPv6(address) && !address.startsWith('::ffff:') ? 'ipv6' : 'ipv4');
  }

  /** A new request (not ACK) from this address: admit it, refuse it with 503, or drop it. */
  request(address: string): Verdict {
    const entry = this.entry(address);
    if (!entry) return 'admit';
    const limit = entry.trusted ? this.options.trustedRatePerSecond : this.options.ratePerSecond;
    if (limit <= 0) return 'admit';
    const now = this.now();
    const elapsed = now - entry.refilled;
    if (elapsed > 0) {
      entry.tokens = Math.min(limit, entry.tokens + (elapsed * limit) / 1000);
      entry.refilled = now;
    }
    if (this.countArrival(entry, now) > this.dropFactor * limit) return this.turnAway(address, 'drop');
    if (entry.tokens >= 1) {
      entry.tokens -= 1;
      return 'admit';
    }
    return this.turnAway(address, 'refuse');
  }

  /** A response or an ACK from this address: never refused, dropped only when the source is far over its limit. */
  other(address: string): 'admit' | 'drop' {
    const entry = this.entry(address);
    if (!entry) return 'admit';
    const limit = entry.trusted ? this.options.trustedRatePerSecond : this.options.ratePerSecond;
    if (limit <= 0) return 'admit';
    return this.countArrival(entry, this.now()) > this.dropFactor * limit ? this.turnAway(address, 'drop') : 'admit';
  }

  /**
   * What was turned away since the last summary, or undefined when nothing was or the last summary
   * is under 10 s old: the first refusal after a quiet period is reported at once, the rest of a
   * flood once per 10 s, so a flood costs a few log lines rather than one per packet.
   */
  summary(): RefusalSummary | undefined {
    if (this.refused + this.dropped === 0) return undefined;
    const now = this.now();
    if (now - this.lastSummary < SUMMARY_INTERVAL_MS) return undefined;
    let top = { address: '', count: 0 };
    for (const [address, count] of this.offenders) if (count > top.count) top = { address, count };
    const summary = { refused: this.refused, dropped: this.dropped, top, seconds: Math.max(1, Math.round((now - this.periodStart) / 1000)) };
    this.refused = 0;
    this.dropped = 0;
    this.offenders.clear();
    this.lastSummary = now;
    return summary;
  }

  /** Sources currently remembered (for tests and metrics). */
  size(): number {
    return this.entries.size;
  }

  private countArrival(entry: Entry, now: number): number {
    if (now - entry.windowStart >= 1000) {
      entry.windowStart = now;
      entry.arrivals = 0;
    }
    return ++entry.arrivals;
  }

  private turnAway<V extends 'refuse' | 'drop'>(address: string, verdict: V): V {
    if (verdict === 'refuse') this.refused++;
    else this.dropped++;
    if (this.refused + this.dropped === 1) this.periodStart = this.now();
    // Bounded: the offender table only needs the worst few.
    if (this.offenders.size < 64 || this.offenders.has(address)) this.offenders.set(address, (this.offenders.get(address) ?? 0) + 1);
    return verdict;
  }

  private entry(address: string): Entry | undefined {
    if (this.options.ratePerSecond <= 0 && this.options.trustedRatePerSecond <= 0) return undefined;
    let entry = this.entries.get(address);
    if (!entry) {
      if (this.entries.size >= this.maxSources) this.makeRoom();
      const now = this.now();
      entry = { tokens: 0, refilled: now, windowStart: now, arrivals: 0, generation: -1, trusted: false };
      this.entries.set(address, entry);
    }
    if (entry.generation !== this.generation) {
      const wasUnset = entry.generation === -1;
      entry.trusted = this.isTrusted(address);
      entry.generation = this.generation;
      // A new source starts with a full bucket (one second of burst).
      if (wasUnset) entry.tokens = entry.trusted ? this.options.trustedRatePerSecond : this.options.ratePerSecond;
    }
    return entry;
  }

  /** Forgets sources idle for 2 s (at most one sweep per second), else the oldest one. */
  private makeRoom(): void {
    const now = this.now();
    if (now - this.lastSweep >= 1000) {
      this.lastSweep = now;
      for (const [address, entry] of this.entries) if (now - entry.windowStart > 2000) this.entries.delete(address);
    }
    if (this.entries.size >= this.maxSources) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
