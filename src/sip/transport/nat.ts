// Owns the NAT rules for Via: stamping received/rport on inbound requests (RFC 3261 §18.2.1,
// RFC 3581 §4) and choosing where a response goes (RFC 3261 §18.2.2, RFC 3581 §4), so users behind
// NAT get answers at the address their packets came from. Must not import anything outside src/sip.
import { withHeaders } from '../builders';
import type { SipRequest } from '../message';
import { type Via, formatVia, withViaParams } from '../via';
import type { Source, Target, TransportName } from './types';

/** The request with received (and rport, when asked for) set on its top Via from the packet's source. */
export function stampReceived(req: SipRequest, source: Source): SipRequest {
  const top = req.via[0];
  const changes: Record<string, string | null> = {};
  // RFC 3581 §4: with rport present, received is added even when the host matches.
  if (top.host !== source.address || top.rport !== undefined) changes.received = source.address;
  if (top.rport !== undefined) changes.rport = String(source.port);
  // Over TCP the response must use the same connection (§18.2.2), which is keyed by the peer's
  // address and port: recording both in the Via lets responseTarget() find it without more state.
  if (source.transport === 'TCP') {
    changes.received = source.address;
    changes.rport = String(source.port);
  }
  if (Object.keys(changes).length === 0) return req;
  const stamped = formatVia(withViaParams(top, changes));
  const index = req.headers.findIndex((h) => h.name === 'Via');
  const headers = req.headers.map((h, i) => (i === index ? { name: h.name, value: stamped } : h));
  return withHeaders(req, headers);
}

function defaultPort(transport: string): number {
  return transport === 'TLS' ? 5061 : 5060;
}

/** Where a response to a request with this top Via goes when no connection is at hand. */
export function responseTarget(via: Via): Target {
  const transport: TransportName = via.transport === 'TCP' ? 'TCP' : 'UDP';
  const host = via.received ?? via.params.get('maddr') ?? via.host;
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? defaultPort(via.transport));
  return { host, port, transport };
}
