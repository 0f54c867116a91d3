/**
 * Storage of the ledger: the ledger_entries and topups tables, and accounts.balance and
 * accounts.ledger_seq, which change only in the statement that appends entries. Also reads numbers
 * and users (read-only; the numbers and users modules own them) for the monthly rentals due.
 * Services call this, never SQL.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SqlRepository, Tx } from './sql.repository';

export type LedgerKind = 'topup' | 'call' | 'rental';

/** A credit or debit to append: the ledger numbers it and computes the balance after it. */
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

/** One ledger entry as written: `seq` and `balanceAfter` already decided. */
export interface EntryFields extends NewEntry {
  id: string;
  seq: number;
  balanceAfter: string;
}

export interface EntryRow {
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

export interface BalanceRow {
  balance: string;
  credit_limit: string;
  currency: string;
  ledger_seq: string;
  ledger_sum: string;
}

/** A number whose rental for a period is not in the ledger yet. */
export interface RentalDue {
  e164: string;
  monthly_fee: string;
  account_id: string;
}

@Injectable()
export class LedgerRepository extends SqlRepository {
  constructor(@InjectDataSource() db: DataSource) {
    super(db);
  }

  /**
   * Appends one entry and moves the balance, in one statement: the UPDATE takes the account row
   * lock, so an account's entries are numbered in commit order. null: no such account.
   */
  async append(tx: Tx, e: Omit<EntryFields, 'seq' | 'balanceAfter'>): Promise<{ seq: number; balanceAfter: string } | null> {
    const rows = (await tx.query(
      `WITH acc AS (
         UPDATE accounts SET balance = balance + $2::numeric, ledger_seq = ledger_seq + 1, updated_at = now()
         WHERE id = $1 RETURNING balance, ledger_seq)
       INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, cdr_id, topup_id, number_e164, period, description)
       SELECT $3, $1, acc.ledger_seq, $4, $2::numeric, acc.balance, $5, $6, $7, $8, $9 FROM acc
       RETURNING seq, balance_after`,
      [e.accountId, e.amount, e.id, e.kind, e.cdrId ?? null, e.topupId ?? null, e.numberE164 ?? null, e.period ?? null, e.description ?? null],
    )) as { seq: string; balance_after: string }[];
    return rows.length ? { seq: Number(rows[0].seq), balanceAfter: rows[0].balance_after } : null;
  }

  /**
   * Locks the accounts in id order (FOR NO KEY UPDATE; `accountIds` sorted, so concurrent batches
   * cannot deadlock), then moves each balance by its total and its ledger_seq by its count.
   * Returns the accounts found, with balance and ledger_seq after the move.
   */
  async moveBalances(tx: Tx, accountIds: string[], totals: string[], counts: number[]): Promise<{ id: string; balance: string; ledger_seq: string }[]> {
    await tx.query('SELECT id FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE', [accountIds]);
    // TypeORM answers an UPDATE with [rows, affected]; a CTE keeps the answer plain rows.
    return (await tx.query(
      `WITH moved AS (
         UPDATE accounts SET balance = balance + u.total, ledger_seq = ledger_seq + u.n, updated_at = now()
         FROM unnest($1::uuid[], $2::numeric[], $3::int[]) AS u(id, total, n) WHERE accounts.id = u.id
         RETURNING accounts.id, accounts.balance, accounts.ledger_seq)
       SELECT * FROM moved`,
      [accountIds, totals, counts],
    )) as { id: string; balance: string; ledger_seq: string }[];
  }

  /** Inserts entries whose balances moveBalances has already moved. */
  async insertEntries(tx: Tx, entries: EntryFields[]): Promise<void> {
    const c = <T>(f: (e: EntryFields) => T) => entries.map(f);
    await tx.query(
      `INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, cdr_id, topup_id, number_e164, period, description)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::numeric[], $6::numeric[], $7::uuid[], $8::uuid[], $9::text[], $10::char(7)[], $11::text[])`,
      [
        c((e) => e.id), c((e) => e.accountId), c((e) => e.seq), c((e) => e.kind), c((e) => e.amount), c((e) => e.balanceAfter), c((e) => e.cdrId ?? null),
        c((e) => e.topupId ?? null), c((e) => e.numberE164 ?? null), c((e) => e.period ?? null), c((e) => e.description ?? null),
      ],
    );
  }

  /** The seq of the ledger entry of each CDR that has one. */
  async seqsOfCdrs(tx: Tx, cdrIds: string[]): Promise<Map<string, number>> {
    const rows = (await tx.query('SELECT cdr_id, seq FROM ledger_entries WHERE cdr_id = ANY($1::uuid[])', [cdrIds])) as { cdr_id: string; seq: string }[];
    return new Map(rows.map((r) => [r.cdr_id, Number(r.seq)]));
  }

  /** The stored request hash and answer of an earlier top-up with this idempotency key. */
  async topUpByKey<V>(tx: Tx, accountId: string, idempotencyKey: string): Promise<{ request_hash: string; response: V } | null> {
    const [prior] = (await tx.query('SELECT request_hash, response FROM topups WHERE account_id = $1 AND idempotency_key = $2', [accountId, idempotencyKey])) as {
      request_hash: string;
      response: V;
    }[];
    return prior ?? null;
  }

  /** Inserts a top-up (its answer is stored later, by storeTopUpResponse); returns its amount as stored and its time. */
  async insertTopUp(
    tx: Tx,
    t: { id: string; accountId: string; idempotencyKey: string | null; requestHash: string; amount: string; reference: string | null },
  ): Promise<{ amount: string; created_at: Date }> {
    await tx.query(`INSERT INTO topups (id, account_id, idempotency_key, request_hash, amount, reference, response) VALUES ($1, $2, $3, $4, $5, $6, '{}')`, [
      t.id,
      t.accountId,
      t.idempotencyKey,
      t.requestHash,
      t.amount,
      t.reference,
    ]);
    const [row] = (await tx.query('SELECT created_at, amount FROM topups WHERE id = $1', [t.id])) as { created_at: Date; amount: string }[];
    return row;
  }

  async storeTopUpResponse(tx: Tx, id: string, response: unknown): Promise<void> {
    await tx.query('UPDATE topups SET response = $2 WHERE id = $1', [id, JSON.stringify(response)]);
  }

  /** One page of an account's entries, newest first, with the account's currency. */
  async page(accountId: string, filter: { after?: string; kind?: LedgerKind }, take: number): Promise<EntryRow[]> {
    return (await this.db.query(
      `SELECT l.*, a.currency FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
       WHERE l.account_id = $1 AND ($2::uuid IS NULL OR l.id < $2) AND ($3::text IS NULL OR l.kind = $3)
       ORDER BY l.id DESC LIMIT $4`,
      [accountId, filter.after ?? null, filter.kind ?? null, take],
    )) as EntryRow[];
  }

  /** Balance, credit limit and ledger_seq beside the ledger's own sum (null: no such account). */
  async balance(accountId: string): Promise<BalanceRow | null> {
    const [row] = (await this.db.query(
      `SELECT a.balance, a.credit_limit, a.currency, a.ledger_seq,
              (SELECT coalesce(sum(amount), 0)::numeric(20,6) FROM ledger_entries WHERE account_id = a.id) AS ledger_sum
       FROM accounts a WHERE a.id = $1`,
      [accountId],
    )) as BalanceRow[];
    return row ?? null;
  }

  /** Assigned numbers with a fee whose rental for `period` is not in the ledger, by number. */
  async rentalsDue(period: string): Promise<RentalDue[]> {
    return (await this.db.query(
      `SELECT n.e164, n.monthly_fee, u.account_id FROM numbers n JOIN users u ON u.id = n.user_id
       WHERE n.status = 'assigned' AND n.monthly_fee > 0
         AND NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.account_id = u.account_id AND l.number_e164 = n.e164 AND l.period = $1)
       ORDER BY n.e164`,
      [period],
    )) as RentalDue[];
  }

  async rentalCharged(tx: Tx, accountId: string, e164: string, period: string): Promise<boolean> {
    const [exists] = (await tx.query('SELECT 1 FROM ledger_entries WHERE account_id = $1 AND number_e164 = $2 AND period = $3', [accountId, e164, period])) as unknown[];
    return exists !== undefined;
  }
}
