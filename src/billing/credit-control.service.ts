/**
 * Credit control for calls: may this account call this destination now, and for how long?
 * Owns the per-account call holds in Redis (shared by every gateway process); reads accounts and
 * rates through SQL of this module. Imports nothing from sip/, calls/ or other domain modules.
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
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { REDIS } from '../platform/redis';
import { RateDecksService, Rate } from './rate-decks.service';
import { affordableSeconds, costOf, fromMicros, Money, toMicros } from './rating';

/** Longest call granted at once: a call with a large balance must not hold all of it. */
export const MAX_CALL_SECONDS = 4 * 3600;
/** Time a reservation allows for call setup (ringing) before the granted seconds start. */
export const SETUP_ALLOWANCE_SECONDS = 180;
const GRACE_SECONDS = 60;
const ENDED_HOLD_SECONDS = 24 * 3600;
const SETTLED_HOLD_SECONDS = 300;

export type RefusalReason = 'unknown_account' | 'suspended' | 'no_rate' | 'insufficient_balance' | 'concurrent_limit';

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
  | { allowed: false; reason: RefusalReason; sipCode: 402 | 403 | 404 | 486; message: string };

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
    @InjectDataSource() private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly decks: RateDecksService,
  ) {}

  private key(accountId: string): string {
    return `${this.config.redisPrefix}:billing:holds:${accountId}`;
  }

  /**
   * For the B2BUA before it sends an INVITE onwards. Refusals carry the SIP status to answer:
   * 402 the balance cannot pay the first increment, 403 suspended or no rate, 404 unknown account,
   * 486 the account's concurrent-call limit is reached. `options.maxSeconds` caps the grant.
   */
  async authorize(accountId: string, destination: string, options: { maxSeconds?: number; now?: Date } = {}): Promise<Authorization> {
    const now = options.now ?? new Date();
    const cap = Math.min(options.maxSeconds ?? MAX_CALL_SECONDS, MAX_CALL_SECONDS);
    const [pre] = (await this.db.query('SELECT rate_deck_id, currency, status FROM accounts WHERE id = $1', [accountId])) as {
      rate_deck_id: string | null;
      currency: string;
      status: string;
    }[];
    if (!pre) return refuse('unknown_account', 404, `account ${accountId} does not exist`);
    if (pre.status !== 'active') return refuse('suspended', 403, 'the account is suspended');
    const rate = pre.rate_deck_id ? await this.decks.findRate(pre.rate_deck_id, destination, now) : null;
    if (!rate) return refuse('no_rate', 403, pre.rate_deck_id ? `no rate for ${destination}` : 'the account has no rate deck');
    if (rate.currency !== pre.currency) return refuse('no_rate', 403, `the rate deck is in ${rate.currency}, the account in ${pre.currency}`);

    return this.db.transaction(async (tx) => {
      // This transaction changes no data (the hold goes to Redis), yet taking the row lock gives it
      // an xid, so its COMMIT would wait for a WAL flush while every other call of the account waits
      // for the lock. Nothing here needs to be durable: skip the flush (bench:calls found the queue).
      await tx.query('SET LOCAL synchronous_commit TO OFF');
      const [acc] = (await tx.query('SELECT balance, credit_limit, ledger_seq, status, max_concurrent_calls FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId])) as {
        balance: string;
        credit_limit: string;
        ledger_seq: string;
        status: string;
        max_concurrent_calls: number | null;
      }[];
      if (!acc) return refuse('unknown_account', 404, `account ${accountId} does not exist`);
      if (acc.status !== 'active') return refuse('suspended', 403, 'the account is suspended');
      const key = this.key(accountId);
      const [live, heldMicros] = (await this.redis.eval(SNAPSHOT, 1, key, now.getTime(), acc.ledger_seq, '1')) as [number, string];
      if (acc.max_concurrent_calls !== null && live >= acc.max_concurrent_calls) {
        return refuse('concurrent_limit', 486, `the account already has ${live} call(s) in progress (limit ${acc.max_concurrent_calls})`);
      }
      const available = new Money(acc.balance).plus(acc.credit_limit).minus(fromMicros(BigInt(heldMicros)));
      const maxSeconds = affordableSeconds(rate, available, cap);
      if (maxSeconds === 0) {
        return refuse('insufficient_balance', 402, `the balance cannot pay the first ${rate.firstIncrement} s at ${rate.ratePerMinute} ${rate.currency}/min`);
      }
      const held = costOf(rate, maxSeconds);
      const id = newId();
      const ttlMs = (maxSeconds + SETUP_ALLOWANCE_SECONDS + GRACE_SECONDS) * 1000;
      await this.redis.eval(PUT, 1, key, id, `L|${toMicros(held)}|${now.getTime() + ttlMs}|0`, ENDED_HOLD_SECONDS * 1000 * 2);
      const r: Authorization = { allowed: true, id, accountId, destination, rate, maxSeconds, held: held.toFixed(6), currency: pre.currency };
      return r;
    });
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

function refuse(reason: RefusalReason, sipCode: 402 | 403 | 404 | 486, message: string): Authorization {
  return { allowed: false, reason, sipCode, message };
}
