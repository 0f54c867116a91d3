/**
 * The time-bucket query of the dashboard's call statistics (call-stats.ts) over cdrs. It reads
 * only the columns of the covering index cdrs_started_at_stats_idx (migration
 * 1764600000000-cdr-stats), so PostgreSQL answers it from the index alone for the window's rows.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { CallStatsRow } from './call-stats';

/** $1 from, $2 to, $3 bucket seconds, $4 trunk id or null, $5 direction or null. Exported for the test that checks its plan. */
export const CALL_STATS_SQL = `SELECT date_bin(make_interval(secs => $3), started_at, timestamptz 'epoch') AS bucket, trunk_id, direction,
              count(*)::int AS attempts,
              count(*) FILTER (WHERE disposition = 'answered')::int AS answered,
              coalesce(sum(duration_seconds) FILTER (WHERE disposition = 'answered'), 0)::bigint AS answered_seconds,
              coalesce(sum(extract(epoch FROM coalesce(ringing_at, answered_at) - started_at) * 1000), 0)::float8 AS pdd_ms_sum,
              count(coalesce(ringing_at, answered_at))::int AS pdd_count
       FROM cdrs
       WHERE started_at >= $1 AND started_at < $2 AND status IN ('pending', 'rated', 'failed')
         AND ($4::uuid IS NULL OR trunk_id = $4) AND ($5::text IS NULL OR direction = $5)
       GROUP BY 1, 2, 3`;

@Injectable()
export class CallStatsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async buckets(from: Date, to: Date, bucketSeconds: number, filter: { trunkId?: string; direction?: string }): Promise<CallStatsRow[]> {
    const rows = (await this.db.query(
      CALL_STATS_SQL,
      [from, to, bucketSeconds, filter.trunkId ?? null, filter.direction ?? null],
    )) as (Omit<CallStatsRow, 'answered_seconds'> & { answered_seconds: string })[];
    return rows.map((r) => ({ ...r, bucket: new Date(r.bucket), answered_seconds: Number(r.answered_seconds) }));
  }
}
