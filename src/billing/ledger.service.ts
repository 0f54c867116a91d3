/**
 * The ledger: every credit and debit of every account. `accounts.balance` is the sum of the ledger
 * because it only ever changes in the same statement that appends a ledger entry (`append`), which
 * also advances the account's `ledger_seq` under the account row lock. Owns ledger_entries and
 * topups; it is the only writer of accounts.balance and accounts.ledger_seq.
 * Imports nothing from other domain modules.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { DomainError, invalid, notFound } from '../platform/problem';
import { money } from '../platform/validation';
import { Money } from './rating';

export const topUpInput = z.strictObject({
  amount: money.refine((a) => /[1-9]/.test(a), 'must be more than 0'),
  reference: z.string().trim().min(1).max(200).optional(),
});
export const ledgerQuery = pageQuery.extend({ kind: z.enum(['topup', 'call', 'rental']).optional() });

/**
 * What makes two top-up requests "the same body" for an Idempotency-Key: the amount as money
 * ("10", "10.0" and "10.000000" are one amount, "1" is another) and the reference. Decimal's
 * toFixed() without places gives the shortest plain form, so hashes stored before this rule for
 * amounts with a non-zero fraction ("10.50" → "10.5") still match.
 */
export function topUpRequestHash(input: z.infer<typeof topUpInput>): string {
  return createHash('sha256').update(JSON.stringify([new Money(input.amount).toFixed(), input.reference ?? null])).digest('hex');
}

export type LedgerKind = 'topup' | 'call' | 'rental';

export interface NewEntry {
  accountId: string;
  /** Signed decimal string: credits positive, debits negative. */
  amount: string;
  kind: LedgerKind;
  cdrId?: string;
  topupId?: string;
  numberE164?: string;
  period?: string;
  description?: string;
}

export interface LedgerEntryView {
  id: string;
  accountId: string;
  seq: number;
  kind: LedgerKind;
  amount: string;
  balanceAfter: string;
  currency: string;
  cdrId: string | null;
  topupId: string | null;
  number: string | null;
  period: string | null;
  description: string | null;
  createdAt: string;
}

export interface TopUpView {
  id: string;
  accountId: string;
  amount: string;
  currency: string;
  reference: string | null;
  ledgerEntryId: string;
  balance: string;
  createdAt: string;
}

interface EntryRow {
  id: string;
  account_id: string;
  seq: string;
  kind: LedgerKind;
  amount: string;
  balance_after: string;
  currency: string;
  cdr_id: string | null;
  topup_id: string | null;
  number_e164: string | null;
  period: string | null;
  description: string | null;
  created_at: Date;
}
const entryView = (r: EntryRow): LedgerEntryView => ({
  id: r.id,
  accountId: r.account_id,
  seq: Number(r.seq),
  kind: r.kind,
  amount: r.amount,
  balanceAfter: r.balance_after,
  currency: r.currency,
  cdrId: r.cdr_id,
  topupId: r.topup_id,
  number: r.number_e164,
  period: r.period,
  description: r.description,
  createdAt: r.created_at.toISOString(),
});

@Injectable()
export class LedgerService {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Appends one entry and moves the balance, in one statement, inside the caller's transaction.
   * The UPDATE takes the account row lock, so entries of one account are numbered 1, 2, 3… in
   * commit order. A unique violation (second debit for a CDR, second rental for a month) fails the
   * statement and the caller's transaction with it: nothing moves.
   */
  async append(tx: EntityManager, e: NewEntry): Promise<{ id: string; seq: number; balanceAfter: string }> {
    const id = newId();
    const rows = (await tx.query(
      `WITH acc AS (
         UPDATE accounts SET balance = balance + $2::numeric, ledger_seq = ledger_seq + 1, updated_at = now()
         WHERE id = $1 RETURNING balance, ledger_seq)
       INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, cdr_id, topup_id, number_e164, period, description)
       SELECT $3, $1, acc.ledger_seq, $4, $2::numeric, acc.balance, $5, $6, $7, $8, $9 FROM acc
       RETURNING seq, balance_after`,
      [e.accountId, e.amount, id, e.kind, e.cdrId ?? null, e.topupId ?? null, e.numberE164 ?? null, e.period ?? null, e.description ?? null],
    )) as { seq: string; balance_after: string }[];
    if (!rows.length) throw notFound('account', e.accountId);
    return { id, seq: Number(rows[0].seq), balanceAfter: rows[0].balance_after };
  }

  /**
   * Appends many entries inside the caller's transaction: accounts are locked in id order (so
   * concurrent batches cannot deadlock), each balance moves once by its total, and every entry
   * gets its own consecutive seq and balanceAfter, exactly as `append` one by one would give.
   */
  async appendMany(tx: EntityManager, entries: NewEntry[]): Promise<(NewEntry & { id: string; seq: number; balanceAfter: string })[]> {
    if (!entries.length) return [];
    const byAccount = new Map<string, NewEntry[]>();
    for (const e of entries) byAccount.set(e.accountId, [...(byAccount.get(e.accountId) ?? []), e]);
    const accountIds = [...byAccount.keys()].sort();
    await tx.query('SELECT id FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE', [accountIds]);
    const totals = accountIds.map((id) => byAccount.get(id)!.reduce((t, e) => t.plus(e.amount), new Money(0)).toFixed(6));
    const counts = accountIds.map((id) => byAccount.get(id)!.length);
    // TypeORM answers an UPDATE with [rows, affected]; a CTE keeps the answer plain rows.
    const moved = (await tx.query(
      `WITH moved AS (
         UPDATE accounts SET balance = balance + u.total, ledger_seq = ledger_seq + u.n, updated_at = now()
         FROM unnest($1::uuid[], $2::numeric[], $3::int[]) AS u(id, total, n) WHERE accounts.id = u.id
         RETURNING accounts.id, accounts.balance, accounts.ledger_seq)
       SELECT * FROM moved`,
      [accountIds, totals, counts],
    )) as { id: string; balance: string; ledger_seq: string }[];
    if (moved.length !== accountIds.length) throw notFound('account', accountIds.find((id) => !moved.some((m) => m.id === id)) ?? '?');
    const out: (NewEntry & { id: string; seq: number; balanceAfter: string })[] = [];
    moved.forEach((m) => {
      const list = byAccount.get(m.id)!;
      let balance = new Money(m.balance).minus(totals[accountIds.indexOf(m.id)]);
      let seq = Number(m.ledger_seq) - list.length;
      for (const e of list) {
        balance = balance.plus(e.amount);
        out.push({ ...e, id: newId(), seq: ++seq, balanceAfter: balance.toFixed(6) });
      }
    });
    const c = <T>(f: (e: (typeof out)[number]) => T) => out.map(f);
    await tx.query(
      `INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, cdr_id, topup_id, number_e164, period, description)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::numeric[], $6::numeric[], $7::uuid[], $8::uuid[], $9::text[], $10::char(7)[], $11::text[])`,
      [
        c((e) => e.id), c((e) => e.accountId), c((e) => e.seq), c((e) => e.kind), c((e) => e.amount), c((e) => e.balanceAfter), c((e) => e.cdrId ?? null),
        c((e) => e.topupId ?? null), c((e) => e.numberE164 ?? null), c((e) => e.period ?? null), c((e) => e.description ?? null),
      ],
    );
    return out;
  }

  /**
   * Credits an account. With an idempotency key, the first answer is stored and every retry with
   * the same key and body gets it again; the same key with another body is a 422.
   */
  async topUp(accountId: string, input: z.infer<typeof topUpInput>, idempotencyKey?: string): Promise<{ replayed: boolean; topup: TopUpView }> {
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 200)) throw invalid('Idempotency-Key', 'expected 1 to 200 characters');
    const requestHash = topUpRequestHash(input);
    return this.db.transaction(async (tx) => {
      // The account row lock serialises concurrent retries of one key: the second sees the first.
      const [acc] = (await tx.query('SELECT currency FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId])) as { currency: string }[];
      if (!acc) throw notFound('account', accountId);
      if (idempotencyKey !== undefined) {
        const [prior] = (await tx.query('SELECT request_hash, response FROM topups WHERE account_id = $1 AND idempotency_key = $2', [accountId, idempotencyKey])) as {
          request_hash: string;
          response: TopUpView;
        }[];
        if (prior) {
          if (prior.request_hash !== requestHash) {
            throw new DomainError('unprocessable', 'this Idempotency-Key was used with another request body', [
              { field: 'Idempotency-Key', message: 'already used for a different top-up; use a new key' },
            ]);
          }
          return { replayed: true, topup: prior.response };
        }
      }
      const id = newId();
      await tx.query(`INSERT INTO topups (id, account_id, idempotency_key, request_hash, amount, reference, response) VALUES ($1, $2, $3, $4, $5, $6, '{}')`, [
        id,
        accountId,
        idempotencyKey ?? null,
        requestHash,
        input.amount,
        input.reference ?? null,
      ]);
      const entry = await this.append(tx, { accountId, amount: input.amount, kind: 'topup', topupId: id, description: input.reference });
      const [{ created_at, amount }] = (await tx.query('SELECT created_at, amount FROM topups WHERE id = $1', [id])) as { created_at: Date; amount: string }[];
      const view: TopUpView = {
        id,
        accountId,
        amount,
        currency: acc.currency,
        reference: input.reference ?? null,
        ledgerEntryId: entry.id,
        balance: entry.balanceAfter,
        createdAt: created_at.toISOString(),
      };
      await tx.query('UPDATE topups SET response = $2 WHERE id = $1', [id, JSON.stringify(view)]);
      return { replayed: false, topup: view };
    });
  }

  async list(accountId: string, q: z.infer<typeof ledgerQuery>): Promise<Page<LedgerEntryView>> {
    const [acc] = (await this.db.query('SELECT 1 FROM accounts WHERE id = $1', [accountId])) as unknown[];
    if (!acc) throw notFound('account', accountId);
    const after = decodeCursor(q.cursor);
    const rows = (await this.db.query(
      `SELECT l.*, a.currency FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
       WHERE l.account_id = $1 AND ($2::uuid IS NULL OR l.id > $2) AND ($3::text IS NULL OR l.kind = $3)
       ORDER BY l.id LIMIT $4`,
      [accountId, after ?? null, q.kind ?? null, q.limit + 1],
    )) as EntryRow[];
    return toPage(rows, q.limit, entryView);
  }

  /** Balance and the ledger's own sum side by side, so anyone can check they agree. */
  async balance(accountId: string): Promise<{ accountId: string; balance: string; ledgerSum: string; creditLimit: string; currency: string; ledgerSeq: number }> {
    const [row] = (await this.db.query(
      `SELECT a.balance, a.credit_limit, a.currency, a.ledger_seq,
              (SELECT coalesce(sum(amount), 0)::numeric(20,6) FROM ledger_entries WHERE account_id = a.id) AS ledger_sum
       FROM accounts a WHERE a.id = $1`,
      [accountId],
    )) as { balance: string; credit_limit: string; currency: string; ledger_seq: string; ledger_sum: string }[];
    if (!row) throw notFound('account', accountId);
    return { accountId, balance: row.balance, ledgerSum: row.ledger_sum, creditLimit: row.credit_limit, currency: row.currency, ledgerSeq: Number(row.ledger_seq) };
  }
}
