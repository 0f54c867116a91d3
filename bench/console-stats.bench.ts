/**
 * bench:console-stats — the dashboard's GET /v1/stats/calls query (CALL_STATS_SQL) over a CDR table
 * of BENCH_STATS_CDRS rows (default 1,000,000) spread over 7 days, 20 trunks, three directions:
 * the last 6 hours in 5-minute buckets and the last 24 hours in 15-minute buckets, median of 7 runs
 * each, with the covering index of migration 1764600000000-cdr-stats, beside the same run's
 * baseline: the plain index on started_at it replaced. Fresh database, dropped at the end.
 */
import { Client } from 'pg';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CALL_STATS_SQL } from '../src/billing/call-stats.repository';
import { freshDatabase, machine, writeResult } from './harness';
import { resultsDir } from './results-dir';

const CDRS = Number(process.env.BENCH_STATS_CDRS ?? 1_000_000);
const RUNS = 7;

async function median(c: Client, params: unknown[]): Promise<{ ms: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    rows = (await c.query(CALL_STATS_SQL, params)).rowCount ?? 0;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: Math.round(times[Math.floor(RUNS / 2)] * 100) / 100, rows };
}

async function main(): Promise<void> {
  const db = await freshDatabase('stats');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    const started = Date.now();
    await c.query(
      `INSERT INTO cdrs (id, call_id, direction, trunk_id, started_at, ringing_at, answered_at, ended_at, duration_seconds, disposition, status)
       SELECT gen_random_uuid(), 'bench-' || i, (ARRAY['outbound','inbound','internal'])[1 + i % 3],
              ('00000000-0000-7000-8000-' || lpad((i % 20)::text, 12, '0'))::uuid,
              now() - (i * (604800.0 / $1)) * interval '1 second',
              now() - (i * (604800.0 / $1)) * interval '1 second' + interval '1.5 seconds',
              CASE WHEN i % 4 <> 0 THEN now() - (i * (604800.0 / $1)) * interval '1 second' + interval '6 seconds' END,
              now() - (i * (604800.0 / $1)) * interval '1 second' + interval '90 seconds',
              CASE WHEN i % 4 <> 0 THEN 84 ELSE 0 END,
              CASE WHEN i % 4 <> 0 THEN 'answered' ELSE 'busy' END, 'rated'
       FROM generate_series(1, $1) AS i`,
      [CDRS],
    );
    await c.query('VACUUM ANALYZE cdrs');
    const loadSeconds = Math.round((Date.now() - started) / 100) / 10;
    const now = Date.now();
    const windows = {
      '6h/5m': [new Date(now - 6 * 3600_000), new Date(now), 300, null, null],
      '24h/15m': [new Date(now - 24 * 3600_000), new Date(now), 900, null, null],
    } as const;
    const measure = async () => {
      const out: Record<string, { ms: number; rows: number }> = {};
      for (const [k, p] of Object.entries(windows)) out[k] = await median(c, [...p]);
      return out;
    };
    const plan = async () => ((await c.query(`EXPLAIN ${CALL_STATS_SQL}`, [...windows['6h/5m']])).rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).find((l) => /Scan/.test(l))?.trim();
    const covering = { plan: await plan(), times: await measure() };
    await c.query('DROP INDEX cdrs_started_at_stats_idx');
    await c.query('CREATE INDEX cdrs_started_at_idx ON cdrs (started_at)');
    await c.query('ANALYZE cdrs');
    const plain = { plan: await plan(), times: await measure() };
    const result = { command: 'npm run bench:console-stats', cdrs: CDRS, loadSeconds, runs: RUNS, coveringIndex: covering, baselinePlainIndex: plain };
    const path = writeResult('console-stats', result);
    const md = [
      '# bench:console-stats',
      '',
      `${new Date().toISOString()}, ${JSON.stringify(machine())}`,
      '',
      `Command: \`npm run bench:console-stats\` (BENCH_STATS_CDRS=${CDRS}). The dashboard's statistics query over ${CDRS.toLocaleString('en')} CDRs spread over 7 days; median of ${RUNS} runs.`,
      '',
      '| window / bucket | covering index (ms) | baseline: plain started_at index (ms) | groups |',
      '| --- | --- | --- | --- |',
      ...Object.keys(windows).map((k) => `| ${k} | ${covering.times[k].ms} | ${plain.times[k].ms} | ${covering.times[k].rows} |`),
      '',
      `Plans: covering \`${covering.plan}\`; baseline \`${plain.plan}\`.`,
      '',
    ].join('\n');
    writeFileSync(resolve(resultsDir(), 'console-stats.md'), md);
    console.log(md);
    console.log(`written ${path}`);
  } finally {
    await c.end();
    await db.drop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
