/**
 * Checks a browser user's SIP username and password over HTTP, for the TURN credentials endpoint:
 * the password is hashed into a digest HA1 with the user's realm and compared, in constant time,
 * with the stored one (users are stored with HA1s only, src/users/digest-ha1.ts). The password is
 * never logged or kept.
 *
 * Guessing is bounded like SIP digest's (src/registrar/sip-authenticator.ts), with the same limits
 * (SIP_AUTH_FAIL_LIMIT, SIP_AUTH_FAIL_USER_LIMIT, SIP_AUTH_FAIL_WINDOW_SECONDS,
 * SIP_AUTH_BLOCK_SECONDS) but counters of its own in Redis, shared by every node: failures per
 * source address (at the limit the address is refused for the block time) and per username (past
 * the limit the username is refused until the window ends). An unknown user and a wrong password
 * take the same path and get the same answer, so usernames cannot be enumerated.
 *
 * Must not import the registrar or calls: it reads users through UsersService only.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { REDIS } from '../platform/redis';
import { countInWindow } from '../platform/redis-keys';
import { digestHa1 } from '../users/digest-ha1';
import { UserCredentials, UsersService } from '../users/users.service';

export type LoginOutcome =
  | { readonly ok: true; readonly user: UserCredentials }
  | { readonly ok: false; readonly reason: 'wrong-credentials' | 'disabled' }
  | { readonly ok: false; readonly reason: 'rate-limited'; readonly retryAfterSeconds: number };

@Injectable()
export class PhoneLoginService {
  private readonly logger = new Logger('phone-login');
  /** HA1 compared against for unknown users, so they cost the same as a wrong password. */
  private readonly decoy = randomBytes(16).toString('hex');

  constructor(
    private readonly users: UsersService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async check(username: string, password: string, address: string): Promise<LoginOutcome> {
    const { authFailUserLimit } = this.config.sip.limits;
    const { authFailWindowSeconds } = this.config.sip;
    const keys = this.keys(username, address);
    const [blockTtl, userFailures] = await Promise.all([this.redis.ttl(keys.block), this.redis.get(keys.userFail)]);
    if (blockTtl > 0) return { ok: false, reason: 'rate-limited', retryAfterSeconds: blockTtl };
    if (Number(userFailures ?? 0) >= authFailUserLimit) {
      this.logger.warn({ source: address, username, failures: Number(userFailures) }, 'phone login refused: too many failures for this username');
      return { ok: false, reason: 'rate-limited', retryAfterSeconds: authFailWindowSeconds };
    }
    const user = await this.users.findCredentials(username);
    const realm = user?.realm ?? this.config.sipRealm;
    const expected = Buffer.from(user?.ha1Md5 ?? this.decoy, 'hex');
    const given = Buffer.from(digestHa1(username, realm, password).md5, 'hex');
    const match = timingSafeEqual(expected, given) && user !== undefined;
    if (match && user) {
      if (!user.active) return { ok: false, reason: 'disabled' };
      return { ok: true, user };
    }
    await this.recordFailure(username, address, keys);
    return { ok: false, reason: 'wrong-credentials' };
  }

  private keys(username: string, address: string) {
    const prefix = `${this.config.redisPrefix}:phonelogin`;
    // Hashed: usernames are caller-chosen text and must not shape Redis keys.
    const user = createHash('sha256').update(username).digest('base64url').slice(0, 22);
    return { ipFail: `${prefix}:fail:${address}`, block: `${prefix}:block:${address}`, userFail: `${prefix}:userfail:${user}` };
  }

  private async recordFailure(username: string, address: string, keys: ReturnType<PhoneLoginService['keys']>): Promise<void> {
    const { authFailLimit, authFailWindowSeconds, authBlockSeconds } = this.config.sip;
    const [count, userCount] = await Promise.all([countInWindow(this.redis, keys.ipFail, authFailWindowSeconds), countInWindow(this.redis, keys.userFail, authFailWindowSeconds)]);
    this.logger.warn({ source: address, username, failures: count, usernameFailures: userCount }, 'phone login failed');
    if (count >= authFailLimit) {
      await this.redis.set(keys.block, '1', 'EX', authBlockSeconds);
      this.logger.warn({ source: address, failures: count, blockSeconds: authBlockSeconds }, 'phone login: source refused after repeated failures');
    }
  }
}
