// Owns the SIP message model (RFC 3261 §7): requests, responses, their header list and the typed
// views of the headers every layer needs. Must not import anything outside src/sip.
import type { NameAddr } from './address';
import type { Uri } from './uri';
import type { Via } from './via';

/** One header value. List-valued headers (Via, Contact, Route...) hold one entry per element. */
export interface SipHeader {
  /** Long-form name, canonical capitalisation for known headers ("Call-ID"), as written otherwise. */
  readonly name: string;
  readonly value: string;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

interface MessageCore {
  /** Every header in order, except Content-Length (framing: body.length is authoritative). */
  readonly headers: readonly SipHeader[];
  /** Body bytes, exactly as received (never re-encoded). */
  readonly body: Buffer;
  readonly via: readonly Via[];
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly callId: string;
  readonly cseq: CSeq;
  /** Contact addresses; empty for none and for the `*` wildcard (see isWildcardContact). */
  readonly contact: readonly NameAddr[];
  readonly maxForwards?: number;
  /** Expires header in seconds, clamped to 2^32-1 as RFC 3261 §20.19 asks. */
  readonly expires?: number;
}

export interface SipRequest extends MessageCore {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: Uri;
}

export interface SipResponse extends MessageCore {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** First value of a header (case-insensitive, compact forms accepted), or undefined. */
export function headerValue(msg: { headers: readonly SipHeader[] }, name: string): string | undefined {
  const key = headerKey(name);
  for (const h of msg.headers) if (headerKey(h.name) === key) return h.value;
  return undefined;
}

/** Every value of a header, in order (one per list element). */
export function headerValues(msg: { headers: readonly SipHeader[] }, name: string): string[] {
  const key = headerKey(name);
  const out: string[] = [];
  for (const h of msg.headers) if (headerKey(h.name) === key) out.push(h.value);
  return out;
}

const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Lower-case long form of a header name: the key for comparisons. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
}
