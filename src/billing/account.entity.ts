import { Column, Entity, PrimaryColumn } from 'typeorm';

export const accountStatuses = ['active', 'suspended'] as const;
export type AccountStatus = (typeof accountStatuses)[number];

/** A billing account: who pays. Money columns are numeric(20,6), read as decimal strings. */
@Entity('accounts')
export class Account {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  name: string;

  @Column('char', { length: 3 })
  currency: string;

  /** Maintained by the ledger (billing): never written by the accounts API. */
  @Column('numeric', { precision: 20, scale: 6, default: '0' })
  balance: string;

  @Column('numeric', { name: 'credit_limit', precision: 20, scale: 6, default: '0' })
  creditLimit: string;

  /** null: DEFAULT_MAX_CONCURRENT_CALLS of the configuration. */
  @Column('integer', { name: 'max_concurrent_calls', nullable: true })
  maxConcurrentCalls: number | null;

  /** ISO 3166-1 alpha-2 codes of the countries this account may call; null: every country. */
  @Column('text', { name: 'allowed_countries', array: true, nullable: true })
  allowedCountries: string[] | null;

  /** The highest per-minute rate (decimal string, the account's currency) it may call at; null: any. */
  @Column('numeric', { name: 'max_rate_per_minute', precision: 20, scale: 6, nullable: true })
  maxRatePerMinute: string | null;

  /** The most its calls may cost per UTC day (decimal string); null: no limit. */
  @Column('numeric', { name: 'daily_spend_limit', precision: 20, scale: 6, nullable: true })
  dailySpendLimit: string | null;

  @Column('uuid', { name: 'rate_deck_id', nullable: true })
  rateDeckId: string | null;

  @Column('text', { default: 'active' })
  status: AccountStatus;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;
}
