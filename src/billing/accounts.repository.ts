/**
 * Storage of the accounts table: every query billing makes on it, except the balance and
 * ledger_seq writes, which belong to the ledger (ledger.repository.ts). Also counts an account's
 * users (read-only; the users module owns that table). Services call this, never TypeORM.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, FindOptionsWhere, LessThan, Repository } from 'typeorm';
import { Account, AccountStatus } from './account.entity';
import { SqlRepository, Tx } from './sql.repository';

/**
 * What credit control keeps of an account in Redis (credit-control.service.ts), read in one
 * statement so balance, ledger_seq, settings_version and today's spending are one consistent view.
 */
export interface FundsSnapshotRow {
  id: string;
  balance: string;
  credit_limit: string;
  /** bigint, as PostgreSQL's text. */
  ledger_seq: string;
  settings_version: string;
  status: string;
  max_concurrent_calls: number | null;
  daily_spend_limit: string | null;
  rate_deck_id: string | null;
  currency: string;
  allowed_countries: string[] | null;
  max_rate_per_minute: string | null;
  /** Σ cost of the account's rated CDRs that started since the day start ('0' without a daily limit). */
  spent: string;
  /** With `withPending`: the account's pending CDRs that had a reservation, to price their holds. */
  pending: { id: string; rate: string | null; fee: string | null; first: number | null; next: number | null; seconds: number; answered: boolean }[] | null;
}

export type AccountFields = Omit<Account, 'balance' | 'createdAt' | 'updatedAt'>;

@Injectable()
export class AccountsRepository extends SqlRepository {
  constructor(
    @InjectDataSource() db: DataSource,
    @InjectRepository(Account) private readonly accounts: Repository<Account>,
  ) {
    super(db);
  }

  async create(fields: AccountFields): Promise<Account> {
    return this.accounts.save(this.accounts.create(fields));
  }

  /** One page, newest first: ids before `after`, `take` rows at most. */
  async page(filter: { after?: string; status?: AccountStatus }, take: number): Promise<Account[]> {
    const where: FindOptionsWhere<Account> = {};
    if (filter.after) where.id = LessThan(filter.after);
    if (filter.status) where.status = filter.status;
    return this.accounts.find({ where, order: { id: 'DESC' }, take });
  }

  async findById(id: string): Promise<Account | null> {
    return this.accounts.findOneBy({ id });
  }

  /**
   * Applies the patch and bumps settings_version in one transaction; returns the new version
   * (credit control's cached snapshots older than it are not used again).
   */
  async update(id: string, patch: Partial<Omit<AccountFields, 'id' | 'currency'>>): Promise<string> {
    return this.db.transaction(async (tx) => {
      await tx.getRepository(Account).update({ id }, { ...patch, updatedAt: new Date() });
      // TypeORM answers an UPDATE with [rows, affected]; a CTE keeps the answer plain rows.
      const [row] = (await tx.query(
        'WITH v AS (UPDATE accounts SET settings_version = settings_version + 1 WHERE id = $1 RETURNING settings_version) SELECT settings_version::text AS v FROM v',
        [id],
      )) as { v: string }[];
      return row?.v ?? '0';
    });
  }

  async delete(id: string): Promise<void> {
    await this.accounts.delete({ id });
  }

  /** Users that belong to the account. */
  async userCount(id: string): Promise<number> {
    const [{ users }] = (await this.db.query('SELECT count(*)::int AS users FROM users WHERE account_id = $1', [id])) as { users: number }[];
    return users;
  }

  async exists(id: string): Promise<boolean> {
    const [row] = (await this.db.query('SELECT 1 FROM accounts WHERE id = $1', [id])) as unknown[];
    return row !== undefined;
  }

  /** The account's rate deck and currency (null: no such account). */
  async tariffOf(id: string): Promise<{ rateDeckId: string | null; currency: string } | null> {
    const [row] = (await this.db.query('SELECT rate_deck_id AS "rateDeckId", currency FROM accounts WHERE id = $1', [id])) as { rateDeckId: string | null; currency: string }[];
    return row ?? null;
  }

  /**
   * The snapshots of these accounts (see FundsSnapshotRow), on the caller's transaction if given.
   * The spending sum is an index range read (cdrs_account_started_rated_idx), run only for
   * accounts with a daily limit; the pending CDRs come from cdrs_account_pending_idx.
   */
  async fundsSnapshots(tx: Tx | undefined, ids: string[], dayStart: Date, withPending: boolean): Promise<FundsSnapshotRow[]> {
    return (await this.on(tx).query(
      `SELECT a.id, a.balance, a.credit_limit, a.ledger_seq, a.settings_version, a.status, a.max_concurrent_calls, a.daily_spend_limit,
              a.rate_deck_id, a.currency, a.allowed_countries, a.max_rate_per_minute,
              CASE WHEN a.daily_spend_limit IS NULL THEN '0' ELSE
                (SELECT coalesce(sum(c.cost), 0)::numeric(20,6)::text FROM cdrs c WHERE c.account_id = a.id AND c.status = 'rated' AND c.started_at >= $2) END AS spent,
              CASE WHEN $3::boolean THEN
                (SELECT json_agg(json_build_object('id', c.reservation_id, 'rate', c.rate_per_minute::text, 'fee', c.connection_fee::text, 'first', c.first_increment,
                   'next', c.next_increment, 'seconds', c.duration_seconds, 'answered', c.disposition = 'answered' AND c.answered_at IS NOT NULL))
                 FROM cdrs c WHERE c.account_id = a.id AND c.status = 'pending' AND c.reservation_id IS NOT NULL) END AS pending
       FROM accounts a WHERE a.id = ANY($1::uuid[])`,
      [ids, dayStart, withPending],
    )) as FundsSnapshotRow[];
  }

  /**
   * Takes the account row lock (FOR NO KEY UPDATE), the lock every ledger append takes, and reads
   * the currency (null: no such account).
   */
  async lock(tx: Tx, id: string): Promise<{ currency: string } | null> {
    const [row] = (await tx.query('SELECT currency FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [id])) as { currency: string }[];
    return row ?? null;
  }
}
