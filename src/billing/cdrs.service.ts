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
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { notFound } from '../platform/problem';
import { uuid } from '../platform/validation';
import { CDR_QUEUE_PORT, CdrQueuePort } from './cdr-queue.port';
import { CreditControlService, Reservation } from './credit-control.service';
import { LedgerService } from './ledger.service';
import { RateDecksService } from './rate-decks.service';
import { Money, rateCall, Tariff } from './rating';

export const directions = ['outbound', 'inbound', 'internal'] as const;
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
        id, c.callId, c.direction, accountId, c.userId ?? null, c.trunkId ?? null, c.caller ?? null, c.dialed ?? null, c.callee ?? null,
        c.translatedTo ?? null, c.startedAt, c.ringingAt ?? null, c.answeredAt ?? null, c.endedAt, duration, c.disposition, c.sipCode ?? null,
        c.sipReason ?? null, c.hangupBy ?? null, rate?.prefix ?? null, rate?.destination ?? null, rate?.ratePerMinute ?? null,
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
  async rate(cdrId: string): Promise<{ status: 'rated' | 'already-rated'; cost: string }> {
    const outcome = await this.db.transaction(async (tx) => {
      const [c] = (await tx.query(
        `SELECT c.*, a.id AS acc_id, a.currency AS acc_currency, a.rate_deck_id AS acc_rate_deck_id
         FROM cdrs c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.id = $1 FOR UPDATE OF c`,
        [cdrId],
      )) as (CdrRow & { acc_id: string | null; acc_currency: string | null; acc_rate_deck_id: string | null })[];
      if (!c) throw new RatingError(`CDR ${cdrId} does not exist`);
      if (c.status === 'rated') {
        const [e] = (await tx.query('SELECT seq FROM ledger_entries WHERE cdr_id = $1', [cdrId])) as { seq: string }[];
        return { c, already: true, cost: c.cost ?? '0', seq: e ? Number(e.seq) : 0 };
      }
      const destination = chargedDestination(c);
      const answered = c.disposition === 'answered' && c.answered_at !== null;
      let tariff: Tariff | null = null;
      let currency: string | null = null;
      if (c.account_id) {
        if (!c.acc_id) throw new RatingError(`account ${c.account_id} does not exist`);
        const acc = { currency: c.acc_currency!, rate_deck_id: c.acc_rate_deck_id };
        currency = acc.currency;
        if (destination && answered && c.rate_per_minute === null) {
          const found = acc.rate_deck_id ? await this.decks.findRate(acc.rate_deck_id, destination, c.started_at, tx) : null;
          if (!found) throw new RatingError(`no rate for ${destination} at ${c.started_at.toISOString()} in the account's rate deck`);
          if (found.currency !== acc.currency) throw new RatingError(`the rate deck is in ${found.currency}, the account in ${acc.currency}`);
          tariff = found;
          c.rate_prefix = found.prefix;
          c.rate_destination = found.destination;
          c.rate_per_minute = found.ratePerMinute;
          c.connection_fee = found.connectionFee;
          c.first_increment = found.firstIncrement;
          c.next_increment = found.nextIncrement;
        } else if (destination && c.rate_per_minute !== null) {
          tariff = { ratePerMinute: c.rate_per_minute, connectionFee: c.connection_fee ?? '0', firstIncrement: c.first_increment ?? 1, nextIncrement: c.next_increment ?? 1 };
        }
      }
      const rated = tariff ? rateCall(tariff, c.duration_seconds, answered) : { billableSeconds: answered ? c.duration_seconds : 0, cost: '0.000000' };
      await tx.query(
        `UPDATE cdrs SET status = 'rated', cost = $2, billable_seconds = $3, currency = $4, rate_prefix = $5, rate_destination = $6,
           rate_per_minute = $7, connection_fee = $8, first_increment = $9, next_increment = $10, failure_reason = NULL, rated_at = now()
         WHERE id = $1`,
        [cdrId, rated.cost, rated.billableSeconds, currency, c.rate_prefix, c.rate_destination, c.rate_per_minute, c.connection_fee, c.first_increment, c.next_increment],
      );
      let seq = 0;
      if (new Money(rated.cost).gt(0)) {
        seq = (await this.ledger.append(tx, { accountId: c.account_id!, amount: new Money(rated.cost).neg().toFixed(6), kind: 'call', cdrId, description: destination ?? undefined })).seq;
      }
      return { c, already: false, cost: rated.cost, seq };
    });
    // After commit: balances read from now on include the debit, so the call's hold can go.
    if (outcome.c.reservation_id && outcome.c.account_id) await this.credit.settled(outcome.c.account_id, outcome.c.reservation_id, outcome.cost, outcome.seq);
    return { status: outcome.already ? 'already-rated' : 'rated', cost: outcome.cost };
  }

  /** The queue gave up on a CDR: make it visibly `failed` with the reason (never over a rated one). */
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
