/**
 * Storage of the cdrs table: every query billing makes on it, the row type, and the one mapping
 * from a row to the API's view (VIEW_COLUMNS: each field of the view, in CSV column order, with the
 * column it comes from; CdrView, CDR_COLUMNS and cdrView all derive from it). Services call this,
 * never SQL.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SqlRepository, Tx } from './sql.repository';

/** A row of cdrs, as `SELECT *` returns it. */
export interface CdrRow {
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
  /** open: answered, in progress (a start record, src/billing/open-cdrs.ts); pending: ended, awaiting rating. */
  status: 'open' | 'pending' | 'rated' | 'failed';
  failure_reason: string | null;
  reservation_id: string | null;
  rated_at: Date | null;
  /** Open CDRs: the gateway instance holding the call, its granted seconds, its trunk channel hold. */
  node_instance: string | null;
  max_seconds: number | null;
  trunk_channel: string | null;
}

/** The fields of the API's CDR, in CSV column order, and the column each one reads. */
const VIEW_COLUMNS = {
  id: 'id',
  callId: 'call_id',
  direction: 'direction',
  accountId: 'account_id',
  userId: 'user_id',
  trunkId: 'trunk_id',
  caller: 'caller',
  dialed: 'dialed',
  callee: 'callee',
  translatedTo: 'translated_to',
  startedAt: 'started_at',
  ringingAt: 'ringing_at',
  answeredAt: 'answered_at',
  endedAt: 'ended_at',
  durationSeconds: 'duration_seconds',
  billableSeconds: 'billable_seconds',
  disposition: 'disposition',
  sipCode: 'sip_code',
  sipReason: 'sip_reason',
  hangupBy: 'hangup_by',
  ratePrefix: 'rate_prefix',
  rateDestination: 'rate_destination',
  ratePerMinute: 'rate_per_minute',
  cost: 'cost',
  currency: 'currency',
  status: 'status',
  failureReason: 'failure_reason',
  ratedAt: 'rated_at',
} as const satisfies Record<string, keyof CdrRow>;

/** Timestamps become ISO-8601 strings in the view; everything else is as stored. */
type Viewed<T> = T extends Date ? string : T;
export type CdrView = { [K in keyof typeof VIEW_COLUMNS]: Viewed<CdrRow[(typeof VIEW_COLUMNS)[K]]> };
export const CDR_COLUMNS = Object.keys(VIEW_COLUMNS) as (keyof CdrView)[];
const VIEW_ENTRIES = Object.entries(VIEW_COLUMNS) as [keyof CdrView, keyof CdrRow][];

export const cdrView = (r: CdrRow): CdrView => {
  const view: Record<string, unknown> = {};
  for (const [field, column] of VIEW_ENTRIES) {
    const v = r[column];
    view[field] = v instanceof Date ? v.toISOString() : v;
  }
  return view as CdrView;
};

/** The columns record() writes; the rest start as their defaults (status pending, no cost yet). */
export type NewCdrRow = Omit<CdrRow, 'billable_seconds' | 'cost' | 'currency' | 'status' | 'failure_reason' | 'rated_at' | 'node_instance' | 'max_seconds' | 'trunk_channel'>;

/** A start record: written at answer, `open` until the call ends (open-cdrs.ts). */
export type OpenCdrRow = NewCdrRow & Pick<CdrRow, 'node_instance' | 'max_seconds' | 'trunk_channel'> & { status: 'open' };

/** A CDR locked for rating, with the account that pays (acc_*: null when it does not exist). */
/** The rate a CDR is charged at, as markRated writes it (all null when the CDR has none). */
export interface AppliedRate {
  prefix: string | null;
  destination: string | null;
  ratePerMinute: string | null;
  connectionFee: string | null;
  firstIncrement: number | null;
  nextIncrement: number | null;
}

export type LockedCdrRow = CdrRow & { acc_id: string | null; acc_currency: string | null; acc_rate_deck_id: string | null };

/** What the CDR list and export filter on (all optional, ANDed). */
export interface CdrFilter {
  accountId?: string;
  userId?: string;
  /** E.164, with or without '+': matches caller, callee, translatedTo or dialed. */
  number?: string;
  direction?: string;
  disposition?: string;
  status?: string;
  from?: string;
  to?: string;
}

export interface UsageRow {
  key: string;
  currency: string | null;
  calls: number;
  answered: number;
  duration_seconds: string;
  billable_seconds: string;
  cost: string;
  destination?: string;
}

function where(q: CdrFilter, params: unknown[]): string {
  const clauses: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.accountId) clauses.push(`account_id = ${p(q.accountId)}`);
  if (q.userId) clauses.push(`user_id = ${p(q.userId)}`);
  if (q.number) {
    const n = p(q.number.startsWith('+') ? q.number : `+${q.number}`);
    clauses.push(`(caller = ${n} OR callee = ${n} OR translated_to = ${n} OR dialed = ${n})`);
  }
  if (q.direction) clauses.push(`direction = ${p(q.direction)}`);
  if (q.disposition) clauses.push(`disposition = ${p(q.disposition)}`);
  // An open CDR is a call still in progress: listed only when asked for by name.
  clauses.push(q.status ? `status = ${p(q.status)}` : `status <> 'open'`);
  if (q.from) clauses.push(`started_at >= ${p(q.from)}`);
  if (q.to) clauses.push(`started_at < ${p(q.to)}`);
  return clauses.join(' AND ');
}

const USAGE_KEY = {
  day: `to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  destination: `coalesce(rate_prefix, '')`,
  account: `account_id::text`,
} as const;

/** What `query` answers for UPDATE … RETURNING: TypeORM's postgres driver gives [rows, count]. */
export function rowsOf<T>(r: [T[], number] | T[]): T[] {
  return Array.isArray(r[0]) ? (r[0] as T[]) : (r as T[]);
}

@Injectable()
export class CdrsRepository extends SqlRepository {
  constructor(@InjectDataSource() db: DataSource) {
    super(db);
  }

  async insert(row: NewCdrRow): Promise<void> {
    await this.insertMany([row]);
  }

  /**
   * Inserts rows that all have the same columns, in one statement (one commit: the WAL flush of a
   * commit, not the row, is what a CDR costs). At most 1,000 rows (PostgreSQL allows 65,535 parameters).
   */
  async insertMany<R extends NewCdrRow>(rows: R[]): Promise<void> {
    if (!rows.length) return;
    const columns = Object.keys(rows[0]) as (keyof R & string)[];
    const values = rows.map((_, r) => `(${columns.map((_, i) => `$${r * columns.length + i + 1}`).join(', ')})`);
    await this.db.query(
      `INSERT INTO cdrs (${columns.join(', ')}) VALUES ${values.join(', ')}`,
      rows.flatMap((row) => columns.map((c) => row[c])),
    );
  }

  /**
   * Locks the CDRs (FOR UPDATE, in id order, so concurrent batches cannot deadlock) and reads each
   * with its paying account. Ids that do not exist are missing from the answer.
   */
  async lockForRating(tx: Tx, ids: string[]): Promise<LockedCdrRow[]> {
    return (await tx.query(
      `SELECT c.*, a.id AS acc_id, a.currency AS acc_currency, a.rate_deck_id AS acc_rate_deck_id
       FROM cdrs c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE OF c`,
      [ids],
    )) as LockedCdrRow[];
  }

  /** Marks the CDRs rated with their cost, billable seconds, the account's currency and the rate they were rated at. */
  async markRated(tx: Tx, rated: { c: LockedCdrRow; cost: string; billable: number; rate: AppliedRate }[]): Promise<void> {
    const col = <T>(f: (x: (typeof rated)[number]) => T) => rated.map(f);
    await tx.query(
      `UPDATE cdrs SET status = 'rated', cost = u.cost, billable_seconds = u.billable, currency = u.currency, rate_prefix = u.prefix,
         rate_destination = u.destination, rate_per_minute = u.rate, connection_fee = u.fee, first_increment = u.first,
         next_increment = u.next, failure_reason = NULL, rated_at = now()
       FROM unnest($1::uuid[], $2::numeric[], $3::int[], $4::char(3)[], $5::text[], $6::text[], $7::numeric[], $8::numeric[], $9::int[], $10::int[])
         AS u(id, cost, billable, currency, prefix, destination, rate, fee, first, next)
       WHERE cdrs.id = u.id`,
      [
        col((x) => x.c.id), col((x) => x.cost), col((x) => x.billable), col((x) => x.c.acc_currency), col((x) => x.rate.prefix),
        col((x) => x.rate.destination), col((x) => x.rate.ratePerMinute), col((x) => x.rate.connectionFee), col((x) => x.rate.firstIncrement),
        col((x) => x.rate.nextIncrement),
      ],
    );
  }

  /**
   * Completes open CDRs at their call's end, in one statement: the end, duration and who hung up,
   * and status `pending` (to be rated). Answers the ids it completed: one missing was no longer
   * open (a survivor closed it when this node was taken for lost).
   */
  async complete(rows: Pick<NewCdrRow, 'id' | 'ended_at' | 'duration_seconds' | 'sip_code' | 'sip_reason' | 'hangup_by'>[]): Promise<Set<string>> {
    if (!rows.length) return new Set();
    const col = <K extends keyof (typeof rows)[number]>(k: K) => rows.map((r) => r[k]);
    const done = (await this.db.query(
      `UPDATE cdrs SET status = 'pending', ended_at = u.ended, duration_seconds = u.duration, sip_code = u.code, sip_reason = u.reason, hangup_by = u.by
       FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::text[], $6::text[]) AS u(id, ended, duration, code, reason, by)
       WHERE cdrs.id = u.id AND cdrs.status = 'open' RETURNING cdrs.id`,
      [col('id'), col('ended_at'), col('duration_seconds'), col('sip_code'), col('sip_reason'), col('hangup_by')],
    )) as [{ id: string }[], number] | { id: string }[];
    return new Set(rowsOf(done).map((r) => r.id));
  }

  /** Marks a pending CDR failed with the reason (never a rated one). */
  async markFailed(id: string, reason: string): Promise<void> {
    await this.db.query(`UPDATE cdrs SET status = 'failed', failure_reason = $2 WHERE id = $1 AND status = 'pending'`, [id, reason]);
  }

  /** Ids of CDRs pending for more than `olderThanSeconds`, after `after` in id order, `limit` at most. */
  async pendingIds(olderThanSeconds: number, after: string, limit: number): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT id FROM cdrs WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) AND id > $2 ORDER BY id LIMIT $3`,
      [olderThanSeconds, after, limit],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async findById(id: string): Promise<CdrRow | null> {
    const [row] = (await this.db.query('SELECT * FROM cdrs WHERE id = $1', [id])) as CdrRow[];
    return row ?? null;
  }

  /** One page of matching CDRs in id order: ids after `after`, `take` rows at most. */
  async page(filter: CdrFilter, after: string | null, take: number): Promise<CdrRow[]> {
    const params: unknown[] = [];
    const w = where(filter, params);
    params.push(after, take);
    return (await this.db.query(
      `SELECT * FROM cdrs WHERE ${w} AND ($${params.length - 1}::uuid IS NULL OR id > $${params.length - 1}) ORDER BY id LIMIT $${params.length}`,
      params,
    )) as CdrRow[];
  }

  /**
   * Every matching CDR, in keyset batches of `batch`: the next batch is read only when the
   * consumer asks, so memory stays flat whatever the size.
   */
  async *scan(filter: CdrFilter, batch: number): AsyncGenerator<CdrRow> {
    let after: string | null = null;
    for (;;) {
      const rows = await this.page(filter, after, batch);
      yield* rows;
      if (rows.length < batch) return;
      after = rows[rows.length - 1].id;
    }
  }

  /** Rated CDRs that started in [from, to), optionally of one account, summed per key and currency. */
  async usage(groupBy: keyof typeof USAGE_KEY, from: string, to: string, accountId: string | null): Promise<UsageRow[]> {
    const extra = groupBy === 'destination' ? ', max(rate_destination) AS destination' : '';
    return (await this.db.query(
      `SELECT ${USAGE_KEY[groupBy]} AS key, currency, count(*)::int AS calls, count(*) FILTER (WHERE disposition = 'answered')::int AS answered,
              coalesce(sum(duration_seconds), 0)::bigint AS duration_seconds, coalesce(sum(billable_seconds), 0)::bigint AS billable_seconds,
              coalesce(sum(cost), 0)::numeric(20,6) AS cost${extra}
       FROM cdrs WHERE status = 'rated' AND started_at >= $1 AND started_at < $2 AND ($3::uuid IS NULL OR account_id = $3)
       GROUP BY 1, 2 ORDER BY 1, 2`,
      [from, to, accountId],
    )) as UsageRow[];
  }
}
