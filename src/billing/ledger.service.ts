/**
 * The ledger: every credit and debit of every account. `accounts.balance` is the sum of the ledger
 * because it only ever changes in the same statement that appends a ledger entry (`append`), which
 * also advances the account's `ledger_seq` under the account row lock. Owns ledger_entries and
 * topups; it is the only writer of accounts.balance and accounts.ledger_seq.
 * Storage: ledger.repository.ts (and the account lock in accounts.repository.ts).
 * Imports nothing from other domain modules.
 */
import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { newId } from '../platform/ids';
import { decodeCursor, Page, pageQuery, toPage } from '../platform/pagination';
import { DomainError, invalid, notFound } from '../platform/problem';
import { money } from '../platform/validation';
import { AccountsRepository } from './accounts.repository';
import { CreditControlService } from './credit-control.service';
import { EntryRow, LedgerKind, LedgerRepository, NewEntry } from './ledger.repository';
import { Money } from './rating';
import type { Tx } from './sql.repository';

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

export type { LedgerKind, NewEntry } from './ledger.repository';

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
  private readonly log = new Logger('ledger');

  constructor(
    private readonly entries: LedgerRepository,
    private readonly accounts: AccountsRepository,
    private readonly credit: CreditControlService,
  ) {}

  /**
   * Appends one entry and moves the balance, in one statement, inside the caller's transaction.
   * The UPDATE takes the account row lock, so entries of one account are numbered 1, 2, 3… in
   * commit order. A unique violation (second debit for a CDR, second rental for a month) fails the
   * statement and the caller's transaction with it: nothing moves.
   */
  async append(tx: Tx, e: NewEntry): Promise<{ id: string; seq: number; balanceAfter: string }> {
    const id = newId();
    const r = await this.entries.append(tx, { ...e, id });
    if (!r) throw notFound('account', e.accountId);
    return { id, ...r };
  }

  /**
   * Appends many entries inside the caller's transaction: accounts are locked in id order (so
   * concurrent batches cannot deadlock), each balance moves once by its total, and every entry
   * gets its own consecutive seq and balanceAfter, exactly as `append` one by one would give.
   */
  async appendMany(tx: Tx, entries: NewEntry[]): Promise<(NewEntry & { id: string; seq: number; balanceAfter: string })[]> {
    if (!entries.length) return [];
    const byAccount = new Map<string, NewEntry[]>();
    for (const e of entries) byAccount.set(e.accountId, [...(byAccount.get(e.accountId) ?? []), e]);
    const accountIds = [...byAccount.keys()].sort();
    const totals = accountIds.map((id) => byAccount.get(id)!.reduce((t, e) => t.plus(e.amount), new Money(0)).toFixed(6));
    const counts = accountIds.map((id) => byAccount.get(id)!.length);
    const moved = await this.entries.moveBalances(tx, accountIds, totals, counts);
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
    await this.entries.insertEntries(tx, out);
    return out;
  }

  /**
   * Credits an account. With an idempotency key, the first answer is stored and every retry with
   * the same key and body gets it again; the same key with another body is a 422.
   */
  async topUp(accountId: string, input: z.infer<typeof topUpInput>, idempotencyKey?: string): Promise<{ replayed: boolean; topup: TopUpView }> {
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 200)) throw invalid('Idempotency-Key', 'expected 1 to 200 characters');
    const requestHash = topUpRequestHash(input);
    const done = await this.entries.transaction(async (tx) => {
      // The account row lock serialises concurrent retries of one key: the second sees the first.
      const acc = await this.accounts.lock(tx, accountId);
      if (!acc) throw notFound('account', accountId);
      if (idempotencyKey !== undefined) {
        const prior = await this.entries.topUpByKey<TopUpView>(tx, accountId, idempotencyKey);
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
      const stored = await this.entries.insertTopUp(tx, { id, accountId, idempotencyKey: idempotencyKey ?? null, requestHash, amount: input.amount, reference: input.reference ?? null });
      const entry = await this.append(tx, { accountId, amount: input.amount, kind: 'topup', topupId: id, description: input.reference });
      const view: TopUpView = {
        id,
        accountId,
        amount: stored.amount,
        currency: acc.currency,
        reference: input.reference ?? null,
        ledgerEntryId: entry.id,
        balance: entry.balanceAfter,
        createdAt: stored.created_at.toISOString(),
      };
      await this.entries.storeTopUpResponse(tx, id, view);
      return { replayed: false, topup: view };
    });
    // After the commit, so credit control sees the money now (and within its snapshot age if this fails).
    if (!done.replayed) await this.credit.refresh(accountId).catch((e: Error) => this.log.warn({ err: e.message, accountId }, 'credit snapshot not refreshed after a top-up'));
    return done;
  }

  async list(accountId: string, q: z.infer<typeof ledgerQuery>): Promise<Page<LedgerEntryView>> {
    if (!(await this.accounts.exists(accountId))) throw notFound('account', accountId);
    const rows = await this.entries.page(accountId, { after: decodeCursor(q.cursor), kind: q.kind }, q.limit + 1);
    return toPage(rows, q.limit, entryView);
  }

  /** Balance and the ledger's own sum side by side, so anyone can check they agree. */
  async balance(accountId: string): Promise<{ accountId: string; balance: string; ledgerSum: string; creditLimit: string; currency: string; ledgerSeq: number }> {
    const row = await this.entries.balance(accountId);
    if (!row) throw notFound('account', accountId);
    return { accountId, balance: row.balance, ledgerSum: row.ledger_sum, creditLimit: row.credit_limit, currency: row.currency, ledgerSeq: Number(row.ledger_seq) };
  }
}
