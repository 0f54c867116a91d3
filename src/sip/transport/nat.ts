// Owns the Via rules for where a response goes. Every request gets `received` set to the address
// its packet really came from (RFC 3261 §18.2.1, RFC 3581 §4), and the response goes back to that
// address over the transport the request arrived on, whatever the sender wrote in its Via:
// - UDP: the source address, at the source port when rport was asked for (RFC 3581), else the Via
//   sent-by port (RFC 3261 §18.2.2). A `received=` the sender wrote itself is overwritten.
// - TCP: the connection the request came on, and only that one (the transport never opens a
//   connection to send a response).
// - WS/WSS (RFC 7118): the same, the WebSocket the request came on. The client's Via (a `.invalid`
//   host, no port) only gets received/rport added: JsSIP and SIP.js drop a response whose Via
//   sent-by differs from what they wrote.
// Deliberate deviation from RFC 3261 §18.2.2: `maddr` is ignored, as SBCs do, and so are the Via's
// transport and host for choosing the destination. Otherwise a forged top Via turns the gateway into
// a reflector (responses and their retransmissions sent to any host) and a TCP port scanner into the
// operator's network. Must not import anything outside src/sip.
import { withHeaders } from '../builders';
import type { SipRequest } from '../message';
import { type Via, formatVia, withViaParams } from '../via';
import { type Source, type Target, isConnectionTransport } from './types';

/** The request with received (and rport, when asked for or over TCP) set on its top Via from the packet's source. */
export function stampReceived(req: SipRequest, source: Source): SipRequest {
  const top = req.via[0];
  const changes: Record<string, string | null> = {};
  // Always: a received= the sender wrote itself must not survive (RFC 3581 §4 adds it even when the host matches).
  if (top.received !== source.address) changes.received = source.address;
  // Over TCP and WebSocket rport records the connection's peer port too, so logs and 2543 peers see which connection it was.
  if ((top.rport !== undefined || isConnectionTransport(source.transport)) && top.rport !== source.port) changes.rport = String(source.port);
  if (Object.keys(changes).length === 0) return req;
  const stamped = formatVia(withViaParams(top, changes));
  const index = req.headers.findIndex((h) => h.name === 'Via');
  const headers = req.headers.map((h, i) => (i === index ? { name: h.name, value: stamped } : h));
  return withHeaders(req, headers);
}

/** Where the responses to a request that arrived from `source` with this top Via go (see the module comment). */
export function responseTarget(via: Via, source: Source): Target {
  if (isConnectionTransport(source.transport)) return { host: source.address, port: source.port, transport: source.transport };
  return { host: source.address, port: via.rport !== undefined ? source.port : (via.port ?? 5060), transport: 'UDP' };
}

/**
 * The target for a response when the request's source is no longer known (a 2xx retransmitted after
 * its transaction is gone): the stamped received/rport, never maddr. The transport layer never
 * opens a connection for a response, so a TCP Via only finds the connection it came on, if it is still open.
 */
export function stampedTarget(via: Via): Target {
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? 5060);
  const transport = via.transport === 'TCP' || via.transport === 'WS' || via.transport === 'WSS' ? via.transport : 'UDP';
  return { host: via.received ?? via.host, port, transport };
}
