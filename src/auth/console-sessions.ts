/**
 * Login sessions of the operator console (/console): an API key posted once becomes an opaque
 * random session id in an HttpOnly, SameSite=Strict cookie; the browser never holds the key.
 *
 * Storage: Redis, `<prefix>:console:session:<SHA-256 of the id>` → { keyHash, role, keyId }, with
 * CONSOLE_SESSION_TTL_SECONDS as its expiry, so every node sees a session and logout ends it
 * everywhere. The id itself is not stored (a Redis dump does not give out live sessions), nor the
 * API key: the SHA-256 of the key (what PostgreSQL keeps too) is asked again on every request
 * through ApiKeysService.authenticateHash, so revoking the key ends its sessions (within
 * API_KEY_CACHE_SECONDS on other nodes).
 *
 * CSRF: the cookie is SameSite=Strict, and a state-changing request that authenticates by cookie
 * must carry `X-Console-Request: 1` (a header a cross-site form cannot send and a cross-site fetch
 * cannot send without a CORS preflight, which the gateway never grants) and, when the browser
 * sends Origin, an Origin whose host is the request's Host.
 *
 * The Secure flag: set when the login came over TLS, or when X-Forwarded-Proto says https and the
 * request came from CONSOLE_TRUSTED_PROXIES (the socket address; a header from anyone else is
 * ignored), or always with CONSOLE_COOKIE_SECURE=always.
 *
 * Cookie parsing and serialising is @fastify/cookie's; nothing here is hand-written but the policy.
 * Imports the platform and this folder only.
 */
import { Inject, Injectable } from '@nestjs/common';
import { fastifyCookie } from '@fastify/cookie';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { createHash, randomBytes } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { addressAllowed, toRanges } from '../platform/endpoint-access';
import { REDIS } from '../platform/redis';
import type { ApiRole } from './api-key.entity';
import { ApiKeysService, Principal } from './api-keys.service';
import { hashSecret } from './secrets';

export const SESSION_COOKIE = 'gw_console';
/** The header a console request must carry on POST, PUT, PATCH and DELETE (see the module comment). */
export const CSRF_HEADER = 'x-console-request';

interface StoredSession {
  keyHash: string;
  keyId: string;
  role: ApiRole;
  createdAt: string;
}

export type SessionCheck =
  | { kind: 'none' }
  | { kind: 'ended' }
  | { kind: 'csrf'; reason: string }
  | { kind: 'ok'; principal: Principal };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

@Injectable()
export class ConsoleSessions {
  private readonly trusted: ReturnType<typeof toRanges>;

  constructor(
    private readonly keys: ApiKeysService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.trusted = toRanges(config.console.trustedProxies);
  }

  private key(sessionId: string): string {
    return `${this.config.redisPrefix}:console:session:${createHash('sha256').update(sessionId).digest('hex')}`;
  }

  /** A new session for this API key, or undefined when the key is unknown or revoked. Answers the Set-Cookie value. */
  async login(apiKey: string, req: FastifyRequest): Promise<{ principal: Principal; cookie: string } | undefined> {
    const keyHash = hashSecret(apiKey);
    const principal = await this.keys.authenticateHash(keyHash);
    if (!principal) return undefined;
    const id = randomBytes(32).toString('base64url');
    const ttl = this.config.console.sessionTtlSeconds;
    const stored: StoredSession = { keyHash, keyId: principal.keyId, role: principal.role, createdAt: new Date().toISOString() };
    await this.redis.set(this.key(id), JSON.stringify(stored), 'EX', ttl);
    const cookie = fastifyCookie.serialize(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', secure: this.secure(req), path: '/', maxAge: ttl });
    return { principal, cookie };
  }

  /** Deletes the request's session, if any; answers the Set-Cookie value that clears the cookie. */
  async logout(req: FastifyRequest): Promise<string> {
    const id = sessionIdOf(req);
    if (id) await this.redis.del(this.key(id));
    return fastifyCookie.serialize(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', secure: this.secure(req), path: '/', maxAge: 0 });
  }

  /**
   * Who the request's session cookie stands for, with the CSRF rule applied to state-changing
   * methods. 'none': no cookie at all; 'ended': a cookie whose session expired, was logged out, or
   * whose key was revoked.
   */
  async check(req: FastifyRequest, o: { csrf: boolean } = { csrf: true }): Promise<SessionCheck> {
    const id = sessionIdOf(req);
    if (!id) return { kind: 'none' };
    const raw = await this.redis.get(this.key(id));
    if (!raw) return { kind: 'ended' };
    const stored = JSON.parse(raw) as StoredSession;
    const principal = await this.keys.authenticateHash(stored.keyHash);
    if (!principal) {
      await this.redis.del(this.key(id));
      return { kind: 'ended' };
    }
    if (o.csrf && !SAFE_METHODS.has(req.method)) {
      const refusal = csrfRefusal(req);
      if (refusal) return { kind: 'csrf', reason: refusal };
    }
    return { kind: 'ok', principal };
  }

  private secure(req: FastifyRequest): boolean {
    if (this.config.console.cookieSecure === 'always') return true;
    if (req.raw.socket instanceof TLSSocket) return true;
    const proto = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
    return first === 'https' && addressAllowed(req.raw.socket.remoteAddress, this.trusted);
  }
}

function sessionIdOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const id = fastifyCookie.parse(header)[SESSION_COOKIE];
  // Our ids are 43 base64url characters; anything else is not one of ours and is not looked up.
  return id && /^[A-Za-z0-9_-]{43}$/.test(id) ? id : undefined;
}

/** Why a state-changing cookie request is refused as a possible cross-site request, or undefined. */
export function csrfRefusal(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  if (req.headers[CSRF_HEADER] !== '1') return `a console request that changes something must carry the ${CSRF_HEADER}: 1 header`;
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(req)) return `cross-origin request refused (Origin ${origin})`;
  return undefined;
}

/** True when the request's Origin names the host it was sent to (a proxy must pass Host on unchanged). */
export function sameOrigin(req: Pick<FastifyRequest, 'headers'>): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host.toLowerCase() === (req.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}
