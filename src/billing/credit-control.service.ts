/**
 * Credit control for calls: may this account call this destination now, and for how long?
 * Owns the per-account call holds in Redis (shared by every gateway process); reads accounts and
 * rates through this module's repositories (accounts.repository.ts, cdrs.repository.ts) and
 * RateDecksService. Imports nothing from sip/, calls/ or other domain modules.
 *
 * Each account has one Redis hash of holds, one per call:
 *   L (live)     a call in progress: holds the worst-case cost of its granted maxSeconds
 *   E (ended)    the call ended, its CDR is not yet in the ledger: holds its exact cost
 *   S (settled)  the CDR's debit is in the ledger as entry number `seq` of that account
 * available = balance + creditLimit − Σ L − Σ E − Σ S whose seq the balance read does not include.
 * `authorize` reads the balance under the account row lock (FOR NO KEY UPDATE: it must not block
 * the FK checks of CDR inserts, which take KEY SHARE; bench:calls found them queueing), which is also the lock
 * every ledger append takes, so no debit can land between reading the balance and reserving: two
 * calls at once cannot both spend the same money. Live holds expire (maxSeconds + ringing + grace)
 * so a crashed node does not leak call slots; ended holds expire after a day.
 * Amounts in Redis are integer micro-units (exact below 9·10^9 currency units).
 *
 * The account's fraud limits (account-limits.ts) are checked here too, and refusals say which one:
 * allowedCountries and maxRatePerMinute before the lock; under it, maxConcurrentCalls (null: the
 * configured default) and dailySpendLimit. The daily room is limit − Σ cost of the account's CDRs
 * rated today (UTC, by started_at) − Σ L − Σ E, read under the same row lock as the balance (every
 * rating that debits takes it too), and it caps the grant exactly as the balance does: the new
 * call's hold never takes the day past the limit. A CDR rated but whose hold is not yet settled
 * counts twice for a moment, which only errs on the side of refusing. Refusals carry a reason, not
 * a SIP status: calls/ maps reasons to answers (call-policy.ts).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { REDIS } from '../platform/redis';
import { AccountsRepository } from './accounts.repository';
import { AccountLimit, countryAllowed, dailyRoom, rateAllowed, utcDayStart } from './account-limits';
import { CdrsRepository } from './cdrs.repository';
import { RateDecksService, Rate } from './rate-decks.service';
import { affordableSeconds, costOf, fromMicros, Money, toMicros } from './rating';

/** Longest call granted at once: a call with a large balance must not hold all of it. */
export const MAX_CALL_SECONDS = 4 * 3600;
/** Time a reservation allows for call setup (ringing) before the granted seconds start. */
export const SETUP_ALLOWANCE_SECONDS = 180;
const GRACE_SECONDS = 60;
const ENDED_HOLD_SECONDS = 24 * 3600;
const SETTLED_HOLD_SECONDS = 300;

export type RefusalReason =
  | 'unknown_account'
  | 'suspended'
  | 'no_rate'
  | 'insufficient_balance'
  | 'concurrent_limit'
  | 'country_not_allowed'
  | 'rate_above_limit'
  | 'daily_spend_limit';

/** The account field behind each limit refusal. */
export const LIMIT_OF: Partial<Record<RefusalReason, AccountLimit>> = {
  concurrent_limit: 'maxConcurrentCalls',
  country_not_allowed: 'allowedCountries',
  rate_above_limit: 'maxRatePerMinute',
  daily_spend_limit: 'dailySpendLimit',
};

export interface Reservation {
  /** Pass back to `release`, and in the call summary to `record`. */
  id: string;
  accountId: string;
  destination: string;
  rate: Rate;
  /** The call must end by then (B2BUA sends BYE): whole billing increments the balance can pay. */
  maxSeconds: number;
  /** Worst-case cost held for this call (decimal string). */
  held: string;
  currency: string;
}

export type Authorization =
  | ({ allowed: true } & Reservation)
  | { allowed: false; reason: RefusalReason; /** The account field that refused, for limit refusals. */ limit?: AccountLimit; message: string };

// Holds are "state|micros|expiresAtMs|seq".
// With ARGV[3] = '1' (authorize, under the account row lock) a settled hold the balance already
// includes is deleted: every later locked read sees a ledger_seq at least as high, so it can never
// count again. Without that pruning the hash grew with every call of the last SETTLED_HOLD_SECONDS
// and this scan, run under the row lock, serialised a busy account's calls (bench:calls).
const SNAPSHOT = `
local now = tonumber(ARGV[1]); local readSeq = tonumber(ARGV[2]); local prune = ARGV[3] == '1'
local live, held = 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local s, m, e, q = string.match(all[i + 1], '^(%a)|(%-?%d+)|(%d+)|(%d+)$')
  if s == nil or tonumber(e) < now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif s == 'L' then live = live + 1; held = held + tonumber(m)
  elseif s == 'E' then held = held + tonumber(m)
  elseif s == 'S' and tonumber(q) > readSeq then held = held + tonumber(m)
  elseif s == 'S' and prune then redis.call('HDEL', KEYS[1], all[i])
  end
end
return {live, string.format('%.0f', held)}`;
const PUT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;
/** Moves an existing hold to a new state; a hold that is gone (expired, released) stays gone. */
const MOVE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

@Injectable()
export class CreditControlService {
  constructor(
    private readonly accounts: AccountsRepository,
    private readonly cdrs: CdrsRepository,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly decks: RateDecksService,
  ) {}

  private key(accountId: string): string {
    return `${this.config.redisPrefix}:billing:holds:${accountId}`;
  }

  /**
   * For the B2BUA before it sends an INVITE onwards. Refusals say why (`reason`, and `limit` when an
   * account limit refused); `options.maxSeconds` caps the grant.
   */
  async authorize(accountId: string, destination: string, options: { maxSeconds?: number; now?: Date } = {}): Promise<Authorization> {
    const now = options.now ?? new Date();
    const cap = Math.min(options.maxSeconds ?? MAX_CALL_SECONDS, MAX_CALL_SECONDS);
    const pre = await this.accounts.callProfile(accountId);
    if (!pre) return refuse('unknown_account', `account ${accountId} does not exist`);
    if (pre.status !== 'active') return refuse('suspended', 'the account is suspended');
    if (!countryAllowed(pre.allowedCountries, destination)) {
      return refuse('country_not_allowed', `${destination} is outside the account's allowed countries (${pre.allowedCountries!.join(', ') || 'none'})`);
    }
    const rate = pre.rateDeckId ? await this.decks.findRate(pre.rateDeckId, destination, now) : null;
    if (!rate) return refuse('no_rate', pre.rateDeckId ? `no rate for ${destination}` : 'the account has no rate deck');
    if (rate.currency !== pre.currency) return refuse('no_rate', `the rate deck is in ${rate.currency}, the account in ${pre.currency}`);
    if (!rateAllowed(pre.maxRatePerMinute, rate.ratePerMinute)) {
      return refuse('rate_above_limit', `${destination} costs ${rate.ratePerMinute} ${rate.currency}/min, above the account's ${pre.maxRatePerMinute}`);
    }

    // This transaction changes no data (the hold goes to Redis), yet taking the row lock gives it
    // an xid, so its COMMIT would wait for a WAL flush while every other call of the account waits
    // for the lock. Nothing here needs to be durable: skip the flush (bench:calls found the queue).
    return this.accounts.transaction(async (tx) => {
      const acc = await this.accounts.lockFunds(tx, accountId);
      if (!acc) return refuse('unknown_account', `account ${accountId} does not exist`);
      if (acc.status !== 'active') return refuse('suspended', 'the account is suspended');
      const key = this.key(accountId);
      const [live, heldMicros] = (await this.redis.eval(SNAPSHOT, 1, key, now.getTime(), acc.ledgerSeq, '1')) as [number, string];
      const maxCalls = acc.maxConcurrentCalls ?? this.config.calls.defaultMaxConcurrentCalls;
      if (maxCalls !== null && live >= maxCalls) {
        const which = acc.maxConcurrentCalls === null ? 'the default limit' : 'limit';
        return refuse('concurrent_limit', `the account already has ${live} call(s) in progress (${which} ${maxCalls})`);
      }
      const held = fromMicros(BigInt(heldMicros));
      const available = new Money(acc.balance).plus(acc.creditLimit).minus(held);
      let maxSeconds = affordableSeconds(rate, available, cap);
      if (maxSeconds === 0) {
        return refuse('insufficient_balance', `the balance cannot pay the first ${rate.firstIncrement} s at ${rate.ratePerMinute} ${rate.currency}/min`);
      }
      if (acc.dailySpendLimit !== null) {
        const spent = await this.cdrs.ratedCostSince(tx, accountId, utcDayStart(now));
        const room = dailyRoom(acc.dailySpendLimit, spent, held);
        maxSeconds = Math.min(maxSeconds, affordableSeconds(rate, room, cap));
        if (maxSeconds === 0) {
          return refuse('daily_spend_limit', `today's spending (${spent} rated, ${held} held) leaves ${room.toFixed(6)} of the daily limit ${acc.dailySpendLimit}: less than the first ${rate.firstIncrement} s`);
        }
      }
      const hold = costOf(rate, maxSeconds);
      const id = newId();
      const ttlMs = (maxSeconds + SETUP_ALLOWANCE_SECONDS + GRACE_SECONDS) * 1000;
      await this.redis.eval(PUT, 1, key, id, `L|${toMicros(hold)}|${now.getTime() + ttlMs}|0`, ENDED_HOLD_SECONDS * 1000 * 2);
      const r: Authorization = { allowed: true, id, accountId, destination, rate, maxSeconds, held: hold.toFixed(6), currency: pre.currency };
      return r;
    }, { durable: false });
  }

  /** Frees a reservation that will produce no CDR (or that record() will not see). Idempotent. */
  async release(reservation: Pick<Reservation, 'id' | 'accountId'>): Promise<void> {
    await this.redis.eval(MOVE, 1, this.key(reservation.accountId), reservation.id, '');
  }

  /** The call ended; until its CDR is in the ledger, hold its exact cost instead of the worst case. */
  async callEnded(accountId: string, reservationId: string, cost: string, now = new Date()): Promise<void> {
    const micros = toMicros(cost);
    const value = micros === 0n ? '' : `E|${micros}|${now.getTime() + ENDED_HOLD_SECONDS * 1000}|0`;
    await this.redis.eval(MOVE, 1, this.key(accountId), reservationId, value);
  }

  /** The CDR's debit is ledger entry `seq` (0: nothing was debited): balances read from now on include it. */
  async settled(accountId: string, reservationId: string, cost: string, seq: number, now = new Date()): Promise<void> {
    const micros = toMicros(cost);
    const value = micros === 0n || seq === 0 ? '' : `S|${micros}|${now.getTime() + SETTLED_HOLD_SECONDS * 1000}|${seq}`;
    await this.redis.eval(MOVE, 1, this.key(accountId), reservationId, value);
  }

  /** Calls in progress for the account, as every gateway process sees them. */
  async activeCalls(accountId: string, now = new Date()): Promise<number> {
    const [live] = (await this.redis.eval(SNAPSHOT, 1, this.key(accountId), now.getTime(), Number.MAX_SAFE_INTEGER, '0')) as [number, string];
    return live;
  }
}

function refuse(reason: RefusalReason, message: string): Authorization {
  const limit = LIMIT_OF[reason];
  return limit ? { allowed: false, reason, limit, message } : { allowed: false, reason, message };
}
