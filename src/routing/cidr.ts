/** Inbound allow-lists: CIDR parsing (ipaddr.js) into PostgreSQL `cidr` form, and membership checks. */
import ipaddr from 'ipaddr.js';

/** `10.0.0.7/24` → `10.0.0.0/24`; a bare address → /32 or /128. Undefined when not an address. */
export function normaliseCidr(input: string): string | undefined {
  const s = input.trim();
  try {
    if (s.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(s);
      const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(s) : ipaddr.IPv6.networkAddressFromCIDR(s);
      return `${network.toString()}/${bits}`;
    }
    const addr = ipaddr.parse(s);
    return `${addr.toString()}/${addr.kind() === 'ipv4' ? 32 : 128}`;
  } catch {
    return undefined;
  }
}

/** True when `address` lies in one of `cidrs` (IPv4-mapped IPv6 addresses count as IPv4). */
export function addressAllowed(address: string, cidrs: readonly string[]): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(address);
  } catch {
    return false;
  }
  return cidrs.some((c) => {
    try {
      const range = ipaddr.parseCIDR(c);
      return addr.kind() === range[0].kind() && addr.match(range);
    } catch {
      return false;
    }
  });
}
