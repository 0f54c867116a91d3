/**
 * The address the gateway names in Via, Contact and SDP: SIP_PUBLIC_ADDRESS when set, else the
 * SIP listening address, else (bound to every interface) the first non-internal IPv4. One function
 * for SIP and media, so signalling and SDP never disagree; callers compute it once, not per message.
 */
import { networkInterfaces } from 'node:os';
import type { AppConfig } from './config';

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export function advertisedHost(config: Pick<AppConfig, 'sipPublicAddress' | 'sipListen'>): string {
  if (config.sipPublicAddress) return config.sipPublicAddress;
  const listen = config.sipListen.host;
  if (!isWildcard(listen)) return listen;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  return external?.address ?? '127.0.0.1';
}

/**
 * The `host[:port]` a phone dials or registers to: the advertised host (IPv6 in brackets) and the
 * SIP listening port unless it is 5060 (or 0, a port the kernel picks at start and config cannot know).
 */
export function advertisedHostPort(config: Pick<AppConfig, 'sipPublicAddress' | 'sipListen'>): string {
  const host = advertisedHost(config);
  const port = config.sipListen.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return port === 5060 || port === 0 ? shown : `${shown}:${port}`;
}
