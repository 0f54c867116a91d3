/**
 * Call detail records: `record` (every call attempt, from the B2BUA), `rate` (from the queue
 * worker), reads, CSV export and usage. Owns the cdrs table. Imports nothing from sip/, calls/ or
 * other domain modules; the queue is behind CdrQueue.
 *
 * Exactly once: record() writes the CDR `pending` to PostgreSQL before anything else, so a CDR is
 * durable before the queue hears of it. rate() locks the CDR row (FOR UPDATE) and does nothing if it
 * is already rated; the ledger's unique cdr_id is the backstop. Running a job twice, or two workers
 * at once, therefore changes nothing the second time.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { printableText } from '../platform/inert-text';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { notFound } from '../platform/problem';
import { uuid } from '../platform/validation';
import { CDR_QUEUE_PORT, CdrQueuePort } from './cdr-queue.port';
import { CreditControlService, Reservation } from './credit-control.service';
import { LedgerService } from './ledger.service';
import { Rate, RateDecksService } from './rate-decks.service';
import { Money, rateCall, Tariff } from './rating';

export const directions = ['outbound', 'inbound', 'internal'] as const;

/**
 * Bounds of the peer-written text a CDR keeps (code points, after controls are removed): the
 * caller as the From header named it, the Request-URI user part as dialled, and the far end's SIP
 * reason phrase. E.164 needs 16; the rest is room for SIP user names. Longer text is cut: a CDR is
 * a record, not a store for whatever a peer sends. (callee and translatedTo are ours: an E.164
 * number after normalisation, a user name or a configured target.)
 */
export const CDR_TEXT_LIMITS = { caller: 64, dialed: 64, sipReason: 128 } as const;
export const dispositions = ['answered', 'busy', 'noAnswer', 'failed', 'cancelled', 'rejected'] as const;

/** What the B2BUA knows when a call attempt ends. */
export interface CallSummary {
  callId: string;
  direction: (typeof directions)[number];
  /** Who pays; null for calls no account pays for (e.g. inbound to a DID). */
  accountId?: string | null;
  userId?: string | null;
  trunkId?: string | null;
  caller?: string | null;
  /** As the user dialled it. */
  dialed?: string | null;
  /** E.164 after normalisation. */
  callee?: string | null;
  /** Toll-free target, if any: what is rated instead of the callee. */
  translatedTo?: string | null;
  startedAt: Date;
  ringingAt?: Date | null;
  answeredAt?: Date | null;
  endedAt: Date;
  /** Whole seconds from answer to end; computed (rounded up) from the timestamps when absent. */
  durationSeconds?: number;
  disposition: (typeof dispositions)[number];
  sipCode?: number | null;
  sipReason?: string | null;
  hangupBy?: 'caller' | 'callee' | 'gateway' | null;
  /** The reservation `authorize` granted: the call is rated at its rate and its hold released. */
  reservation?: Pick<Reservation, 'id' | 'accountId' | 'rate'> | null;
}

export const cdrQuery = pageQuery.extend({
  accountId: uuid.optional(),
  userId: uuid.optional(),
  number: z.string().regex(/^\+?\d{1,15}$/, 'expected an E.164 number').optional(),
  direction: z.enum(directions).optional(),
  disposition: z.enum(dispositions).optional(),
  status: z.enum(['pending', 'rated', 'failed']).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export const exportQuery = cdrQuery.omit({ limit: true, cursor: true }).extend({ format: z.literal('csv').default('csv') });
export const usageQuery = z.object({
  groupBy: z.enum(['day', 'destination', 'account']).default('day'),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  accountId: uuid.optional(),
});

export interface CdrView {
  id: string;
  callId: string;
  direction: string;
  accountId: string | null;
  userId: string | null;
  trunkId: string | null;
  caller: string | null;
  dialed: string | null;
  callee: string | null;
  translatedTo: string | null;
  startedAt: string;
  ringingAt: string | null;
  answeredAt: string | null;
  endedAt: string;
  durationSeconds: number;
  billableSeconds: number | null;
  disposition: string;
  sipCode: number | null;
  sipReason: string | null;
  hangupBy: string | null;
  ratePrefix: string | null;
  rateDestination: string | null;
  ratePerMinute: string | null;
  cost: string | null;
  currency: string | null;
  status: string;
  failureReason: string | null;
  ratedAt: string | null;
}

export const CDR_COLUMNS = [
  'id', 'callId', 'direction', 'accountId', 'userId', 'trunkId', 'caller', 'dialed', 'callee', 'translatedTo', 'startedAt', 'ringingAt',
  'answeredAt', 'endedAt', 'durationSeconds', 'billableSeconds', 'disposition', 'sipCode', 'sipReason', 'hangupBy', 'ratePrefix',
  'rateDestination', 'ratePerMinute', 'cost', 'currency', 'status', 'failureReason', 'ratedAt',
] as const satisfies readonly (keyof CdrView)[];

interface CdrRow {
  id: string;
  call_id: string;
  direction: string;
  account_id: string | null;
  user_id: string | null;
  trunk_id: string | null;
  caller: string | null;
  dialed: string | null;
  callee: string | null;
  translated_to: string | null;
  started_at: Date;
  ringing_at: Date | null;
  answered_at: Date | null;
  ended_at: Date;
  duration_seconds: number;
  billable_seconds: number | null;
  disposition: string;
  sip_code: number | null;
  sip_reason: string | null;
  hangup_by: string | null;
  rate_prefix: string | null;
  rate_destination: string | null;
  rate_per_minute: string | null;
  connection_fee: string | null;
  first_increment: number | null;
  next_increment: number | null;
  cost: string | null;
  currency: string | null;
  status: 'pending' | 'rated' | 'failed';
  failure_reason: string | null;
  reservation_id: string | null;
  rated_at: Date | null;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;
export const cdrView = (r: CdrRow): CdrView => ({
  id: r.id,
  callId: r.call_id,
  direction: r.direction,
  accountId: r.account_id,
  userId: r.user_id,
  trunkId: r.trunk_id,
  caller: r.caller,
  dialed: r.dialed,
  callee: r.callee,
  translatedTo: r.translated_to,
  startedAt: r.started_at.toISOString(),
  ringingAt: iso(r.ringing_at),
  answeredAt: iso(r.answered_at),
  endedAt: r.ended_at.toISOString(),
  durationSeconds: r.duration_seconds,
  billableSeconds: r.billable_seconds,
  disposition: r.disposition,
  sipCode: r.sip_code,
  sipReason: r.sip_reason,
  hangupBy: r.hangup_by,
  ratePrefix: r.rate_prefix,
  rateDestination: r.rate_destination,
  ratePerMinute: r.rate_per_minute,
  cost: r.cost,
  currency: r.currency,
  status: r.status,
  failureReason: r.failure_reason,
  ratedAt: iso(r.rated_at),
});

/** A rating failure that retrying cannot fix (no rate, unknown account): the CDR goes `failed` at once. */
export class RatingError extends Error {}

/** Who pays what: the destination a CDR is rated for, or null when it costs nothing. */
export function chargedDestination(c: { direction: string; callee: string | null; translated_to: string | null; account_id: string | null }): string | null {
  if (!c.account_id) return null;
  if (c.translated_to) return c.translated_to;
  return c.direction === 'outbound' ? c.callee : null;
}

function filters(q: Omit<z.infer<typeof exportQuery>, 'format'>, params: unknown[]): string {
  const where: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.accountId) where.push(`account_id = ${p(q.accountId)}`);
  if (q.userId) where.push(`user_id = ${p(q.userId)}`);
  if (q.number) {
    const n = p(q.number.startsWith('+') ? q.number : `+${q.number}`);
    where.push(`(caller = ${n} OR callee = ${n} OR translated_to = ${n} OR dialed = ${n})`);
  }
  if (q.direction) where.push(`direction = ${p(q.direction)}`);
  if (q.disposition) where.push(`disposition = ${p(q.disposition)}`);
  if (q.status) where.push(`status = ${p(q.status)}`);
  if (q.from) where.push(`started_at >= ${p(q.from)}`);
  if (q.to) where.push(`started_at < ${p(q.to)}`);
  return where.length ? where.join(' AND ') : 'true';
}

export type RateOutcome = { status: 'rated' | 'already-rated'; cost: string };

type LockedCdr = CdrRow & { acc_id: string | null; acc_currency: string | null; acc_rate_deck_id: string | null; found?: Rate | null };

const isAnswered = (c: CdrRow) => c.disposition === 'answered' && c.answered_at !== null;

/** The rating decision for one locked CDR (fills in its rate fields when it was looked up). */
function rateOne(c: LockedCdr): { cost: string; billable: number } | RatingError {
  const destination = chargedDestination(c);
  const answered = isAnswered(c);
  if (!c.account_id || !destination) return { cost: '0.000000', billable: answered ? c.duration_seconds : 0 };
  if (!c.acc_id) return new RatingError(`account ${c.account_id} does not exist`);
  if (answered && c.rate_per_minute === null) {
    const found = c.found;
    if (!found) return new RatingError(`no rate for ${destination} at ${c.started_at.toISOString()} in the account's rate deck`);
    if (found.currency !== c.acc_currency) return new RatingError(`the rate deck is in ${found.currency}, the account in ${c.acc_currency}`);
    c.rate_prefix = found.prefix;
    c.rate_destination = found.destination;
    c.rate_per_minute = found.ratePerMinute;
    c.connection_fee = found.connectionFee;
    c.first_increment = found.firstIncrement;
    c.next_increment = found.nextIncrement;
  }
  if (c.rate_per_minute === null) return { cost: '0.000000', billable: 0 };
  const tariff: Tariff = { ratePerMinute: c.rate_per_minute, connectionFee: c.connection_fee ?? '0', firstIncrement: c.first_increment ?? 1, nextIncrement: c.next_increment ?? 1 };
  const r = rateCall(tariff, c.duration_seconds, answered);
  return { cost: r.cost, billable: r.billableSeconds };
}

@Injectable()
export class CdrsService {
  private readonly log = new Logger('billing');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(CDR_QUEUE_PORT) private readonly queue: CdrQueuePort,
    private readonly ledger: LedgerService,
    private readonly credit: CreditControlService,
    private readonly decks: RateDecksService,
  ) {}

  /**
   * Stores the CDR of one call attempt (status `pending`) and queues it for rating. Resolves once the
   * CDR is durable in PostgreSQL; if the queue cannot be reached the periodic sweep queues it later.
   */
  async record(c: CallSummary): Promise<{ id: string }> {
    const id = newId();
    const text = (k: keyof typeof CDR_TEXT_LIMITS) => printableText(c[k], CDR_TEXT_LIMITS[k]);
    const answered = c.disposition === 'answered' && !!c.answeredAt;
    const duration = c.durationSeconds ?? (answered ? Math.max(0, Math.ceil((c.endedAt.getTime() - c.answeredAt!.getTime()) / 1000)) : 0);
    const rate: Tariff & { prefix?: string; destination?: string } | undefined = c.reservation?.rate;
    const accountId = c.accountId ?? c.reservation?.accountId ?? null;
    await this.db.query(
      `INSERT INTO cdrs (id, call_id, direction, account_id, user_id, trunk_id, caller, dialed, callee, translated_to, started_at, ringing_at,
         answered_at, ended_at, duration_seconds, disposition, sip_code, sip_reason, hangup_by, rate_prefix, rate_destination, rate_per_minute,
         connection_fee, first_increment, next_increment, reservation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
      [
        id, c.callId, c.direction, accountId, c.userId ?? null, c.trunkId ?? null, text('caller'), text('dialed'), c.callee ?? null,
        c.translatedTo ?? null, c.startedAt, c.ringingAt ?? null, c.answeredAt ?? null, c.endedAt, duration, c.disposition, c.sipCode ?? null,
        text('sipReason'), c.hangupBy ?? null, rate?.prefix ?? null, rate?.destination ?? null, rate?.ratePerMinute ?? null,
        rate?.connectionFee ?? null, rate?.firstIncrement ?? null, rate?.nextIncrement ?? null, c.reservation?.id ?? null,
      ],
    );
    if (c.reservation) {
      const cost = rate ? rateCall(rate, duration, answered).cost : '0';
      await this.credit.callEnded(c.reservation.accountId, c.reservation.id, cost).catch((e: Error) => this.log.warn({ err: e.message, cdrId: id }, 'call hold not updated'));
    }
    await this.queue.enqueue([id]).catch((e: Error) => this.log.warn({ err: e.message, cdrId: id }, 'CDR not queued; the sweep will queue it'));
    return { id };
  }

  /**
   * Rates one CDR and debits the ledger, in one transaction that applies at most once.
   * Throws RatingError when retrying cannot help.
   */
  async rate(cdrId: string): Promise<RateOutcome> {
    const r = (await this.rateMany([cdrId])).get(cdrId)!;
    if (r instanceof Error) throw r;
    return r;
  }

  /**
   * Rates a batch of CDRs in one transaction (one commit for the batch: the commit, not the
   * arithmetic, is what a CDR costs). CDR rows are locked in id order and accounts in id order, so
   * concurrent batches cannot deadlock; rows already rated are left alone. Each account's balance
   * moves once per batch by the batch's total, and each CDR still gets its own ledger entry with
   * its own seq and balanceAfter. A CDR that cannot be rated gets a RatingError in the result
   * and does not hold back the others; any other failure rolls the whole batch back (throws).
   */
  async rateMany(ids: string[]): Promise<Map<string, RateOutcome | RatingError>> {
    const out = new Map<string, RateOutcome | RatingError>();
    const settle: { accountId: string; reservationId: string; cost: string; seq: number }[] = [];
    await this.db.transaction(async (tx) => {
      settle.length = 0;
      out.clear();
      const rows = (await tx.query(
        `SELECT c.*, a.id AS acc_id, a.currency AS acc_currency, a.rate_deck_id AS acc_rate_deck_id
         FROM cdrs c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE OF c`,
        [ids],
      )) as LockedCdr[];
      for (const id of ids) if (!rows.some((r) => r.id === id)) out.set(id, new RatingError(`CDR ${id} does not exist`));

      const already = rows.filter((c) => c.status === 'rated');
      if (already.length) {
        const seqs = (await tx.query('SELECT cdr_id, seq FROM ledger_entries WHERE cdr_id = ANY($1::uuid[])', [already.map((c) => c.id)])) as { cdr_id: string; seq: string }[];
        for (const c of already) {
          const seq = Number(seqs.find((x) => x.cdr_id === c.id)?.seq ?? 0);
          out.set(c.id, { status: 'already-rated', cost: c.cost ?? '0.000000' });
          if (c.reservation_id && c.account_id) settle.push({ accountId: c.account_id, reservationId: c.reservation_id, cost: c.cost ?? '0', seq });
        }
      }

      const todo = rows.filter((c) => c.status !== 'rated');
      const needRate = todo.filter((c) => c.acc_id && c.acc_rate_deck_id && chargedDestination(c) && isAnswered(c) && c.rate_per_minute === null);
      const found = await this.decks.findRates(
        needRate.map((c) => ({ deckId: c.acc_rate_deck_id!, e164: chargedDestination(c)!, at: c.started_at })),
        tx,
      );
      needRate.forEach((c, i) => (c.found = found[i]));

      const rated: { c: LockedCdr; cost: string; billable: number }[] = [];
      for (const c of todo) {
        const r = rateOne(c);
        if (r instanceof RatingError) out.set(c.id, r);
        else rated.push({ c, ...r });
      }
      if (!rated.length) return;
      const col = <T>(f: (x: (typeof rated)[number]) => T) => rated.map(f);
      await tx.query(
        `UPDATE cdrs SET status = 'rated', cost = u.cost, billable_seconds = u.billable, currency = u.currency, rate_prefix = u.prefix,
           rate_destination = u.destination, rate_per_minute = u.rate, connection_fee = u.fee, first_increment = u.first,
           next_increment = u.next, failure_reason = NULL, rated_at = now()
         FROM unnest($1::uuid[], $2::numeric[], $3::int[], $4::char(3)[], $5::text[], $6::text[], $7::numeric[], $8::numeric[], $9::int[], $10::int[])
           AS u(id, cost, billable, currency, prefix, destination, rate, fee, first, next)
         WHERE cdrs.id = u.id`,
        [
          col((x) => x.c.id), col((x) => x.cost), col((x) => x.billable), col((x) => x.c.acc_currency), col((x) => x.c.rate_prefix),
          col((x) => x.c.rate_destination), col((x) => x.c.rate_per_minute), col((x) => x.c.connection_fee), col((x) => x.c.first_increment),
          col((x) => x.c.next_increment),
        ],
      );
      const debits = rated.filter((x) => new Money(x.cost).gt(0)).map((x) => ({ accountId: x.c.account_id!, amount: new Money(x.cost).neg().toFixed(6), kind: 'call' as const, cdrId: x.c.id, description: chargedDestination(x.c) ?? undefined }));
      const seqOf = new Map((await this.ledger.appendMany(tx, debits)).map((e) => [e.cdrId!, e.seq]));
      for (const x of rated) {
        out.set(x.c.id, { status: 'rated', cost: x.cost });
        if (x.c.reservation_id && x.c.account_id) settle.push({ accountId: x.c.account_id, reservationId: x.c.reservation_id, cost: x.cost, seq: seqOf.get(x.c.id) ?? 0 });
      }
    });
    // After commit: balances read from now on include the debits, so the calls' holds can go.
    await Promise.all(settle.map((s) => this.credit.settled(s.accountId, s.reservationId, s.cost, s.seq)));
    return out;
  }

  /** A rating error (retrying cannot help): make the CDR visibly `failed` with the reason (never over a rated one). */
  async markFailed(cdrId: string, reason: string): Promise<void> {
    await this.db.query(`UPDATE cdrs SET status = 'failed', failure_reason = $2 WHERE id = $1 AND status = 'pending'`, [cdrId, reason.slice(0, 1000)]);
  }

  /** Queues CDRs still `pending` after `olderThanSeconds` (their job was lost with Redis, or never added). */
  async requeuePending(olderThanSeconds: number, batch = 10_000): Promise<number> {
    let total = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = (await this.db.query(
        `SELECT id FROM cdrs WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) AND id > $2 ORDER BY id LIMIT $3`,
        [olderThanSeconds, after, batch],
      )) as { id: string }[];
      if (!rows.length) return total;
      await this.queue.requeue(rows.map((r) => r.id));
      total += rows.length;
      after = rows[rows.length - 1].id;
    }
  }

  async list(q: z.infer<typeof cdrQuery>): Promise<Page<CdrView>> {
    const params: unknown[] = [];
    const where = filters(q, params);
    const after = decodeCursor(q.cursor);
    params.push(after ?? null, q.limit + 1);
    const rows = (await this.db.query(
      `SELECT * FROM cdrs WHERE ${where} AND ($${params.length - 1}::uuid IS NULL OR id > $${params.length - 1}) ORDER BY id LIMIT $${params.length}`,
      params,
    )) as CdrRow[];
    return toPage(rows, q.limit, cdrView);
  }

  async get(id: string): Promise<CdrView> {
    const [row] = (await this.db.query('SELECT * FROM cdrs WHERE id = $1', [id])) as CdrRow[];
    if (!row) throw notFound('CDR', id);
    return cdrView(row);
  }

  /**
   * Every matching CDR, in keyset batches: a stream that reads the next batch only when the
   * consumer asks, so memory stays flat whatever the size.
   */
  stream(q: z.infer<typeof exportQuery>, batch = 5000): Readable {
    const db = this.db;
    async function* rows(): AsyncGenerator<CdrView> {
      let after: string | null = null;
      for (;;) {
        const params: unknown[] = [];
        const where = filters(q, params);
        params.push(after, batch);
        const page = (await db.query(
          `SELECT * FROM cdrs WHERE ${where} AND ($${params.length - 1}::uuid IS NULL OR id > $${params.length - 1}) ORDER BY id LIMIT $${params.length}`,
          params,
        )) as CdrRow[];
        for (const r of page) yield cdrView(r);
        if (page.length < batch) return;
        after = page[page.length - 1].id;
      }
    }
    return Readable.from(rows(), { objectMode: true, highWaterMark: 64 });
  }

  async usage(q: z.infer<typeof usageQuery>): Promise<{ groupBy: string; from: string; to: string; data: Record<string, unknown>[] }> {
    const key = {
      day: `to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
      destination: `coalesce(rate_prefix, '')`,
      account: `account_id::text`,
    }[q.groupBy];
    const extra = q.groupBy === 'destination' ? ', max(rate_destination) AS destination' : '';
    const rows = (await this.db.query(
      `SELECT ${key} AS key, currency, count(*)::int AS calls, count(*) FILTER (WHERE disposition = 'answered')::int AS answered,
              coalesce(sum(duration_seconds), 0)::bigint AS duration_seconds, coalesce(sum(billable_seconds), 0)::bigint AS billable_seconds,
              coalesce(sum(cost), 0)::numeric(20,6) AS cost${extra}
       FROM cdrs WHERE status = 'rated' AND started_at >= $1 AND started_at < $2 AND ($3::uuid IS NULL OR account_id = $3)
       GROUP BY 1, 2 ORDER BY 1, 2`,
      [q.from, q.to, q.accountId ?? null],
    )) as { key: string; currency: string | null; calls: number; answered: number; duration_seconds: string; billable_seconds: string; cost: string; destination?: string }[];
    return {
      groupBy: q.groupBy,
      from: q.from,
      to: q.to,
      data: rows.map((r) => ({
        [q.groupBy === 'destination' ? 'prefix' : q.groupBy === 'account' ? 'accountId' : 'day']: r.key,
        ...(q.groupBy === 'destination' ? { destination: r.destination ?? null } : {}),
        currency: r.currency,
        calls: r.calls,
        answered: r.answered,
        durationSeconds: Number(r.duration_seconds),
        billableSeconds: Number(r.billable_seconds),
        cost: r.cost,
      })),
    };
  }
}
