/**
 * Call detail records: `record` (every call attempt, from the B2BUA), `rate` (from the queue
 * worker), reads, CSV export and usage. Owns the cdrs table (storage and the row-to-view mapping:
 * cdrs.repository.ts). Imports nothing from sip/, calls/ or other domain modules; the queue is
 * behind CdrQueue.
 *
 * Exactly once: record() writes the CDR `pending` to PostgreSQL before anything else, so a CDR is
 * durable before the queue hears of it. CDRs recorded in the same event-loop turn are inserted in
 * one statement and queued in one addBulk (write-coalescer.ts): each record() still resolves only
 * once its own row is committed, and a row that fails alone fails only its own call. rate() locks the CDR row (FOR UPDATE) and does nothing if it
 * is already rated; the ledger's unique cdr_id is the backstop. Running a job twice, or two workers
 * at once, therefore changes nothing the second time.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { printableText } from '../platform/inert-text';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { notFound } from '../platform/problem';
import { uuid } from '../platform/validation';
import { CDR_QUEUE_PORT, CdrQueuePort } from './cdr-queue.port';
import { type AppliedRate, CdrRow, CdrsRepository, cdrView, type CdrView, LockedCdrRow, type NewCdrRow, type OpenCdrRow } from './cdrs.repository';
import { CreditControlService, FundsSnapshot, Reservation, Settlement } from './credit-control.service';
import { LedgerRepository } from './ledger.repository';
import { LedgerService } from './ledger.service';
import { Rate, RateDecksService } from './rate-decks.service';
import { Money, rateCall, Tariff } from './rating';
import { WriteCoalescer } from './write-coalescer';

export { CDR_COLUMNS, cdrView, type CdrView } from './cdrs.repository';

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
  /** The CDR's id when a start record was attempted at answer (`open`). */
  cdrId?: string;
  /** The start record is durable: `record` completes it rather than inserting. */
  startRecorded?: boolean;
}

export const cdrQuery = pageQuery.extend({
  accountId: uuid.optional(),
  userId: uuid.optional(),
  number: z.string().regex(/^\+?\d{1,15}$/, 'expected an E.164 number').optional(),
  direction: z.enum(directions).optional(),
  disposition: z.enum(dispositions).optional(),
  /** Unset: every CDR but `open` ones (calls still in progress). */
  status: z.enum(['open', 'pending', 'rated', 'failed']).optional(),
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

/** A rating failure that retrying cannot fix (no rate, unknown account): the CDR goes `failed` at once. */
export class RatingError extends Error {}

const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === '23505';

/** Who pays what: the destination a CDR is rated for, or null when it costs nothing. */
export function chargedDestination(c: { direction: string; callee: string | null; translated_to: string | null; account_id: string | null }): string | null {
  if (!c.account_id) return null;
  if (c.translated_to) return c.translated_to;
  return c.direction === 'outbound' ? c.callee : null;
}

export type RateOutcome = { status: 'rated' | 'already-rated'; cost: string };

type LockedCdr = LockedCdrRow & { found?: Rate | null };

const isAnswered = (c: CdrRow) => c.disposition === 'answered' && c.answered_at !== null;

/** The rating decision for one locked CDR: its cost and the rate applied (the one it carries, or the one looked up). Leaves `c` as it is. */
function rateOne(c: LockedCdr): { cost: string; billable: number; rate: AppliedRate } | RatingError {
  const destination = chargedDestination(c);
  const answered = isAnswered(c);
  let rate: AppliedRate = {
    prefix: c.rate_prefix,
    destination: c.rate_destination,
    ratePerMinute: c.rate_per_minute,
    connectionFee: c.connection_fee,
    firstIncrement: c.first_increment,
    nextIncrement: c.next_increment,
  };
  if (!c.account_id || !destination) return { cost: '0.000000', billable: answered ? c.duration_seconds : 0, rate };
  if (!c.acc_id) return new RatingError(`account ${c.account_id} does not exist`);
  if (answered && rate.ratePerMinute === null) {
    const found = c.found;
    if (!found) return new RatingError(`no rate for ${destination} at ${c.started_at.toISOString()} in the account's rate deck`);
    if (found.currency !== c.acc_currency) return new RatingError(`the rate deck is in ${found.currency}, the account in ${c.acc_currency}`);
    rate = {
      prefix: found.prefix,
      destination: found.destination,
      ratePerMinute: found.ratePerMinute,
      connectionFee: found.connectionFee,
      firstIncrement: found.firstIncrement,
      nextIncrement: found.nextIncrement,
    };
  }
  if (rate.ratePerMinute === null) return { cost: '0.000000', billable: 0, rate };
  const tariff: Tariff = { ratePerMinute: rate.ratePerMinute, connectionFee: rate.connectionFee ?? '0', firstIncrement: rate.firstIncrement ?? 1, nextIncrement: rate.nextIncrement ?? 1 };
  const r = rateCall(tariff, c.duration_seconds, answered);
  return { cost: r.cost, billable: r.billableSeconds, rate };
}

@Injectable()
export class CdrsService {
  private readonly log = new Logger('billing');
  /** CDRs recorded in the same turn share one INSERT (one commit); their jobs one addBulk. */
  private readonly inserts = new WriteCoalescer<NewCdrRow>((rows) => this.cdrs.insertMany(rows));
  private readonly enqueues = new WriteCoalescer<string>((ids) => this.queue.enqueue(ids));
  /** Start records (open-cdrs.ts), and their completion at the call's end: batched the same way. */
  private readonly opens = new WriteCoalescer<OpenCdrRow>((rows) => this.cdrs.insertMany(rows));
  private readonly completes = new WriteCoalescer<{ row: NewCdrRow; done: boolean }>(async (items) => {
    const done = await this.cdrs.complete(items.map((i) => i.row));
    for (const i of items) i.done = done.has(i.row.id);
  });

  constructor(
    private readonly cdrs: CdrsRepository,
    private readonly entries: LedgerRepository,
    @Inject(CDR_QUEUE_PORT) private readonly queue: CdrQueuePort,
    private readonly ledger: LedgerService,
    private readonly credit: CreditControlService,
    private readonly decks: RateDecksService,
  ) {}

  /**
   * Stores the CDR of one call attempt (status `pending`) and queues it for rating. Resolves once the
   * CDR is durable in PostgreSQL; if the queue cannot be reached the periodic sweep queues it later.
   * A call whose start record was written (`open`, with `cdrId`) has that row completed instead of
   * a second one: once, and only while it is still open (a survivor may have closed it already when
   * this node was taken for lost: then nothing more is done here, the survivor did the rest).
   */
  async record(c: CallSummary): Promise<{ id: string }> {
    const row = this.rowOf(c, c.cdrId ?? newId());
    if (c.startRecorded && !(await this.complete(row))) {
      this.log.warn({ cdrId: row.id, callId: c.callId }, 'CDR already closed as a lost node\'s call: left as it is');
      return { id: row.id };
    }
    if (!c.startRecorded) {
      try {
        await this.inserts.add(row);
      } catch (e) {
        // The start record was committed after all (its INSERT failed only on the way back): complete it.
        if (!(c.cdrId && isUniqueViolation(e) && (await this.complete(row)))) throw e;
      }
    }
    await this.ended(row, c.reservation ?? null);
    return { id: row.id };
  }

  /**
   * The start record of an answered call (status `open`: not rated, not listed by default), with
   * the gateway instance that holds it; `record` completes it at the end. Resolves once durable.
   */
  async open(c: CallSummary & { cdrId: string }, o: { node: string; maxSeconds: number | null; trunkChannel: string | null }): Promise<void> {
    await this.opens.add({ ...this.rowOf({ ...c, endedAt: c.answeredAt ?? c.endedAt, durationSeconds: 0 }, c.cdrId), status: 'open', node_instance: o.node, max_seconds: o.maxSeconds, trunk_channel: o.trunkChannel });
  }

  private async complete(row: NewCdrRow): Promise<boolean> {
    const item = { row, done: false };
    await this.completes.add(item);
    return item.done;
  }

  /**
   * After a CDR became `pending` (recorded, completed, or closed for a lost node): the call's hold
   * becomes a hold of its exact cost (the account's slot is free at once), and the CDR is queued.
   */
  async ended(row: Pick<CdrRow, 'id' | 'duration_seconds' | 'answered_at'> & Partial<Pick<CdrRow, 'disposition'>>, reservation: Pick<Reservation, 'id' | 'accountId' | 'rate'> | { id: string; accountId: string; rate: Tariff | null } | null): Promise<void> {
    if (reservation) {
      const answered = (row.disposition ?? 'answered') === 'answered' && row.answered_at !== null;
      const cost = reservation.rate ? rateCall(reservation.rate, row.duration_seconds, answered).cost : '0';
      await this.credit.callEnded(reservation.accountId, reservation.id, cost).catch((e: Error) => this.log.warn({ err: e.message, cdrId: row.id }, 'call hold not updated'));
    }
    await this.enqueues.add(row.id).catch((e: Error) => this.log.warn({ err: e.message, cdrId: row.id }, 'CDR not queued; the sweep will queue it'));
  }

  /** The row a call summary is stored as. */
  private rowOf(c: CallSummary, id: string): NewCdrRow {
    const text = (k: keyof typeof CDR_TEXT_LIMITS) => printableText(c[k], CDR_TEXT_LIMITS[k]);
    const answered = c.disposition === 'answered' && !!c.answeredAt;
    const duration = c.durationSeconds ?? (answered ? Math.max(0, Math.ceil((c.endedAt.getTime() - c.answeredAt!.getTime()) / 1000)) : 0);
    const rate: Tariff & { prefix?: string; destination?: string } | undefined = c.reservation?.rate;
    return {
      id,
      call_id: c.callId,
      direction: c.direction,
      account_id: c.accountId ?? c.reservation?.accountId ?? null,
      user_id: c.userId ?? null,
      trunk_id: c.trunkId ?? null,
      caller: text('caller'),
      dialed: text('dialed'),
      callee: c.callee ?? null,
      translated_to: c.translatedTo ?? null,
      started_at: c.startedAt,
      ringing_at: c.ringingAt ?? null,
      answered_at: c.answeredAt ?? null,
      ended_at: c.endedAt,
      duration_seconds: duration,
      disposition: c.disposition,
      sip_code: c.sipCode ?? null,
      sip_reason: text('sipReason'),
      hangup_by: c.hangupBy ?? null,
      rate_prefix: rate?.prefix ?? null,
      rate_destination: rate?.destination ?? null,
      rate_per_minute: rate?.ratePerMinute ?? null,
      connection_fee: rate?.connectionFee ?? null,
      first_increment: rate?.firstIncrement ?? null,
      next_increment: rate?.nextIncrement ?? null,
      reservation_id: c.reservation?.id ?? null,
    };
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
  async rateMany(ids: string[]): Promise<Map<string, RateOutcome | Error>> {
    const out = new Map<string, RateOutcome | Error>();
    const settle: Settlement[] = [];
    let snapshots: FundsSnapshot[] = [];
    await this.cdrs.transaction(async (tx) => {
      settle.length = 0;
      snapshots = [];
      out.clear();
      const rows: LockedCdr[] = await this.cdrs.lockForRating(tx, ids);
      for (const id of ids) if (!rows.some((r) => r.id === id)) out.set(id, new RatingError(`CDR ${id} does not exist`));

      const already = rows.filter((c) => c.status === 'rated');
      if (already.length) {
        const seqs = await this.entries.seqsOfCdrs(tx, already.map((c) => c.id));
        for (const c of already) {
          const seq = seqs.get(c.id) ?? 0;
          out.set(c.id, { status: 'already-rated', cost: c.cost ?? '0.000000' });
          if (c.reservation_id && c.account_id) settle.push({ accountId: c.account_id, holdId: c.reservation_id, cost: c.cost ?? '0', seq });
        }
      }

      // An open CDR's call is still in progress: not rated until it ends (transient: the job retries).
      for (const c of rows) if (c.status === 'open') out.set(c.id, new Error(`CDR ${c.id} is still open (call in progress)`));
      const todo = rows.filter((c) => c.status !== 'rated' && c.status !== 'open');
      const needRate = todo.filter((c) => c.acc_id && c.acc_rate_deck_id && chargedDestination(c) && isAnswered(c) && c.rate_per_minute === null);
      const found = await this.decks.findRates(
        needRate.map((c) => ({ deckId: c.acc_rate_deck_id!, e164: chargedDestination(c)!, at: c.started_at })),
        tx,
      );
      needRate.forEach((c, i) => (c.found = found[i]));

      const rated: { c: LockedCdr; cost: string; billable: number; rate: AppliedRate }[] = [];
      for (const c of todo) {
        const r = rateOne(c);
        if (r instanceof RatingError) out.set(c.id, r);
        else rated.push({ c, ...r });
      }
      if (!rated.length) return;
      await this.cdrs.markRated(tx, rated);
      const debits = rated.filter((x) => new Money(x.cost).gt(0)).map((x) => ({ accountId: x.c.account_id!, amount: new Money(x.cost).neg().toFixed(6), kind: 'call' as const, cdrId: x.c.id, description: chargedDestination(x.c) ?? undefined }));
      const seqOf = new Map((await this.ledger.appendMany(tx, debits)).map((e) => [e.cdrId!, e.seq]));
      // The debited accounts are locked by this transaction: their snapshots as of its commit.
      snapshots = await this.credit.snapshotsIn(tx, [...new Set(debits.map((d) => d.accountId))]);
      for (const x of rated) {
        out.set(x.c.id, { status: 'rated', cost: x.cost });
        if (x.c.reservation_id && x.c.account_id) settle.push({ accountId: x.c.account_id, holdId: x.c.reservation_id, cost: x.cost, seq: seqOf.get(x.c.id) ?? 0 });
      }
    });
    // After commit: the snapshots carry the debits, and the calls' holds go in the same script.
    await this.credit.settle(settle, snapshots);
    return out;
  }

  /** A rating error (retrying cannot help): make the CDR visibly `failed` with the reason (never over a rated one). */
  async markFailed(cdrId: string, reason: string): Promise<void> {
    await this.cdrs.markFailed(cdrId, reason.slice(0, 1000));
  }

  /** Queues CDRs still `pending` after `olderThanSeconds` (their job was lost with Redis, or never added). */
  async requeuePending(olderThanSeconds: number, batch = 10_000): Promise<number> {
    let total = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const ids = await this.cdrs.pendingIds(olderThanSeconds, after, batch);
      if (!ids.length) return total;
      await this.queue.requeue(ids);
      total += ids.length;
      after = ids[ids.length - 1];
    }
  }

  async list(q: z.infer<typeof cdrQuery>): Promise<Page<CdrView>> {
    const rows = await this.cdrs.page(q, decodeCursor(q.cursor) ?? null, q.limit + 1);
    return toPage(rows, q.limit, cdrView);
  }

  async get(id: string): Promise<CdrView> {
    const row = await this.cdrs.findById(id);
    if (!row) throw notFound('CDR', id);
    return cdrView(row);
  }

  /**
   * Every matching CDR, in keyset batches: a stream that reads the next batch only when the
   * consumer asks, so memory stays flat whatever the size.
   */
  stream(q: z.infer<typeof exportQuery>, batch = 5000): Readable {
    const rows = this.cdrs.scan(q, batch);
    async function* views(): AsyncGenerator<CdrView> {
      for await (const r of rows) yield cdrView(r);
    }
    return Readable.from(views(), { objectMode: true, highWaterMark: 64 });
  }

  async usage(q: z.infer<typeof usageQuery>): Promise<{ groupBy: string; from: string; to: string; data: Record<string, unknown>[] }> {
    const rows = await this.cdrs.usage(q.groupBy, q.from, q.to, q.accountId ?? null);
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
