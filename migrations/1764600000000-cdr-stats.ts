import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dashboard's call statistics (GET /v1/stats/calls, src/billing/call-stats.repository.ts) group
 * the CDRs of a time window by bucket, trunk and direction. This index on started_at carries every
 * column that query reads, so it is answered from the index alone; it replaces cdrs_started_at_idx,
 * whose every use (range scans on started_at) it serves as well.
 */
export class CdrStats1764600000000 implements MigrationInterface {
  name = 'CdrStats1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX cdrs_started_at_stats_idx ON cdrs (started_at) INCLUDE (trunk_id, direction, disposition, status, duration_seconds, ringing_at, answered_at)`,
    );
    await q.query(`DROP INDEX cdrs_started_at_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX cdrs_started_at_idx ON cdrs (started_at)`);
    await q.query(`DROP INDEX cdrs_started_at_stats_idx`);
  }
}
