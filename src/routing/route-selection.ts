/**
 * Least-cost routing as a pure function: which trunks a call to a number tries, in order.
 *
 * Order (as Kamailio's `lcr` module does it): routes whose prefix matches the number, longest
 * prefix first, then lower priority first; routes tied on both are ordered by weight with a
 * weighted shuffle seeded by the call id (Efraimidis–Spirakis), so load spreads by weight while a
 * retransmitted or re-tried call keeps its order. Shorter prefixes follow as fallbacks; a trunk
 * appears once, at its best place. Disabled trunks are left out; a trunk's `maxChannels` is not
 * decided here but when its channel is taken (src/calls/trunk-channels.ts), just before it is rung.
 * No I/O: the caller passes the routes.
 */
import { stableHash32 } from '../platform/stable-hash';

export interface RouteCandidate {
  readonly routeId: string;
  /** E.164 digits without '+'; '' matches every number. */
  readonly prefix: string;
  readonly priority: number;
  readonly weight: number;
  readonly trunkId: string;
  readonly trunkEnabled: boolean;
}

export interface SelectionInput {
  /** The destination as E.164 digits, with or without '+'. */
  readonly destination: string;
  readonly routes: readonly RouteCandidate[];
  /** Seeds the weighted order: the call id, so the same call gets the same order. */
  readonly seed: string;
}

/** Efraimidis–Spirakis key: u^(1/w), larger first; u in (0, 1) from the hash. */
function weightedKey(seed: string, trunkId: string, weight: number): number {
  const u = (stableHash32(`${seed}|${trunkId}`) + 1) / 4294967297;
  return Math.pow(u, 1 / Math.max(1, weight));
}

/** Every prefix of the digits, longest first, down to ''. */
export function prefixesOf(destination: string): string[] {
  const digits = destination.replace(/^\+/, '');
  const out: string[] = [];
  for (let n = digits.length; n >= 0; n--) out.push(digits.slice(0, n));
  return out;
}

export function selectRoutes(input: SelectionInput): RouteCandidate[] {
  const digits = input.destination.replace(/^\+/, '');
  const usable = input.routes.filter((r) => digits.startsWith(r.prefix) && r.trunkEnabled);
  const keyed = usable.map((r) => ({ r, key: weightedKey(input.seed, r.trunkId, r.weight) }));
  keyed.sort((a, b) => b.r.prefix.length - a.r.prefix.length || a.r.priority - b.r.priority || b.key - a.key || (a.r.trunkId < b.r.trunkId ? -1 : 1));
  const seen = new Set<string>();
  const ordered: RouteCandidate[] = [];
  for (const { r } of keyed) {
    if (seen.has(r.trunkId)) continue;
    seen.add(r.trunkId);
    ordered.push(r);
  }
  return ordered;
}
