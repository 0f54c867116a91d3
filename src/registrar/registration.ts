/**
 * The REGISTER rules of RFC 3261 §10.3 as a pure function: given the request's contacts and the
 * bindings that exist, decide what to add, refresh and remove, or why the request fails.
 * No I/O and no clock: the caller passes `now` and applies the plan to the binding store.
 *
 * A binding's identity within its AOR is its `key`: the contact URI, or, when the contact carries
 * `+sip.instance` (RFC 5626 §4.2: with its `reg-id`), the instance and reg-id, so a device that
 * comes back with a new contact URI (a browser's random `.invalid` one after a reconnect) replaces
 * its old binding instead of adding a second.
 */
import type { TransportName } from '../sip/transport/types';

export interface Binding {
  /** The contact URI as registered: the binding's identity within its AOR. */
  readonly uri: string;
  /** The Contact header value to list back (name-addr without expires). */
  readonly contact: string;
  readonly expiresAt: number;
  readonly q: number;
  readonly callId: string;
  readonly cseq: number;
  /** The binding's identity (see the module comment); absent in bindings written before it existed: the uri. */
  readonly key?: string;
  /** Where the REGISTER came from: requests to this user go there (NAT, RFC 3581), over WS/WSS down that very connection. */
  readonly source: { readonly address: string; readonly port: number; readonly transport: TransportName };
  /** WebSocket bindings only: the node (SipServer.nodeId) holding the socket; no other node can reach it. */
  readonly node?: string;
  /** WebSocket bindings only: that node's id for the connection; the binding goes when it closes. */
  readonly connection?: string;
  readonly userAgent?: string;
  readonly registeredAt: number;
  /**
   * Registered through a trusted SIP edge: the REGISTER's Path (RFC 3327), nearest hop first.
   * Requests to this binding go to `source` (that edge, as this node reaches it) with these as Route.
   */
  readonly path?: readonly string[];
  /** Behind an edge: the device's address as the edge saw it (the Path's or Via's received/rport). */
  readonly received?: { readonly address: string; readonly port: number };
}

export interface RequestedContact {
  readonly uri: string;
  /** +sip.instance (and reg-id) when given (bindingKey); else the uri is the identity. */
  readonly key?: string;
  readonly contact: string;
  /** Seconds asked for: contact expires param, else Expires header, else the default. */
  readonly expires: number;
  readonly q: number;
}

export interface RegisterInput {
  readonly wildcard: boolean;
  readonly contacts: readonly RequestedContact[];
  readonly expiresHeader?: number;
  readonly callId: string;
  readonly cseq: number;
  readonly existing: readonly Binding[];
  readonly minExpires: number;
  readonly maxExpires: number;
}

export type RegisterPlan =
  | { readonly kind: 'query' }
  | { readonly kind: 'change'; readonly upserts: readonly { contact: RequestedContact; expires: number }[]; readonly removals: readonly string[] }
  | { readonly kind: 'reject'; readonly status: 400 | 423; readonly reason: string; readonly minExpires?: number };

/** A binding's identity within its AOR: the instance key when it has one, else its contact URI. */
export function bindingKey(b: { readonly uri: string; readonly key?: string }): string {
  return b.key ?? b.uri;
}

/**
 * The RFC 5626 identity of a contact from its `+sip.instance` and `reg-id` parameters, or undefined
 * (then the contact URI is the identity). Compared as written, without the quotes.
 */
export function instanceKey(instance: string | null | undefined, regId: string | null | undefined): string | undefined {
  if (!instance) return undefined;
  const id = instance.replace(/^"|"$/g, '');
  return regId ? `${id};reg-id=${regId}` : id;
}

/** True when a request may change `binding`: another Call-ID, or the same with a higher CSeq (§10.3 steps 6-7). */
function mayChange(binding: Binding, callId: string, cseq: number): boolean {
  return binding.callId !== callId || cseq > binding.cseq;
}

export function planRegister(input: RegisterInput): RegisterPlan {
  if (input.wildcard) {
    if (input.contacts.length > 0 || input.expiresHeader !== 0) {
      return { kind: 'reject', status: 400, reason: 'Wildcard Contact Needs Expires 0 And No Other Contact' };
    }
    if (input.existing.some((b) => !mayChange(b, input.callId, input.cseq))) return { kind: 'reject', status: 400, reason: 'CSeq Out Of Order' };
    return { kind: 'change', upserts: [], removals: input.existing.map(bindingKey) };
  }
  if (input.contacts.length === 0) return { kind: 'query' };
  const upserts: { contact: RequestedContact; expires: number }[] = [];
  const removals: string[] = [];
  for (const c of input.contacts) {
    if (c.expires > 0 && c.expires < input.minExpires) {
      return { kind: 'reject', status: 423, reason: 'Interval Too Brief', minExpires: input.minExpires };
    }
    const current = input.existing.find((b) => bindingKey(b) === bindingKey(c));
    if (current && !mayChange(current, input.callId, input.cseq)) return { kind: 'reject', status: 400, reason: 'CSeq Out Of Order' };
    if (c.expires === 0) {
      if (current) removals.push(bindingKey(current));
    } else {
      upserts.push({ contact: c, expires: Math.min(c.expires, input.maxExpires) });
    }
  }
  return { kind: 'change', upserts, removals };
}

/** Seconds a binding has left at `now`, rounded up so a live binding never shows 0. */
export function remainingSeconds(binding: Binding, now: number): number {
  return Math.max(1, Math.ceil((binding.expiresAt - now) / 1000));
}
