import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fraud limits per account (issue 11): the countries an account may call, the highest per-minute
 * rate it may call at, and what it may spend per UTC day. NULL in each means "no limit".
 * `max_concurrent_calls` NULL now means "DEFAULT_MAX_CONCURRENT_CALLS" (the column is unchanged).
 * The partial index serves credit control's sum of today's rated CDRs of one account, which runs
 * under the account row lock and must stay an index range read however many CDRs the account has.
 */
export class FraudLimits1764300000000 implements MigrationInterface {
  name = 'FraudLimits1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE accounts
        ADD COLUMN allowed_countries text[] CONSTRAINT accounts_allowed_countries_check
          CHECK (allowed_countries IS NULL OR array_to_string(allowed_countries, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$'),
        ADD COLUMN max_rate_per_minute numeric(20, 6) CONSTRAINT accounts_max_rate_per_minute_check CHECK (max_rate_per_minute >= 0),
        ADD COLUMN daily_spend_limit numeric(20, 6) CONSTRAINT accounts_daily_spend_limit_check CHECK (daily_spend_limit >= 0)`);
    await q.query(`CREATE INDEX cdrs_account_started_rated_idx ON cdrs (account_id, started_at) INCLUDE (cost) WHERE status = 'rated'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX cdrs_account_started_rated_idx`);
    await q.query(`ALTER TABLE accounts DROP COLUMN daily_spend_limit, DROP COLUMN max_rate_per_minute, DROP COLUMN allowed_countries`);
  }
}
