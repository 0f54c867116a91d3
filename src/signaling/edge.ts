/**
 * What a request that came through a trusted SIP edge (Kamailio, deploy/kamailio/) tells about the
 * user behind it, as pure functions of the request: the edge's own Via is on top, the user's Via
 * below it carries the `received`/`rport` the edge stamped (RFC 3581), and a REGISTER carries the
 * edge's `Path` (RFC 3327). The caller decides whether the source is an edge (SIP_TRUSTED_EDGES);
 * from anyone else these headers are the sender's word and are not used.
 */
import { isIP } from 'node:net';
import { parseNameAddr } from '../sip/address';
import { headerValues, type SipRequest } from '../sip/message';
import { isSipUri } from '../sip/uri';

export interface ClientAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * The user's address as the edge saw it: the second Via's `received` (else its host, when an IP)
 * and `rport` (else its port, else 5060). Undefined when there is no second Via or no IP in it.
 */
export function clientBehindEdge(request: SipRequest): ClientAddress | undefined {
  const via = request.via[1];
  if (!via) return undefined;
  const address = via.received ?? via.host.replace(/^\[|\]$/g, '');
  if (!isIP(address)) return undefined;
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? 5060);
  return { address, port };
}

/**
 * The Path of a REGISTER (RFC 3327 §5.3), one name-addr per hop, nearest first; the edge's own hop
 * first. Undefined when a value is not a SIP URI name-addr (the REGISTER is refused then).
 */
export function pathOf(request: SipRequest): string[] | undefined {
  const values = headerValues(request, 'Path');
  for (const v of values) {
    const parsed = parseNameAddr(v, 'Path');
    if (!parsed.ok || !isSipUri(parsed.value.uri)) return undefined;
  }
  return values;
}

/** The `received` parameter of a Path URI (`;received=sip:ip:port`, Kamailio's add_path_received), as an address. */
export function pathReceived(path: readonly string[]): ClientAddress | undefined {
  const first = path[0];
  if (!first) return undefined;
  const parsed = parseNameAddr(first, 'Path');
  if (!parsed.ok || !isSipUri(parsed.value.uri)) return undefined;
  const raw = parsed.value.uri.params.get('received');
  if (!raw) return undefined;
  const m = /^sips?:(\[[0-9a-fA-F:.]+\]|[0-9.]+)(?::(\d{1,5}))?/.exec(decodeURIComponent(raw));
  if (!m) return undefined;
  const address = m[1].replace(/^\[|\]$/g, '');
  return isIP(address) ? { address, port: m[2] ? Number(m[2]) : 5060 } : undefined;
}
