/**
 * bench:billing — 100,000 CDRs through record → BullMQ → rate → ledger, beside a raw BullMQ
 * baseline (the same number of no-op jobs through the same Redis, same producer and worker
 * concurrency) measured in the same run; then the CSV export of 1,000,000 CDRs through the real
 * gateway's HTTP API, beside PostgreSQL's own COPY of the same rows.
 * Fresh database and a unique Redis prefix, both removed at the end. Talks only to 127.0.0.1.
 */
import 'reflect-metadata';
import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { deleteKeysWithPrefix } from '../src/platform/redis';
import { BillingModule } from '../src/billing/billing.module';
import { BillingWorkers, RATING_CONCURRENCY } from '../src/billing/billing-queues';
import { CdrsService } from '../src/billing/cdrs.service';
import { LedgerService } from '../src/billing/ledger.service';
import { RateDecksService } from '../src/billing/rate-decks.service';
import { AppConfig, loadConfig } from '../src/platform/config';
import { PlatformModule } from '../src/platform/platform.module';
import { ADMIN_KEY, freshDatabase, REDIS_URL, startGateway, writeResult } from './harness';

const CDRS = Number(process.env.BENCH_CDRS ?? 100_000);
const EXPORT_CDRS = Number(process.env.BENCH_EXPORT_CDRS ?? 1_000_000);
const PRODUCERS = 64;
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? RATING_CONCURRENCY);
const ACCOUNTS = 100;
const DEADLINE = Date.now() + 14 * 60_000;

@Module({})
class BenchModule {
  static register(config: AppConfig): DynamicModule {
    return { module: BenchModule, imports: [PlatformModule.register(config), BillingModule] };
  }
}

const mib = (kb: number) => Math.round(kb / 1024);
const selfPeakRssMiB = () => mib(process.resourceUsage().maxRSS);
function checkDeadline(what: string): void {
  if (Date.now() > DEADLINE) throw new Error(`bench over its 14-minute bound during ${what}`);
}

/** Runs `task(i)` for i in [0, n) with `parallel` in flight. */
async function pool(n: number, parallel: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  while (!(await check())) {
    checkDeadline(what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pipeline(ctx: INestApplicationContext, pg: Client): Promise<Record<string, unknown>> {
  const decks = ctx.get(RateDecksService);
  const ledger = ctx.get(LedgerService);
  const deck = await decks.create({ name: 'bench', currency: 'USD' });
  await pg.query(
    `INSERT INTO rates (id, rate_deck_id, prefix, destination, rate_per_minute, connection_fee, first_increment, next_increment, effective_from)
     VALUES (gen_random_uuid(), $1, '1', 'USA', 0.010000, 0, 60, 60, '2020-01-01'), (gen_random_uuid(), $1, '44', 'UK', 0.012345, 0.01, 30, 6, '2020-01-01'),
            (gen_random_uuid(), $1, '81', 'Japan', 0.090000, 0, 1, 1, '2020-01-01')`,
    [deck.id],
  );
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const id = crypto.randomUUID();
    await pg.query(`INSERT INTO accounts (id, name, currency, rate_deck_id) VALUES ($1, $2, 'USD', $3)`, [id, `bench ${i}`, deck.id]);
    await ledger.topUp(id, { amount: '100000' });
    accounts.push(id);
  }
  const callees = ['+12025550123', '+442071234567', '+81312345678'];
  const cdrs = ctx.get(CdrsService);
  await ctx.get(BillingWorkers).start({ sweep: false, concurrency: WORKER_CONCURRENCY });
  const t0 = performance.now();
  await pool(CDRS, PRODUCERS, async (i) => {
    if (i % 5000 === 0) checkDeadline('recording CDRs');
    const seconds = i % 600;
    const endedAt = new Date();
    const answeredAt = new Date(endedAt.getTime() - seconds * 1000);
    await cdrs.record({
      callId: `bench-${i}`,
      direction: 'outbound',
      accountId: accounts[i % ACCOUNTS],
      caller: '+12025550100',
      callee: callees[i % 3],
      dialed: callees[i % 3],
      startedAt: new Date(answeredAt.getTime() - 2000),
      answeredAt,
      endedAt,
      durationSeconds: seconds,
      disposition: i % 10 === 9 ? 'busy' : 'answered',
      sipCode: i % 10 === 9 ? 486 : 200,
    });
  });
  const recordedSeconds = (performance.now() - t0) / 1000;
  await waitFor(async () => (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE status = 'pending'`)).rows[0].n === 0, 'rating');
  const seconds = (performance.now() - t0) / 1000;
  const check = (
    await pg.query(
      `SELECT (SELECT count(*)::int FROM cdrs WHERE status = 'rated') AS rated,
              (SELECT count(*)::int FROM cdrs WHERE status = 'failed') AS failed,
              (SELECT count(*)::int FROM ledger_entries WHERE kind = 'call') AS debits,
              (SELECT count(*)::int FROM cdrs WHERE cost > 0) AS costly,
              (SELECT sum(cost)::numeric(20,6)::text FROM cdrs) AS rated_total,
              (SELECT (-sum(amount))::numeric(20,6)::text FROM ledger_entries WHERE kind = 'call') AS debited,
              (SELECT count(*)::int FROM accounts a WHERE a.balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.account_id = a.id)) AS balance_mismatches`,
    )
  ).rows[0];
  return {
    cdrs: CDRS,
    producers: PRODUCERS,
    workerConcurrency: WORKER_CONCURRENCY,
    accounts: ACCOUNTS,
    recordSeconds: +recordedSeconds.toFixed(3),
    seconds: +seconds.toFixed(3),
    cdrsPerSecond: Math.round(CDRS / seconds),
    peakRssMiB: selfPeakRssMiB(),
    check,
  };
}

/** The same number of no-op jobs through the same Redis, same producer and worker concurrency. */
async function baseline(prefix: string): Promise<Record<string, unknown>> {
  const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('baseline', { connection, prefix, defaultJobOptions: { removeOnComplete: { count: 1000 } } });
  let done = 0;
  const worker = new Worker('baseline', async () => void done++, { connection: new IORedis(REDIS_URL, { maxRetriesPerRequest: null }), prefix, concurrency: WORKER_CONCURRENCY });
  await worker.waitUntilReady();
  const t0 = performance.now();
  await pool(CDRS, PRODUCERS, async (i) => {
    if (i % 5000 === 0) checkDeadline('baseline');
    await queue.add('noop', { i }, { jobId: `noop-${i}` });
  });
  await waitFor(async () => done >= CDRS, 'baseline');
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  await queue.close();
  connection.disconnect();
  return { what: 'raw BullMQ: one Queue.add per job (jobId set) from 64 producers, a no-op Worker with the same concurrency, same Redis', jobs: CDRS, seconds: +seconds.toFixed(3), jobsPerSecond: Math.round(CDRS / seconds) };
}

async function exportBench(url: string, pg: Client): Promise<Record<string, unknown>> {
  const account = crypto.randomUUID();
  await pg.query(`INSERT INTO accounts (id, name, currency) VALUES ($1, 'export', 'USD')`, [account]);
  const t0 = performance.now();
  await pg.query(
    `INSERT INTO cdrs (id, call_id, direction, account_id, caller, dialed, callee, started_at, answered_at, ended_at, duration_seconds,
       billable_seconds, disposition, sip_code, hangup_by, rate_prefix, rate_destination, rate_per_minute, cost, currency, status, rated_at)
     SELECT gen_random_uuid(), 'exp-' || g, 'outbound', $1, '+12025550100', '+4420' || (7000000 + g % 999999), '+4420' || (7000000 + g % 999999),
       ts, ts + interval '2 s', ts + interval '2 s' + (g % 600) * interval '1 s', g % 600, ((g % 600 + 59) / 60) * 60, 'answered', 200, 'caller',
       '44', 'UK', 0.012345, round(0.012345 * ((g % 600 + 59) / 60), 6), 'USD', 'rated', now()
     FROM generate_series(1, $2::int) g, LATERAL (SELECT timestamptz '2026-10-01' + g * interval '1 s') t(ts)`,
    [account, EXPORT_CDRS],
  );
  const setupSeconds = (performance.now() - t0) / 1000;
  checkDeadline('export setup');
  const gw = await startGateway(url, { ROLES: 'api', REDIS_PREFIX: `gwbench:billing-export:${process.pid}` });
  try {
    const rssBefore = gw.peakRssMiB();
    const t1 = performance.now();
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/cdrs/export?format=csv&accountId=${account}`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    if (!res.ok || !res.body) throw new Error(`export answered ${res.status}`);
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (const b of chunk) if (b === 10) lines++;
    }
    const seconds = (performance.now() - t1) / 1000;
    const peak = gw.peakRssMiB();
    // Baseline: PostgreSQL's own CSV of the same rows, through psql, in the same run.
    const t2 = performance.now();
    const copy = execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy (SELECT * FROM cdrs WHERE account_id = '${account}' ORDER BY id) TO '/dev/null' WITH (FORMAT csv, HEADER)`], { encoding: 'utf8' });
    const copySeconds = (performance.now() - t2) / 1000;
    return {
      cdrs: EXPORT_CDRS,
      setupSeconds: +setupSeconds.toFixed(3),
      gateway: { seconds: +seconds.toFixed(3), rowsPerSecond: Math.round(EXPORT_CDRS / seconds), bytes, dataLines: lines - 1, rssBeforeMiB: rssBefore, peakRssMiB: peak },
      baseline: { what: 'psql \\copy (SELECT * ... ORDER BY id) TO /dev/null CSV: PostgreSQL formatting the same rows itself', seconds: +copySeconds.toFixed(3), output: copy.trim() },
      ratio: { gatewayOverBaselineTime: +(seconds / copySeconds).toFixed(2) },
    };
  } finally {
    await gw.stop();
  }
}

async function deletePrefix(prefix: string): Promise<void> {
  const redis = new IORedis(REDIS_URL);
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
}

async function main(): Promise<void> {
  const db = await freshDatabase('billing');
  const prefix = `gwbench:billing:${process.pid}`;
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  let ctx: INestApplicationContext | undefined;
  try {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      SECRETS_KEY: '00'.repeat(32),
      LOG_LEVEL: 'warn',
      ROLES: 'api',
      DB_POOL_SIZE: '30',
    });
    ctx = await NestFactory.createApplicationContext(BenchModule.register(config), { logger: ['error', 'warn'] });
    await ctx.init();
    console.log(`billing pipeline: ${CDRS} CDRs…`);
    const gateway = await pipeline(ctx, pg);
    await ctx.close();
    ctx = undefined;
    console.log(JSON.stringify(gateway));
    console.log('raw BullMQ baseline…');
    const base = await baseline(`${prefix}:bull`);
    console.log(JSON.stringify(base));
    console.log(`CSV export of ${EXPORT_CDRS} CDRs…`);
    const exp = await exportBench(db.url, pg);
    console.log(JSON.stringify(exp));
    const path = writeResult('billing', {
      command: 'npm run bench:billing',
      notes: [
        'pipeline: CdrsService.record (INSERT pending + Queue.add, jobId = CDR id) from 64 concurrent producers in this process, the rating Worker (concurrency 16) in the same process; seconds = first record to last CDR rated (each rating: lock CDR, rate, UPDATE, ledger append with balance update, one transaction)',
        'peakRssMiB of the pipeline: this process (producers + worker), measured before the baseline ran',
        'the pending-CDR sweep was off during the pipeline (it only matters when jobs are lost)',
      ],
      pipeline: gateway,
      baseline: base,
      ratio: { baselineJobsPerSecondOverPipelineCdrsPerSecond: +((base.jobsPerSecond as number) / (gateway.cdrsPerSecond as number)).toFixed(2) },
      export: exp,
    });
    console.log(`wrote ${path}`);
    console.log(readFileSync(path, 'utf8'));
  } finally {
    await ctx?.close().catch(() => undefined);
    await pg.end();
    await db.drop();
    await deletePrefix(prefix);
    await deletePrefix(`gwbench:billing-export:${process.pid}`);
  }
}

void main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e);
    process.exit(1);
  },
);
