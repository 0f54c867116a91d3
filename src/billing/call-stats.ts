/**
 * Call statistics from the CDRs for the operator console's dashboard (GET /v1/stats/calls): per
 * time bucket, trunk and direction, the attempts, calls per minute, ASR (answered / attempts),
 * ACD (mean answered duration) and post-dial delay (mean time from the INVITE to the first
 * ringing, or to the answer when nothing rang). Pure: the query is call-stats.repository.ts's, the
 * shaping of its rows into series is here, unit-tested without a database.
 *
 * Only finished attempts count (status pending, rated or failed): a row of a call still in
 * progress is not an attempt yet.
 */
import { z } from 'zod';
import { invalid } from '../platform/problem';
import { uuid } from '../platform/validation';
import { directions } from './cdrs.service';

/** Bucket widths the API takes, in seconds. */
export const BUCKETS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86400 } as const;
/** Past this many buckets a query is refused (the chart could not show them anyway). */
export const MAX_BUCKETS = 2000;

export const callStatsQuery = z.strictObject({
  from: z.iso.datetime({ offset: true, message: 'expected an ISO-8601 timestamp such as 2026-11-23T09:00:00Z' }).optional().describe('Start (inclusive); default: 6 hours before `to`'),
  to: z.iso.datetime({ offset: true, message: 'expected an ISO-8601 timestamp such as 2026-11-23T15:00:00Z' }).optional().describe('End (exclusive); default: now'),
  bucket: z.enum(Object.keys(BUCKETS) as [keyof typeof BUCKETS, ...(keyof typeof BUCKETS)[]]).default('5m').describe('Bucket width: 1m, 5m, 15m, 1h or 1d'),
  trunkId: uuid.optional(),
  direction: z.enum(directions).optional(),
});
export type CallStatsQuery = z.infer<typeof callStatsQuery>;

/** One group of the query: a bucket start, a trunk (null: none, e.g. user to user) and a direction. */
export interface CallStatsRow {
  bucket: Date;
  trunk_id: string | null;
  direction: string;
  attempts: number;
  answered: number;
  answered_seconds: number;
  pdd_ms_sum: number;
  pdd_count: number;
}

export interface CallStatsPoint {
  /** Bucket start, ISO-8601. */
  at: string;
  attempts: number;
  answered: number;
  callsPerMinute: number;
  /** answered / attempts, 0..1; null without attempts. */
  asr: number | null;
  /** Mean seconds of the answered calls; null when none was answered. */
  acdSeconds: number | null;
  /** Mean post-dial delay in ms of the attempts that rang or were answered; null when none did. */
  pddMs: number | null;
}

export interface CallStatsSeries {
  trunkId: string | null;
  direction: string;
  points: CallStatsPoint[];
}

export interface CallStats {
  from: string;
  to: string;
  bucket: keyof typeof BUCKETS;
  bucketSeconds: number;
  totals: Omit<CallStatsPoint, 'at'>;
  series: CallStatsSeries[];
}

/** The window and bucket a query asks for, checked: from before to, and not too many buckets. */
export function statsWindow(q: CallStatsQuery, now: Date): { from: Date; to: Date; bucketSeconds: number } {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 6 * 3600_000);
  if (from.getTime() >= to.getTime()) throw invalid('from', 'must be before to');
  const bucketSeconds = BUCKETS[q.bucket];
  const buckets = Math.ceil((to.getTime() - from.getTime()) / 1000 / bucketSeconds);
  if (buckets > MAX_BUCKETS) throw invalid('bucket', `${buckets} buckets of ${q.bucket} between from and to; at most ${MAX_BUCKETS}: choose a wider bucket or a shorter window`);
  return { from, to, bucketSeconds };
}

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

function point(r: Omit<CallStatsRow, 'bucket' | 'trunk_id' | 'direction'>, bucketSeconds: number): Omit<CallStatsPoint, 'at'> {
  return {
    attempts: r.attempts,
    answered: r.answered,
    callsPerMinute: round((r.attempts * 60) / bucketSeconds, 3),
    asr: r.attempts > 0 ? round(r.answered / r.attempts, 4) : null,
    acdSeconds: r.answered > 0 ? round(r.answered_seconds / r.answered, 1) : null,
    pddMs: r.pdd_count > 0 ? Math.round(r.pdd_ms_sum / r.pdd_count) : null,
  };
}

/** Rows (any order) into one series per trunk and direction, points oldest first, plus the totals of the window. */
export function toCallStats(rows: CallStatsRow[], q: CallStatsQuery, window: { from: Date; to: Date; bucketSeconds: number }): CallStats {
  const series = new Map<string, CallStatsSeries>();
  const sum = { attempts: 0, answered: 0, answered_seconds: 0, pdd_ms_sum: 0, pdd_count: 0 };
  const sorted = [...rows].sort((a, b) => a.bucket.getTime() - b.bucket.getTime());
  for (const r of sorted) {
    const key = `${r.trunk_id ?? ''}/${r.direction}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { trunkId: r.trunk_id, direction: r.direction, points: [] }));
    s.points.push({ at: r.bucket.toISOString(), ...point(r, window.bucketSeconds) });
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += Number(r[k]);
  }
  const seconds = (window.to.getTime() - window.from.getTime()) / 1000;
  return {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    bucket: q.bucket,
    bucketSeconds: window.bucketSeconds,
    totals: point(sum, Math.max(seconds, 1)),
    series: [...series.values()].sort((a, b) => (a.trunkId ?? '').localeCompare(b.trunkId ?? '') || a.direction.localeCompare(b.direction)),
  };
}

const statsPoint = {
  attempts: z.number().int(),
  answered: z.number().int(),
  callsPerMinute: z.number().describe('attempts per minute over the bucket'),
  asr: z.number().nullable().describe('answered / attempts, 0..1; null without attempts'),
  acdSeconds: z.number().nullable().describe('mean seconds of the answered calls; null when none was answered'),
  pddMs: z.number().nullable().describe('mean post-dial delay in ms of the attempts that rang or were answered'),
};

/** The answer of GET /v1/stats/calls, for the OpenAPI document (the CallStats interface above). */
export const callStatsOut = z.object({
  from: z.string().describe('ISO 8601 start of the window (inclusive)'),
  to: z.string().describe('ISO 8601 end of the window (exclusive)'),
  bucket: z.enum(Object.keys(BUCKETS) as [keyof typeof BUCKETS, ...(keyof typeof BUCKETS)[]]),
  bucketSeconds: z.number().int(),
  totals: z.object(statsPoint),
  series: z.array(
    z.object({
      trunkId: z.string().nullable().describe('null: no trunk (user to user)'),
      direction: z.string(),
      points: z.array(z.object({ at: z.string().describe('bucket start, ISO 8601'), ...statsPoint })).describe('buckets without calls are left out'),
    }),
  ),
});
