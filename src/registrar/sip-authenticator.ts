/**
 * Digest authentication of SIP requests against the users' stored HA1 hashes, for the registrar
 * (401) and, later, calls (407). An unknown user and a wrong password get the same answer, computed
 * the same way (against a random HA1), so usernames cannot be enumerated. Nonce counts live in
 * Redis, so a captured request cannot be replayed on another node, and the digest uri must name
 * the Request-URI, so it cannot be replayed for another either. Repeated failures from one source
 * address are slowed, then refused for a while, and logged. Failures are also counted per username,
 * whatever the address, so guessing spread over many addresses is slowed too: past
 * SIP_AUTH_FAIL_USER_LIMIT failures in the window, that username's credentials are not even checked
 * (403) until the window ends, except from an address it authenticated from in the last day, so the
 * real user is not locked out by the guesser. Unknown usernames are counted the same way.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { GatewayMetrics } from '../platform/metrics';
import { REDIS } from '../platform/redis';
import { countInWindow } from '../platform/redis-keys';
import type { SipRequest } from '../sip/message';
import type { NonceCountStore } from '../sip/digest/nonce-count-store';
import { DigestVerifier } from '../sip/digest/verifier';
import type { Source } from '../sip/transport/types';
import { UserCredentials, UsersService } from '../users/users.service';

export type AuthOutcome =
  | { readonly ok: true; readonly user: UserCredentials }
  | { readonly ok: false; readonly status: 401 | 407 | 403; readonly reason: string; readonly headers: { name: string; value: string }[] };

/** Highest nonce-count per nonce, atomically in Redis (a Lua compare-and-set). */
class RedisNonceCountStore implements NonceCountStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async advance(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const script = `local c = redis.call('GET', KEYS[1])
      if c and tonumber(c) >= tonumber(ARGV[1]) then return 0 end
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return 1`;
    return (await this.redis.eval(script, 1, `${this.prefix}:nc:${nonce}`, nc, Math.max(1000, ttlMs))) === 1;
  }
}

/** How long an address that authenticated as a user stays exempt from that username's failure limit. */
const KNOWN_ADDRESS_SECONDS = 86_400;
/** The known address's day is refreshed when it has run for this long, not on every request. */
const KNOWN_ADDRESS_REFRESH_SECONDS = 60;

@Injectable()
export class SipAuthenticator {
  private readonly logger = new Logger('sip-auth');
  private readonly verifier: DigestVerifier;
  /** HA1 used for unknown users: the check runs and fails exactly as for a wrong password. */
  private readonly decoy = { md5: randomBytes(16).toString('hex'), sha256: randomBytes(32).toString('hex') };

  constructor(
    private readonly users: UsersService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    this.verifier = new DigestVerifier({
      realm: config.sipRealm,
      // Every node derives the same nonce key from SECRETS_KEY, so a nonce from one node verifies on another.
      secret: createHmac('sha256', config.secretsKey ?? randomBytes(32)).update('sip-digest-nonce').digest(),
      nonceTtlSeconds: config.sip.nonceTtlSeconds,
      algorithms: config.sip.digestAlgorithms,
      store: new RedisNonceCountStore(redis, config.redisPrefix),
    });
  }

  async authenticate(request: SipRequest, source: Source, kind: 'www' | 'proxy'): Promise<AuthOutcome> {
    const status = kind === 'www' ? 401 : 407;
    const challengeHeader = kind === 'www' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    const challenge = (stale = false) => this.verifier.challenge({ stale }).map((value) => ({ name: challengeHeader, value }));
    const prefix = this.config.redisPrefix;
    const refused = { ok: false as const, status: 403 as const, reason: 'Too Many Failed Authentications', headers: [] };
    const credentials = this.verifier.credentialsIn(request, kind === 'www' ? 'Authorization' : 'Proxy-Authorization');
    if (!credentials) {
      if (await this.redis.exists(`${prefix}:authblock:${source.address}`)) {
        this.metrics.authFailed('source-blocked');
        return refused;
      }
      return { ok: false, status, reason: kind === 'www' ? 'Unauthorized' : 'Proxy Authentication Required', headers: challenge() };
    }
    const userKey = this.userKey(credentials.username);
    // Three reads of three keys, sent together; not one MULTI, whose keys Redis Cluster would need in one slot (src/platform/redis-keys.ts).
    const [blocked, userFailures, knownTtl] = await Promise.all([
      this.redis.exists(`${prefix}:authblock:${source.address}`),
      this.redis.get(`${userKey}:fail`),
      this.redis.ttl(`${userKey}:ok:${source.address}`),
    ]);
    // TTL: -2 no such key, -1 a key without expiry (not written here), else seconds left.
    const knownAddress = knownTtl !== -2;
    if (blocked) {
      this.metrics.authFailed('source-blocked');
      return refused;
    }
    if (Number(userFailures ?? 0) >= this.config.sip.limits.authFailUserLimit && !knownAddress) {
      this.metrics.authFailed('username-blocked');
      this.logger.warn({ source: source.address, username: credentials.username, failures: Number(userFailures) }, 'SIP authentication refused: too many failures for this username');
      return refused;
    }

    const user = await this.users.findCredentials(credentials.username);
    const sha = credentials.algorithm.startsWith('SHA-256');
    const ha1 = user && user.realm === this.config.sipRealm ? (sha ? user.ha1Sha256 : user.ha1Md5) : sha ? this.decoy.sha256 : this.decoy.md5;
    const verdict = await this.verifier.verify(credentials, { method: request.method, ha1, requestUri: request.uri });
    if (verdict.ok && user) {
      if (!user.active) {
        this.metrics.authFailed('user-disabled');
        return { ok: false, status: 403, reason: 'User Disabled', headers: [] };
      }
      // This address now knows the password: a guesser elsewhere cannot lock it out (see above).
      // Written at most once a minute per user and address (a Redis round trip saved on nearly every call).
      if (knownTtl < KNOWN_ADDRESS_SECONDS - KNOWN_ADDRESS_REFRESH_SECONDS) await this.redis.set(`${userKey}:ok:${source.address}`, '1', 'EX', KNOWN_ADDRESS_SECONDS);
      return { ok: true, user };
    }
    // A replayed nonce-count comes with a correct response: no password was guessed. Behind a SIP edge
    // it is the same request failed over from a silent node; a fresh nonce (stale) lets the client go on.
    if (!verdict.ok && (verdict.stale || verdict.reason === 'replayed-nonce-count')) {
      this.metrics.authFailed('stale-nonce');
      return { ok: false, status, reason: 'Stale Nonce', headers: challenge(true) };
    }
    this.metrics.authFailed(verdict.ok ? 'unknown-user' : verdict.reason);
    await this.recordFailure(source.address, verdict.ok ? 'unknown-user' : verdict.reason, credentials.username, userKey);
    return { ok: false, status, reason: kind === 'www' ? 'Unauthorized' : 'Proxy Authentication Required', headers: challenge() };
  }

  /** Redis key prefix for one username's counters (hashed: usernames are caller-chosen text). */
  private userKey(username: string): string {
    return `${this.config.redisPrefix}:authuser:${createHash('sha256').update(username).digest('base64url').slice(0, 22)}`;
  }

  /**
   * Counts a failure for the source and for the username; past half the source limit each answer
   * waits longer; at the limit, the source is refused. The username's count is checked before the
   * next attempt (authenticate).
   */
  private async recordFailure(address: string, reason: string, username: string, userKey: string): Promise<void> {
    const { authFailLimit, authFailWindowSeconds, authBlockSeconds } = this.config.sip;
    const key = `${this.config.redisPrefix}:authfail:${address}`;
    const [count, userCount] = await Promise.all([countInWindow(this.redis, key, authFailWindowSeconds), countInWindow(this.redis, `${userKey}:fail`, authFailWindowSeconds)]);
    this.logger.warn({ source: address, username, reason, failures: count, usernameFailures: userCount }, 'SIP authentication failed');
    if (count >= authFailLimit) {
      await this.redis.set(`${this.config.redisPrefix}:authblock:${address}`, '1', 'EX', authBlockSeconds);
      this.logger.warn({ source: address, failures: count, blockSeconds: authBlockSeconds }, 'SIP source refused after repeated authentication failures');
      return;
    }
    if (count > authFailLimit / 2) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * count)));
  }
}
