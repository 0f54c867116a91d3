/**
 * Which media addresses and ports the relay may send to or learn from, and the set of sources a
 * side's media may come from. Imports nothing of the domain.
 *
 * Forbidden as a media destination or source: 0.0.0.0/8 ("this network"; 0.0.0.0 itself is the
 * hold address of SDP, handled before), 127.0.0.0/8 loopback (unless the relay runs with
 * allowLoopback, as every test on one host must), 169.254.0.0/16 link-local (cloud metadata
 * services live there), 224.0.0.0/4 multicast and 240.0.0.0/4 reserved, which holds the
 * broadcast 255.255.255.255. Private ranges stay allowed: trunks on an operator's own network use them.
 *
 * The functions that run per packet (`isForbiddenSource`, `SourceFilter.matches`) parse the
 * dotted quad by char codes into an int32 and allocate nothing: they sit on the relay's hot path.
 * The address is parsed by hand for that reason (ipaddr.js and BlockList build objects per call).
 */
import { isIPv4 } from 'node:net';

export const MAX_PORT = 65535;

/** An integer in 1–65535: a port the relay can send to. */
export function isUsablePort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= MAX_PORT;
}

/** The dotted quad as an int32, or 0 when it is not one (0.0.0.0 is forbidden anyway). Allocates nothing. */
export function ipv4ToInt(address: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return 0;
      value = (value << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return 0;
    } else {
      return 0;
    }
  }
  if (dots !== 3 || digits === 0) return 0;
  return (value << 8) | octet;
}

/** Why `ip` (an int32 from ipv4ToInt) may not carry media, or null. */
function forbiddenKind(ip: number, allowLoopback: boolean): string | null {
  const first = ip >>> 24;
  if (first === 0) return 'unspecified ("this network")';
  if (first === 127) return allowLoopback ? null : 'loopback';
  if (first === 169 && ((ip >>> 16) & 0xff) === 254) return 'link-local';
  if (first >= 224 && first <= 239) return 'multicast';
  if (first >= 240) return ip === -1 ? 'broadcast' : 'reserved';
  return null;
}

/** True when a packet from `address` must not latch a side (nor be sent to). Allocates nothing. */
export function isForbiddenSource(address: string, allowLoopback: boolean): boolean {
  const ip = ipv4ToInt(address);
  return ip === 0 || forbiddenKind(ip, allowLoopback) !== null;
}

/** RFC 1918 and RFC 6598 (carrier-grade NAT) space: an SDP naming it is behind NAT. Not per packet. */
export function isPrivate(address: string): boolean {
  const ip = ipv4ToInt(address);
  const a = ip >>> 24;
  const b = (ip >>> 16) & 0xff;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

/** Why an SDP address cannot be a media destination, or null when it can. Hold addresses are the caller's concern. */
export function destinationProblem(address: string, allowLoopback: boolean): string | null {
  if (!isIPv4(address)) return `media address ${JSON.stringify(address.slice(0, 40))} is not an IPv4 address`;
  const kind = forbiddenKind(ipv4ToInt(address), allowLoopback);
  return kind === null ? null : `media address ${address} is ${kind}`;
}

/**
 * The addresses a side's media may come from, as IPv4 CIDRs (a bare address is a /32): what
 * signalling told the relay about the side (a trunk's inbound addresses and host, the source of a
 * user's REGISTER or INVITE). Entries that are not IPv4 are ignored: the relay is IPv4.
 */
export class SourceFilter {
  private nets = new Int32Array(0);
  private masks = new Int32Array(0);

  get size(): number {
    return this.nets.length;
  }

  set(cidrs: readonly string[]): void {
    const nets: number[] = [];
    const masks: number[] = [];
    for (const entry of cidrs) {
      const [address, bitsText] = entry.trim().split('/');
      if (!isIPv4(address)) continue;
      const bits = bitsText === undefined ? 32 : Number(bitsText);
      if (!Number.isInteger(bits) || bits < 0 || bits > 32) continue;
      const mask = bits === 0 ? 0 : -1 << (32 - bits);
      nets.push(ipv4ToInt(address) & mask);
      masks.push(mask);
    }
    this.nets = Int32Array.from(nets);
    this.masks = Int32Array.from(masks);
  }

  /** Allocates nothing. */
  matches(address: string): boolean {
    const ip = ipv4ToInt(address);
    if (ip === 0) return false;
    for (let i = 0; i < this.nets.length; i++) if ((ip & this.masks[i]) === this.nets[i]) return true;
    return false;
  }
}
