/**
 * Digest authentication of SIP requests against the users' stored HA1 hashes, for the registrar
 * (401) and, later, calls (407). An unknown user and a wrong password get the same answer, computed
 * the same way (against a random HA1), so usernames cannot be enumerated. Nonce counts live in
 * Redis, so a captured request cannot be replayed on another node. Repeated failures from one
 * source address are slowed, then refused for a while, and logged.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { REDIS } from '../platform/redis';
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
    if (await this.redis.exists(`${prefix}:authblock:${source.address}`)) {
      return { ok: false, status: 403, reason: 'Too Many Failed Authentications', headers: [] };
    }
    const credentials = this.verifier.credentialsIn(request, kind === 'www' ? 'Authorization' : 'Proxy-Authorization');
    if (!credentials) return { ok: false, status, reason: kind === 'www' ? 'Unauthorized' : 'Proxy Authentication Required', headers: challenge() };

    const user = await this.users.findCredentials(credentials.username);
    const sha = credentials.algorithm.startsWith('SHA-256');
    const ha1 = user && user.realm === this.config.sipRealm ? (sha ? user.ha1Sha256 : user.ha1Md5) : sha ? this.decoy.sha256 : this.decoy.md5;
    const verdict = await this.verifier.verify(credentials, { method: request.method, ha1 });
    if (verdict.ok && user) {
      if (!user.active) return { ok: false, status: 403, reason: 'User Disabled', headers: [] };
      return { ok: true, user };
    }
    if (!verdict.ok && verdict.stale) return { ok: false, status, reason: 'Stale Nonce', headers: challenge(true) };
    await this.recordFailure(source.address, verdict.ok ? 'unknown-user' : verdict.reason, credentials.username);
    return { ok: false, status, reason: kind === 'www' ? 'Unauthorized' : 'Proxy Authentication Required', headers: challenge() };
  }

  /** Counts a failure for the source; past half the limit each answer waits longer; at the limit, the source is refused. */
  private async recordFailure(address: string, reason: string, username: string): Promise<void> {
    const { authFailLimit, authFailWindowSeconds, authBlockSeconds } = this.config.sip;
    const key = `${this.config.redisPrefix}:authfail:${address}`;
    const [[, count]] = (await this.redis.multi().incr(key).expire(key, authFailWindowSeconds, 'NX').exec()) as [[null, number], unknown];
    this.logger.warn({ source: address, username, reason, failures: count }, 'SIP authentication failed');
    if (count >= authFailLimit) {
      await this.redis.set(`${this.config.redisPrefix}:authblock:${address}`, '1', 'EX', authBlockSeconds);
      this.logger.warn({ source: address, failures: count, blockSeconds: authBlockSeconds }, 'SIP source refused after repeated authentication failures');
      return;
    }
    if (count > authFailLimit / 2) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * count)));
  }
}
