/**
 * Storage of the accounts table: every query billing makes on it, except the balance and
 * ledger_seq writes, which belong to the ledger (ledger.repository.ts). Also counts an account's
 * users (read-only; the users module owns that table). Services call this, never TypeORM.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, FindOptionsWhere, MoreThan, Repository } from 'typeorm';
import { Account, AccountStatus } from './account.entity';
import { SqlRepository, Tx } from './sql.repository';

/** What credit control checks before it takes the account lock. */
export interface CallProfile {
  rateDeckId: string | null;
  currency: string;
  status: string;
  allowedCountries: string[] | null;
  maxRatePerMinute: string | null;
}

/** What credit control reads under the account row lock. */
export interface LockedFunds {
  balance: string;
  creditLimit: string;
  /** bigint, as PostgreSQL's text. */
  ledgerSeq: string;
  status: string;
  maxConcurrentCalls: number | null;
  dailySpendLimit: string | null;
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

  /** One page in id order: ids after `after`, `take` rows at most. */
  async page(filter: { after?: string; status?: AccountStatus }, take: number): Promise<Account[]> {
    const where: FindOptionsWhere<Account> = {};
    if (filter.after) where.id = MoreThan(filter.after);
    if (filter.status) where.status = filter.status;
    return this.accounts.find({ where, order: { id: 'ASC' }, take });
  }

  async findById(id: string): Promise<Account | null> {
    return this.accounts.findOneBy({ id });
  }

  async update(id: string, patch: Partial<Omit<AccountFields, 'id' | 'currency'>>): Promise<void> {
    await this.accounts.update({ id }, { ...patch, updatedAt: new Date() });
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

  /** What credit control checks without the lock (null: no such account). */
  async callProfile(id: string): Promise<CallProfile | null> {
    const [row] = (await this.db.query(
      `SELECT rate_deck_id AS "rateDeckId", currency, status, allowed_countries AS "allowedCountries", max_rate_per_minute AS "maxRatePerMinute"
       FROM accounts WHERE id = $1`,
      [id],
    )) as CallProfile[];
    return row ?? null;
  }

  /**
   * Takes the account row lock (FOR NO KEY UPDATE: it must not block the FK checks of CDR inserts,
   * which take KEY SHARE) and reads the money and limits as they stand under it (null: no such account).
   */
  async lockFunds(tx: Tx, id: string): Promise<LockedFunds | null> {
    const [row] = (await tx.query(
      `SELECT balance, credit_limit AS "creditLimit", ledger_seq AS "ledgerSeq", status, max_concurrent_calls AS "maxConcurrentCalls",
              daily_spend_limit AS "dailySpendLimit"
       FROM accounts WHERE id = $1 FOR NO KEY UPDATE`,
      [id],
    )) as LockedFunds[];
    return row ?? null;
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
