import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Credit control without the account row lock (issue 13): Redis caches each account's snapshot
 * (balance, ledger_seq, limits) and must never put back one older than an account update, so the
 * update bumps `settings_version` (ledger_seq orders money, this orders settings). The partial
 * index serves the snapshot load's read of an account's pending CDRs (their holds, rebuilt after
 * Redis lost them) without scanning every CDR of the account.
 */
export class CreditSnapshot1764310000000 implements MigrationInterface {
  name = 'CreditSnapshot1764310000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE accounts ADD COLUMN settings_version bigint NOT NULL DEFAULT 0`);
    await q.query(`CREATE INDEX cdrs_account_pending_idx ON cdrs (account_id) WHERE status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX cdrs_account_pending_idx`);
    await q.query(`ALTER TABLE accounts DROP COLUMN settings_version`);
  }
}
