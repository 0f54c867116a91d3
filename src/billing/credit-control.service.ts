/**
 * Credit control for calls: may this account call this destination now, and for how long?
 * Owns the per-account call holds and the account snapshot in Redis (shared by every gateway
 * process); reads accounts through accounts.repository.ts and rates through RateDecksService.
 * Imports nothing from sip/, calls/ or other domain modules. The Lua lives in credit-scripts.ts.
 *
 * Design (issue 13: one account placing every call must be as fast as many accounts). PostgreSQL
 * is the ledger of truth; Redis holds, per account, a snapshot of what authorization needs and the
 * holds of calls not yet in the ledger. One Lua script (AUTHORIZE) checks and holds atomically,
 * so there is no row lock, no PostgreSQL transaction and no queue per account on this path:
 *
 *   snapshot  balance, credit limit, ledger_seq, settings_version, status, maxConcurrentCalls,
 *             dailySpendLimit, today's rated spending (UTC day, by started_at), read from
 *             PostgreSQL in one statement (a consistent MVCC view), with the account's profile
 *             (rate deck, currency, allowed countries, max rate) that each process also caches.
 *   holds     L (live)     a call in progress: the worst-case cost of its granted maxSeconds
 *             E (ended)    the call ended, its CDR is not in the ledger yet: its exact cost
 *             S (settled)  its debit is ledger entry `seq`, which the snapshot may not include yet
 *   available = balance + creditLimit − Σ L − Σ E − Σ S (S with seq ≤ snapshot seq are pruned:
 *             the balance has them). Daily room = limit − spent − the same holds. Running sums
 *             and two sorted sets (by expiry, by seq) keep the script O(log n) however many
 *             calls the account has open: no scan of every hold per call.
 *
 * Who updates the snapshot, and why a stale one never over-grants:
 *  - The rating worker, after each batch commits, reads the debited accounts' snapshots inside the
 *    batch's transaction (accounts locked, so the read is exactly as of the batch's ledger seqs)
 *    and runs SETTLE per account: snapshot written, the calls' holds moved to S and pruned in the
 *    same atomic step. Until then the holds (E) cover the cost; after, the balance does.
 *  - Snapshots are written only if newer: a higher ledger seq or settings version stored wins, so
 *    a slow reader can never put back an older balance or older limits.
 *  - A top-up refreshes it after its commit (until then the snapshot is short of money: refusals
 *    only). A rental puts an E hold for the fee before its transaction and settles it after, like
 *    a call. An account update (limits, status, credit limit, deck) bumps settings_version in the
 *    same transaction, then writes a tombstone with the new version (INVALIDATE): the next
 *    authorization reloads, and no read older than the update can be written back.
 *  - Every snapshot older than SNAPSHOT_MAX_AGE_MS is read again: a refresh lost to a Redis blip
 *    (a top-up's, an update's) is seen within that bound. A hot account being rated never ages.
 *  - A settled hold is written as S even when the hold was gone, so a reader that loaded the
 *    balance just before the commit still counts the debit (its seq is above that snapshot's).
 *
 * Redis lost (restart without persistence, FLUSH, failover to an empty replica): holds, snapshots
 * and the epoch key are gone. The next script call finds no epoch, makes a new one and opens a
 * recovery window (RECOVERY_MS) during which authorizations wait (bounded, no refusal). Every
 * process keeps the live holds it granted in memory and re-puts them (PUT_NEW, only if absent)
 * as soon as it sees the epoch change: its next authorization or its heartbeat
 * (HEARTBEAT_MS < RECOVERY_MS). Ended holds are rebuilt from PostgreSQL by the next snapshot load
 * (pending CDRs with a reservation, at their exact cost, in the same statement as the balance).
 * Settled ones need nothing: the reloaded balance includes them. So in-flight calls are not
 * double-spent. Limits of this: a process that is down or cut off from Redis for the whole
 * window cannot re-assert its live calls; those calls can then overlap new grants by at most
 * their held worst case (they still end at their maxSeconds, and rating debits them exactly, so
 * balances stay exact; the account may go below its credit limit by that much). A live hold
 * re-asserted after its call ended elsewhere only refuses early, until it expires.
 *
 * PostgreSQL briefly lost: authorizations of accounts with a fresh snapshot need no PostgreSQL
 * except the rate lookup (RateDecksService), so they fail with it; CDRs are not recorded (record()
 * fails) and rating retries (BullMQ backoff, then the pending sweep). Holds stay in Redis: E holds
 * keep ended calls' costs counted until the worker debits them after PostgreSQL returns.
 *
 * Refusals say which limit (account-limits.ts): allowedCountries and maxRatePerMinute here, from
 * the cached profile; maxConcurrentCalls (null: the configured default), the balance and
 * dailySpendLimit in the script, which caps the grant exactly as the balance does. Refusals carry
 * a reason, not a SIP status: calls/ maps reasons to answers (call-policy.ts).
 * Amounts in Redis are integer micro-units (exact below 9·10^9 currency units).
 */
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { REDIS } from '../platform/redis';
import { AccountsRepository, FundsSnapshotRow } from './accounts.repository';
import { AccountLimit, countryAllowed, rateAllowed, utcDayStart } from './account-limits';
import { AUTHORIZE, EPOCH, INVALIDATE, LIVE, LOAD, MOVE, PUT_NEW, SETTLE } from './credit-scripts';
import { RateDecksService, Rate } from './rate-decks.service';
import { fromMicros, rateCall, toMicros } from './rating';
import type { Tx } from './sql.repository';

/** Longest call granted at once: a call with a large balance must not hold all of it. */
export const MAX_CALL_SECONDS = 4 * 3600;
/** Time a reservation allows for call setup (ringing) before the granted seconds start. */
export const SETUP_ALLOWANCE_SECONDS = 180;
const GRACE_SECONDS = 60;
const ENDED_HOLD_SECONDS = 24 * 3600;
/** A settled hold lives until the snapshot includes its seq; this only bounds a lost snapshot push. */
const SETTLED_HOLD_SECONDS = 24 * 3600;
/** A snapshot older than this is read again from PostgreSQL (bounds a lost refresh). */
export const SNAPSHOT_MAX_AGE_MS = 60_000;
/** After Redis lost the billing keys, authorizations wait this long for every process to re-put its live holds. */
export const RECOVERY_MS = 1500;
const HEARTBEAT_MS = 400;
/** rate × seconds must stay exact in a Lua double. */
const EXACT_LIMIT = 2 ** 50;

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

/** What each process caches per account: checked before the script, versioned by settings_version. */
interface Profile {
  ver: string;
  rateDeckId: string | null;
  currency: string;
  status: string;
  allowedCountries: string[] | null;
  maxRatePerMinute: string | null;
}

/** A snapshot to write with a settlement: read inside the rating transaction (see snapshotsIn). */
export type FundsSnapshot = { accountId: string; args: string[] };

/** A debit now in the ledger: its hold (a call's reservation, a rental's) becomes S. */
export interface Settlement {
  accountId: string;
  holdId: string;
  cost: string;
  /** The ledger entry's seq; 0: nothing was debited. */
  seq: number;
}

type ScriptAnswer = [string, ...(string | number)[]];

@Injectable()
export class CreditControlService implements OnModuleDestroy {
  private readonly log = new Logger('credit-control');
  private readonly profiles = new Map<string, Profile>();
  private readonly loading = new Map<string, Promise<Profile | null>>();
  /** The live holds this process granted, to re-put after Redis lost them. */
  private readonly live = new Map<string, { accountId: string; value: string; expiresAt: number }>();
  private epoch = '';
  private reasserting?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly accounts: AccountsRepository,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly decks: RateDecksService,
  ) {}

  onModuleDestroy(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  private keys(accountId: string): string[] {
    const p = `${this.config.redisPrefix}:billing`;
    return [`${p}:holds:${accountId}`, `${p}:hexp:${accountId}`, `${p}:hseq:${accountId}`, `${p}:snap:${accountId}`, `${p}:epoch`, `${p}:recovering`];
  }

  /**
   * Runs a script by its SHA1 (EVALSHA: the text is not sent on every call); the first call on a
   * Redis that does not know it yet (or lost it) sends the text once with EVAL.
   */
  private async run(script: string, accountId: string, args: (string | number)[]): Promise<unknown> {
    const sha = shaOf(script);
    try {
      return await this.redis.evalsha(sha, 6, ...this.keys(accountId), ...args);
    } catch (e) {
      if (!String((e as Error).message).startsWith('NOSCRIPT')) throw e;
      return this.redis.eval(script, 6, ...this.keys(accountId), ...args);
    }
  }

  /**
   * For the B2BUA before it sends an INVITE onwards. Refusals say why (`reason`, and `limit` when an
   * account limit refused); `options.maxSeconds` caps the grant.
   */
  async authorize(accountId: string, destination: string, options: { maxSeconds?: number; now?: Date } = {}): Promise<Authorization> {
    const now = options.now ?? new Date();
    let prof: Profile | null | undefined = this.profiles.get(accountId);
    let checked: { rate: Rate; prof: Profile } | undefined;
    let verified = false;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (!prof) {
        prof = await this.load(accountId, now);
        verified = true;
      }
      if (!prof) return refuse('unknown_account', `account ${accountId} does not exist`);
      if (checked?.prof !== prof) {
        const pre = await this.precheck(prof, destination, now);
        if (!('rate' in pre)) {
          if (verified) return pre;
          // A refusal from this process's cache: make sure the settings have not changed since.
          const [ok, ver, json] = await this.redis.hmget(this.keys(accountId)[3], 'ok', 'ver', 'p');
          verified = true;
          if (ok === '1' && ver === prof.ver) return pre;
          prof = ok === '1' && json ? this.cacheProfile(accountId, ver!, json) : undefined;
          continue;
        }
        checked = { rate: pre.rate, prof };
      }
      const rate = checked.rate;
      const rateMicros = toMicros(rate.ratePerMinute);
      const cap = Math.min(options.maxSeconds ?? MAX_CALL_SECONDS, MAX_CALL_SECONDS, rateMicros > 0n ? Math.floor(EXACT_LIMIT / Number(rateMicros)) : MAX_CALL_SECONDS);
      const id = newId();
      const defaultMax = this.config.calls.defaultMaxConcurrentCalls;
      const r = (await this.run(AUTHORIZE, accountId, [
        now.getTime(), this.epoch, prof.ver, utcDayStart(now).getTime(), SNAPSHOT_MAX_AGE_MS, id, defaultMax === null ? '' : defaultMax, cap,
        toMicros(rate.connectionFee).toString(), rateMicros.toString(), rate.firstIncrement, rate.nextIncrement, SETUP_ALLOWANCE_SECONDS + GRACE_SECONDS,
      ])) as ScriptAnswer;
      switch (r[0]) {
        case 'ok': {
          const maxSeconds = Number(r[1]);
          const micros = String(r[2]);
          const expiresAt = now.getTime() + (maxSeconds + SETUP_ALLOWANCE_SECONDS + GRACE_SECONDS) * 1000;
          this.remember(id, accountId, `L|${micros}|${expiresAt}|0`, expiresAt);
          return { allowed: true, id, accountId, destination, rate, maxSeconds, held: fromMicros(BigInt(micros)), currency: prof.currency };
        }
        case 'reassert':
          await this.reassert(accountId);
          continue;
        case 'wait':
          await new Promise((res) => setTimeout(res, Math.min(Number(r[1]), RECOVERY_MS) + 5));
          continue;
        case 'load':
          prof = await this.load(accountId, now);
          verified = true;
          continue;
        case 'stale':
          prof = this.cacheProfile(accountId, String(r[1]), String(r[2]));
          verified = true;
          continue;
        case 'suspended':
          this.profiles.delete(accountId);
          return refuse('suspended', 'the account is suspended');
        case 'concurrent': {
          const which = Number(r[3]) === 1 ? 'the default limit' : 'limit';
          return refuse('concurrent_limit', `the account already has ${r[1]} call(s) in progress (${which} ${r[2]})`);
        }
        case 'balance':
          return refuse('insufficient_balance', `the balance cannot pay the first ${rate.firstIncrement} s at ${rate.ratePerMinute} ${rate.currency}/min`);
        case 'daily': {
          const [spent, held, room, limit] = r.slice(1, 5).map((x) => fromMicros(BigInt(String(x))));
          return refuse('daily_spend_limit', `today's spending (${spent} rated, ${held} held) leaves ${room} of the daily limit ${limit}: less than the first ${rate.firstIncrement} s`);
        }
        default:
          throw new Error(`credit control: unexpected answer ${String(r[0])}`);
      }
    }
    throw new Error(`credit control: the snapshot of account ${accountId} kept changing; try again`);
  }

  /** The checks that need the profile only: status, country, rate, currency, max rate. */
  private async precheck(prof: Profile, destination: string, now: Date): Promise<{ rate: Rate } | Authorization> {
    if (prof.status !== 'active') return refuse('suspended', 'the account is suspended');
    if (!countryAllowed(prof.allowedCountries, destination)) {
      return refuse('country_not_allowed', `${destination} is outside the account's allowed countries (${prof.allowedCountries!.join(', ') || 'none'})`);
    }
    const rate = prof.rateDeckId ? await this.decks.findRate(prof.rateDeckId, destination, now) : null;
    if (!rate) return refuse('no_rate', prof.rateDeckId ? `no rate for ${destination}` : 'the account has no rate deck');
    if (rate.currency !== prof.currency) return refuse('no_rate', `the rate deck is in ${rate.currency}, the account in ${prof.currency}`);
    if (!rateAllowed(prof.maxRatePerMinute, rate.ratePerMinute)) {
      return refuse('rate_above_limit', `${destination} costs ${rate.ratePerMinute} ${rate.currency}/min, above the account's ${prof.maxRatePerMinute}`);
    }
    return { rate };
  }

  private cacheProfile(accountId: string, ver: string, json: string): Profile {
    const p = { ...(JSON.parse(json) as Omit<Profile, 'ver'>), ver };
    this.profiles.set(accountId, p);
    return p;
  }

  /** Reads the snapshot from PostgreSQL and writes it (once per account at a time in this process). */
  private load(accountId: string, now: Date): Promise<Profile | null> {
    let p = this.loading.get(accountId);
    if (!p) {
      p = this.loadNow(accountId, now).finally(() => this.loading.delete(accountId));
      this.loading.set(accountId, p);
    }
    return p;
  }

  private async loadNow(accountId: string, now: Date): Promise<Profile | null> {
    const [row] = await this.accounts.fundsSnapshots(undefined, [accountId], utcDayStart(now), true);
    if (!row) {
      this.profiles.delete(accountId);
      return null;
    }
    const pending: string[] = [];
    for (const c of row.pending ?? []) {
      if (c.rate === null) continue;
      const cost = toMicros(rateCall({ ratePerMinute: c.rate, connectionFee: c.fee ?? '0', firstIncrement: c.first ?? 1, nextIncrement: c.next ?? 1 }, c.seconds, c.answered).cost);
      if (cost > 0n) pending.push(c.id, cost.toString(), String(now.getTime() + ENDED_HOLD_SECONDS * 1000));
    }
    const { args, profile } = snapshotArgs(row, now);
    await this.run(LOAD, accountId, [...args, ...pending]);
    return this.cacheProfile(accountId, profile.ver, JSON.stringify(profile));
  }

  /** The epoch changed (Redis lost the billing keys) or this process has not seen it yet: re-put this process's live holds. */
  private reassert(accountId: string): Promise<void> {
    // Once at a time per process: every authorization of a burst would otherwise re-put them all.
    this.reasserting ??= this.reassertNow(accountId).finally(() => (this.reasserting = undefined));
    return this.reasserting;
  }

  private async reassertNow(accountId: string): Promise<void> {
    const epoch = String(await this.run(EPOCH, accountId, [newId(), RECOVERY_MS]));
    const now = Date.now();
    await Promise.all(
      [...this.live].map(([id, h]) => {
        if (h.expiresAt < now) return this.live.delete(id);
        return this.run(PUT_NEW, h.accountId, [id, h.value]);
      }),
    );
    if (this.epoch !== epoch && this.epoch !== '') this.log.warn({ epoch }, 'billing keys lost in Redis: live holds of this process put back');
    this.epoch = epoch;
  }

  private remember(id: string, accountId: string, value: string, expiresAt: number): void {
    this.live.set(id, { accountId, value, expiresAt });
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    // A call recorded by another process leaves its entry here until it expires.
    for (const [id, h] of this.live) if (h.expiresAt < now) this.live.delete(id);
    if (this.live.size === 0) return;
    const accountId = this.live.values().next().value!.accountId;
    try {
      const epoch = await this.redis.get(this.keys(accountId)[4]);
      if (epoch !== this.epoch) await this.reassert(accountId);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'credit control heartbeat failed');
    }
  }

  /** Frees a reservation that will produce no CDR (or that record() will not see). Idempotent. */
  async release(reservation: Pick<Reservation, 'id' | 'accountId'>): Promise<void> {
    this.live.delete(reservation.id);
    await this.run(MOVE, reservation.accountId, [reservation.id, '']);
  }

  /** The call ended; until its CDR is in the ledger, hold its exact cost instead of the worst case. */
  async callEnded(accountId: string, reservationId: string, cost: string, now = new Date()): Promise<void> {
    this.live.delete(reservationId);
    const micros = toMicros(cost);
    const value = micros === 0n ? '' : `E|${micros}|${now.getTime() + ENDED_HOLD_SECONDS * 1000}|0`;
    await this.run(MOVE, accountId, [reservationId, value]);
  }

  /**
   * Holds a debit about to be written outside rating (a rental), so no authorization spends the
   * money meanwhile. Settle it with `settle` once committed (seq 0 if nothing was debited).
   */
  async holdDebit(accountId: string, amount: string, now = new Date()): Promise<string> {
    const id = newId();
    await this.run(PUT_NEW, accountId, [id, `E|${toMicros(amount)}|${now.getTime() + ENDED_HOLD_SECONDS * 1000}|0`]);
    return id;
  }

  /**
   * For the rating worker, inside its transaction after the debits (the accounts are locked by
   * it): the snapshots of these accounts as of the commit, to write with the settlements.
   */
  async snapshotsIn(tx: Tx, accountIds: string[], now = new Date()): Promise<FundsSnapshot[]> {
    if (!accountIds.length) return [];
    const rows = await this.accounts.fundsSnapshots(tx, accountIds, utcDayStart(now), false);
    return rows.map((row) => ({ accountId: row.id, args: snapshotArgs(row, now).args }));
  }

  /**
   * After a commit: each account's snapshot (if given) and its debits' holds, in one script per
   * account: the holds become S and those the snapshot includes go. Idempotent.
   */
  async settle(settlements: Settlement[], snapshots: FundsSnapshot[] = [], now = new Date()): Promise<void> {
    const byAccount = new Map<string, { snap?: string[]; args: string[] }>();
    const of = (id: string) => byAccount.get(id) ?? byAccount.set(id, { args: [] }).get(id)!;
    for (const s of snapshots) of(s.accountId).snap = s.args;
    const expires = String(now.getTime() + SETTLED_HOLD_SECONDS * 1000);
    for (const s of settlements) of(s.accountId).args.push(s.holdId, toMicros(s.cost).toString(), String(s.seq), expires);
    await Promise.all([...byAccount].map(([accountId, b]) => this.run(SETTLE, accountId, [...(b.snap ?? ['']), ...b.args])));
  }

  /** The CDR's debit is ledger entry `seq` (0: nothing was debited): balances read from now on include it. */
  async settled(accountId: string, reservationId: string, cost: string, seq: number, now = new Date()): Promise<void> {
    await this.settle([{ accountId, holdId: reservationId, cost, seq }], [], now);
  }

  /** Reads the account's snapshot again (after a top-up commits): written only if newer than the stored one. */
  async refresh(accountId: string, now = new Date()): Promise<void> {
    await this.loadNow(accountId, now);
  }

  /** The account's settings changed to `version` (settings_version): no older snapshot may be used or written. */
  async invalidate(accountId: string, version: string): Promise<void> {
    this.profiles.delete(accountId);
    await this.run(INVALIDATE, accountId, [version]);
  }

  /** Calls in progress for the account, as every gateway process sees them. */
  async activeCalls(accountId: string, now = new Date()): Promise<number> {
    return Number(await this.run(LIVE, accountId, [now.getTime()]));
  }
}

const shas = new Map<string, string>();
function shaOf(script: string): string {
  let sha = shas.get(script);
  if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
  return sha;
}

/** The ARGV of a snapshot (credit-scripts.ts SNAPSHOT_ARGS) and the profile it carries. */
function snapshotArgs(row: FundsSnapshotRow, now: Date): { args: string[]; profile: Profile } {
  const profile: Profile = {
    ver: row.settings_version,
    rateDeckId: row.rate_deck_id,
    currency: row.currency,
    status: row.status,
    allowedCountries: row.allowed_countries,
    maxRatePerMinute: row.max_rate_per_minute,
  };
  const { ver: _ver, ...p } = profile;
  const args = [
    row.ledger_seq,
    row.settings_version,
    toMicros(row.balance).toString(),
    toMicros(row.credit_limit).toString(),
    row.status,
    row.max_concurrent_calls === null ? '' : String(row.max_concurrent_calls),
    row.daily_spend_limit === null ? '' : toMicros(row.daily_spend_limit).toString(),
    String(utcDayStart(now).getTime()),
    toMicros(row.spent).toString(),
    String(now.getTime()),
    JSON.stringify(p),
  ];
  return { args, profile };
}

function refuse(reason: RefusalReason, message: string): Authorization {
  const limit = LIMIT_OF[reason];
  return limit ? { allowed: false, reason, limit, message } : { allowed: false, reason, message };
}
