/**
 * Who may read the operator endpoints that carry no API key: `/metrics` (Prometheus scrapers do
 * not send our API keys) and `/docs`, `/docs-json`, `/docs-yaml` (the OpenAPI description). Owns
 * the parsing of the allow lists (METRICS_ALLOW, DOCS_ALLOW) and the middleware that guards those
 * paths before Nest's router; no domain imports. The middleware uses only Node's own request and
 * response (no Express helpers), so it runs under Fastify's middie (as it did under Express).
 *
 * Two checks, both optional: the client's TCP source address must be in the allow list (the
 * socket's address, never X-Forwarded-For, which anyone can write), and for /metrics a bearer
 * token, compared as SHA-256 digests in constant time so neither its value nor its length leaks
 * through timing. A refused request gets a problem document (401 or 403) and a log line.
 */
import { Logger } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import ipaddr from 'ipaddr.js';
import { problemOf } from './problem';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The allow list of the config (validated there) as address ranges. */
export function toRanges(list: string[] | 'any'): Range[] | 'any' {
  if (list === 'any') return 'any';
  return list.map((item) => {
    if (item.includes('/')) return ipaddr.parseCIDR(item);
    const a = ipaddr.parse(item);
    return [a, a.kind() === 'ipv4' ? 32 : 128] as Range;
  });
}

/** True when `address` (as a socket reports it; IPv4-mapped IPv6 included) lies in the list. */
export function addressAllowed(address: string | undefined, allow: Range[] | 'any'): boolean {
  if (allow === 'any') return true;
  if (!address || !ipaddr.isValid(address)) return false;
  const a = ipaddr.process(address);
  return allow.some(([net, bits]) => a.kind() === net.kind() && a.match(net, bits));
}

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export interface EndpointAccess {
  /** For messages: "/metrics", "/docs". */
  name: string;
  /** The variable that sets the allow list, named in the 403. */
  allowVariable: string;
  allow: Range[] | 'any';
  /** SHA-256 of the bearer token the request must carry; absent: no token. */
  tokenSha256?: Buffer;
}

const log = new Logger('endpoints');

/** Connect-style middleware over Node's request and response (Fastify's middie calls it so). */
export type RawMiddleware = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: (err?: unknown) => void) => void;

export function endpointGuard(access: EndpointAccess): RawMiddleware {
  return (req, res, next) => {
    const source = req.socket.remoteAddress;
    const refuse = (status: 401 | 403, detail: string) => {
      log.warn({ endpoint: access.name, source, status }, `${access.name} refused`);
      const p = problemOf(status === 401 ? 'unauthenticated' : 'forbidden', detail);
      // The middleware layer strips the mount path from req.url; originalUrl keeps it.
      const body = JSON.stringify({ ...p, instance: (req.originalUrl ?? req.url ?? '').split('?')[0] });
      res.statusCode = status;
      if (status === 401) res.setHeader('WWW-Authenticate', `Bearer realm="${access.name}"`);
      res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    };
    if (!addressAllowed(source, access.allow)) return refuse(403, `${access.name} is served only to the addresses in ${access.allowVariable}`);
    if (access.tokenSha256) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m || !timingSafeEqual(tokenDigest(m[1]), access.tokenSha256)) return refuse(401, `${access.name} needs Authorization: Bearer <METRICS_BEARER_TOKEN>`);
    }
    next();
  };
}
