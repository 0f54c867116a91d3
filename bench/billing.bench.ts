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
import { BillingWorkers, bullPrefix, RATING_CONCURRENCY } from '../src/billing/billing-queues';
import { CdrsService } from '../src/billing/cdrs.service';
import { CreditControlService } from '../src/billing/credit-control.service';
import { LedgerService } from '../src/billing/ledger.service';
import { RateDecksService } from '../src/billing/rate-decks.service';
import { AppConfig, loadConfig } from '../src/platform/config';
import { PlatformModule } from '../src/platform/platform.module';
import { ADMIN_KEY, freshDatabase, machine, REDIS_URL, startGateway, writeResult } from './harness';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { resultsDir } from './results-dir';

const CDRS = Number(process.env.BENCH_CDRS ?? 100_000);
const EXPORT_CDRS = Number(process.env.BENCH_EXPORT_CDRS ?? 1_000_000);
const PRODUCERS = 64;
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? RATING_CONCURRENCY);
const ACCOUNTS = 100;
const DEADLINE = Date.now() + 14 * 60_000;
/** Which parts run: `pipeline`, `export`, `hot` (comma-separated); all by default. */
const PARTS = new Set((process.env.BENCH_BILLING_PARTS ?? 'pipeline,export,hot').split(','));
/** Calls per hot-account phase, and how many are placed at once. */
const HOT_CALLS = Number(process.env.BENCH_HOT_CALLS ?? 4000);
const HOT_PARALLEL = Number(process.env.BENCH_HOT_PARALLEL ?? 64);
/** `before` or `after`: which side of the hot-account comparison this run records (the other is kept). */
const HOT_LABEL = process.env.BENCH_HOT_LABEL ?? 'after';

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

/** Counts PostgreSQL queries (each one round trip on its connection) and Redis commands, process-wide. */
const trips = { pg: 0, redis: 0 };
function countRoundTrips(): void {
  const pgProto = Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const pgQuery = pgProto.query;
  pgProto.query = function (this: unknown, ...a: unknown[]) {
    trips.pg++;
    return pgQuery.apply(this, a);
  };
  const redisProto = IORedis.prototype as unknown as { sendCommand: (...a: unknown[]) => unknown };
  const send = redisProto.sendCommand;
  redisProto.sendCommand = function (this: unknown, ...a: unknown[]) {
    trips.redis++;
    return send.apply(this, a);
  };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * The hot-account comparison: the same calls (authorize, then record the answered call with its
 * reservation; the in-process worker rates and settles) placed by one account, then spread over
 * 100 accounts, in the same run. Then the round trips per call, counted sequentially, and the
 * exactness check: every balance equals its top-ups minus its rated CDRs, to the micro-unit.
 */
async function hotAccount(ctx: INestApplicationContext, pg: Client): Promise<Record<string, unknown>> {
  const decks = ctx.get(RateDecksService);
  const ledger = ctx.get(LedgerService);
  const credit = ctx.get(CreditControlService);
  const cdrs = ctx.get(CdrsService);
  const deck = await decks.create({ name: 'hot', currency: 'USD' });
  // Per-second billing at 0.6/min: every second costs exactly 0.01.
  await pg.query(
    `INSERT INTO rates (id, rate_deck_id, prefix, destination, rate_per_minute, connection_fee, first_increment, next_increment, effective_from)
     VALUES (gen_random_uuid(), $1, '1', 'USA', 0.600000, 0.001000, 1, 1, '2020-01-01')`,
    [deck.id],
  );
  const newAccount = async (name: string) => {
    const id = crypto.randomUUID();
    await pg.query(`INSERT INTO accounts (id, name, currency, rate_deck_id, max_concurrent_calls) VALUES ($1, $2, 'USD', $3, 1000000)`, [id, name, deck.id]);
    await ledger.topUp(id, { amount: '1000000' });
    return id;
  };
  const hot = await newAccount('hot');
  const spread: string[] = [];
  for (let i = 0; i < 100; i++) spread.push(await newAccount(`spread ${i}`));
  const counted = await newAccount('counted');
  const dest = '+12025550123';
  const call = (accountId: string, i: number, reservation: Awaited<ReturnType<CreditControlService['authorize']>>) => {
    const seconds = 1 + (i % 59);
    const endedAt = new Date();
    const answeredAt = new Date(endedAt.getTime() - seconds * 1000);
    return cdrs.record({
      callId: `hot-${i}`,
      direction: 'outbound',
      accountId,
      caller: '+12025550100',
      callee: dest,
      dialed: dest,
      startedAt: new Date(answeredAt.getTime() - 1000),
      answeredAt,
      endedAt,
      durationSeconds: seconds,
      disposition: 'answered',
      sipCode: 200,
      reservation: reservation.allowed ? reservation : null,
    });
  };

  // Round trips per call, one call at a time, the worker not started yet.
  const perCall: Record<string, { pg: number; redis: number }> = {};
  const count = async (what: string, n: number, task: (i: number) => Promise<unknown>) => {
    const before = { ...trips };
    for (let i = 0; i < n; i++) await task(i);
    perCall[what] = { pg: +((trips.pg - before.pg) / n).toFixed(2), redis: +((trips.redis - before.redis) / n).toFixed(2) };
  };
  const granted: Awaited<ReturnType<CreditControlService['authorize']>>[] = [];
  const COUNTED = 200;
  const warm = await credit.authorize(counted, dest, { maxSeconds: 600 });
  if (warm.allowed) await credit.release(warm); // first-use work out of the count
  await count('authorize', COUNTED, async () => granted.push(await credit.authorize(counted, dest, { maxSeconds: 600 })));
  await count('record', COUNTED, (i) => call(counted, i, granted[i]));
  const workers = ctx.get(BillingWorkers);
  const beforeRating = { ...trips };
  await workers.start({ sweep: false, concurrency: WORKER_CONCURRENCY });
  let polls = 0;
  const pending = async () => {
    polls++;
    return (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE status = 'pending'`)).rows[0].n as number;
  };
  await waitFor(async () => (await pending()) === 0, 'rating the counted calls');
  await new Promise((r) => setTimeout(r, 500)); // settlements run after each commit
  // The polling queries of this wait are not the worker's: take them out.
  perCall.rating = { pg: +((trips.pg - beforeRating.pg - polls) / COUNTED).toFixed(2), redis: +((trips.redis - beforeRating.redis) / COUNTED).toFixed(2) };

  const phase = async (accounts: string[]) => {
    const latencies: number[] = [];
    let refused = 0;
    const t0 = performance.now();
    await pool(HOT_CALLS, HOT_PARALLEL, async (i) => {
      if (i % 500 === 0) checkDeadline('hot-account calls');
      const accountId = accounts[i % accounts.length];
      const s = performance.now();
      const auth = await credit.authorize(accountId, dest, { maxSeconds: 600 });
      latencies.push(performance.now() - s);
      if (!auth.allowed) refused++;
      await call(accountId, i, auth);
    });
    const placedSeconds = (performance.now() - t0) / 1000;
    await waitFor(async () => (await pending()) === 0, 'rating the hot-account calls');
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      accounts: accounts.length,
      calls: HOT_CALLS,
      parallel: HOT_PARALLEL,
      refused,
      authorizeAndRecordPerSecond: Math.round(HOT_CALLS / placedSeconds),
      untilAllRatedPerSecond: Math.round(HOT_CALLS / seconds),
      authorizeMs: { p50: +pct(latencies, 50).toFixed(2), p99: +pct(latencies, 99).toFixed(2), max: +latencies[latencies.length - 1].toFixed(2) },
    };
  };
  // Credit control alone (authorize, then release: no CDR), 100 accounts first this time, so
  // neither side always runs first; each side gets a warm-up of its own first.
  const authorizeOnly = async (accounts: string[], n: number) => {
    const latencies: number[] = [];
    const t0 = performance.now();
    await pool(n, HOT_PARALLEL, async (i) => {
      const s = performance.now();
      const auth = await credit.authorize(accounts[i % accounts.length], dest, { maxSeconds: 600 });
      latencies.push(performance.now() - s);
      if (auth.allowed) await credit.release(auth);
    });
    latencies.sort((a, b) => a - b);
    return { accounts: accounts.length, calls: n, perSecond: Math.round(n / ((performance.now() - t0) / 1000)), authorizeMs: { p50: +pct(latencies, 50).toFixed(2), p99: +pct(latencies, 99).toFixed(2) } };
  };
  await authorizeOnly(spread, 500);
  const authorizeOnlyHundred = await authorizeOnly(spread, HOT_CALLS);
  await authorizeOnly([hot], 500);
  const authorizeOnlyOne = await authorizeOnly([hot], HOT_CALLS);
  console.log(JSON.stringify({ authorizeOnlyOne, authorizeOnlyHundred }));

  // In the order one, hundred, hundred, one (so neither side is always first or last), each side
  // reported as the mean of its two rounds, with both rounds kept.
  // A warm-up round first (JIT, PostgreSQL caches, BullMQ): the first round of a run is the slowest whatever its side.
  await phase(spread);
  const rounds = { one: [] as Awaited<ReturnType<typeof phase>>[], hundred: [] as Awaited<ReturnType<typeof phase>>[] };
  for (const side of ['one', 'hundred', 'hundred', 'one'] as const) {
    rounds[side].push(await phase(side === 'one' ? [hot] : spread));
    console.log(JSON.stringify({ [side]: rounds[side][rounds[side].length - 1] }));
  }
  const mean = (rs: Awaited<ReturnType<typeof phase>>[]) => ({
    ...rs[0],
    calls: rs[0].calls * rs.length,
    refused: rs.reduce((t, r) => t + r.refused, 0),
    authorizeAndRecordPerSecond: Math.round(rs.reduce((t, r) => t + r.authorizeAndRecordPerSecond, 0) / rs.length),
    untilAllRatedPerSecond: Math.round(rs.reduce((t, r) => t + r.untilAllRatedPerSecond, 0) / rs.length),
    authorizeMs: { p50: Math.max(...rs.map((r) => r.authorizeMs.p50)), p99: Math.max(...rs.map((r) => r.authorizeMs.p99)), max: Math.max(...rs.map((r) => r.authorizeMs.max)) },
    rounds: rs,
  });
  const oneAccount = mean(rounds.one);
  const hundredAccounts = mean(rounds.hundred);

  await new Promise((r) => setTimeout(r, 1000)); // the last settlements
  const all = [hot, ...spread, counted];
  const exact = (
    await pg.query(
      `SELECT count(*)::int AS accounts,
              count(*) FILTER (WHERE a.balance <> t.topups - t.rated)::int AS mismatches,
              sum(t.rated)::numeric(20,6)::text AS rated_total,
              sum(t.topups - a.balance)::numeric(20,6)::text AS debited_total
       FROM accounts a CROSS JOIN LATERAL (
         SELECT (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.account_id = a.id AND l.kind = 'topup') AS topups,
                (SELECT coalesce(sum(cost), 0) FROM cdrs c WHERE c.account_id = a.id AND c.status = 'rated') AS rated) t
       WHERE a.id = ANY($1::uuid[])`,
      [all],
    )
  ).rows[0];
  const openHolds = (await Promise.all(all.map((id) => credit.activeCalls(id)))).reduce((a, b) => a + b, 0);
  console.log(`balance check: ${exact.mismatches} of ${exact.accounts} accounts differ from top-ups − rated CDRs (rated ${exact.rated_total}, debited ${exact.debited_total}); live holds left: ${openHolds}`);
  return {
    authorizeOnly: { oneAccount: authorizeOnlyOne, hundredAccounts: authorizeOnlyHundred, ratioOneOverHundred: +(authorizeOnlyOne.perSecond / authorizeOnlyHundred.perSecond).toFixed(2) },
    oneAccount,
    hundredAccounts,
    ratio: {
      oneOverHundredAuthorizeAndRecord: +(oneAccount.authorizeAndRecordPerSecond / hundredAccounts.authorizeAndRecordPerSecond).toFixed(2),
      oneOverHundredUntilRated: +(oneAccount.untilAllRatedPerSecond / hundredAccounts.untilAllRatedPerSecond).toFixed(2),
    },
    roundTripsPerCall: perCall,
    exactness: { ...exact, liveHoldsLeft: openHolds },
  };
}

/** Writes bench/results/billing-hot-account.{json,md}, keeping the other label's figures. */
function writeHotResult(run: Record<string, unknown>): void {
  const jsonPath = resolve(resultsDir(), 'billing-hot-account.json');
  let prior: Record<string, unknown> = {};
  try {
    prior = JSON.parse(readFileSync(jsonPath, 'utf8')) as Record<string, unknown>;
  } catch {
    // first run
  }
  const out = { ...prior, [HOT_LABEL]: run };
  writeFileSync(jsonPath, JSON.stringify(out, null, 2) + '\n');
  const row = (label: string) => {
    const r = out[label] as { date: string; commit: string; loadAverage: number[]; result: Record<string, any> } | undefined;
    if (!r) return `| ${label} | (not run) | | | | | | |`;
    const x = r.result;
    return `| ${label} (${r.commit}, ${r.date}, load ${r.loadAverage.join(' ')}) | ${x.oneAccount.authorizeAndRecordPerSecond} | ${x.hundredAccounts.authorizeAndRecordPerSecond} | ${x.ratio.oneOverHundredAuthorizeAndRecord} | ${x.oneAccount.authorizeMs.p50} / ${x.oneAccount.authorizeMs.p99} | ${x.hundredAccounts.authorizeMs.p50} / ${x.hundredAccounts.authorizeMs.p99} | ${x.oneAccount.untilAllRatedPerSecond} / ${x.hundredAccounts.untilAllRatedPerSecond} | ${x.exactness.mismatches} |`;
  };
  const authRow = (label: string) => {
    const r = out[label] as { result: Record<string, any> } | undefined;
    const x = r?.result.authorizeOnly;
    if (!x) return `| ${label} | (not run) | | | | |`;
    return `| ${label} | ${x.oneAccount.perSecond} | ${x.hundredAccounts.perSecond} | ${x.ratioOneOverHundred} | ${x.oneAccount.authorizeMs.p50} / ${x.oneAccount.authorizeMs.p99} | ${x.hundredAccounts.authorizeMs.p50} / ${x.hundredAccounts.authorizeMs.p99} |`;
  };
  const trip = (label: string) => {
    const r = out[label] as { result: Record<string, any> } | undefined;
    if (!r) return `| ${label} | | | |`;
    const t = r.result.roundTripsPerCall;
    return `| ${label} | ${t.authorize.pg} / ${t.authorize.redis} | ${t.record.pg} / ${t.record.redis} | ${t.rating.pg} / ${t.rating.redis} |`;
  };
  const md = [
    '# bench:billing — hot account',
    '',
    `Command: \`BENCH_BILLING_PARTS=hot BENCH_HOT_LABEL=<before|after> npm run bench:billing\`. Machine: ${JSON.stringify(machine())}.`,
    `${HOT_CALLS} calls per round, ${HOT_PARALLEL} at once, each: \`authorize\` then \`record\` of the answered call with its reservation; the rating worker runs in the same process and settles each call. One account places all calls, or the same calls are spread over 100 accounts: after one unmeasured warm-up round on the 100 accounts, four rounds in the order 1, 100, 100, 1 in the same run; calls/s is the mean of a side's two rounds, latency the worse round's (all rounds in the JSON).`,
    '',
    '| run | 1 account: calls/s | 100 accounts: calls/s | ratio 1/100 | 1 account authorize ms p50 / p99 | 100 accounts authorize ms p50 / p99 | until all rated, calls/s (1 / 100) | balance mismatches |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('before'),
    row('after'),
    '',
    'Credit control alone (authorize then release, no CDR; 100 accounts measured first, each side after its own 500-call warm-up):',
    '',
    '| run | 1 account: authorizations/s | 100 accounts: authorizations/s | ratio 1/100 | p50 / p99 ms (1) | p50 / p99 ms (100) |',
    '| --- | --- | --- | --- | --- | --- |',
    authRow('before'),
    authRow('after'),
    '',
    'Round trips per call (PostgreSQL queries / Redis commands, counted in-process one call at a time; rating counted over 200 calls rated in batches, BullMQ\'s own commands included):',
    '',
    '| run | authorize | record | rating + settlement |',
    '| --- | --- | --- | --- |',
    trip('before'),
    trip('after'),
    '',
    '`before`: the commit named in its row (credit control under the account row lock), exported with `git archive` and run with this same bench file, in the same session as `after`.',
    '',
  ].join('\n');
  writeFileSync(resolve(resultsDir(), 'billing-hot-account.md'), md);
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
    if (PARTS.has('hot')) {
      countRoundTrips();
      ctx = await NestFactory.createApplicationContext(BenchModule.register(config), { logger: ['error', 'warn'] });
      await ctx.init();
      console.log(`hot account: ${HOT_CALLS} calls on 1 account, then on 100…`);
      const load = os.loadavg().map((x) => +x.toFixed(2));
      const result = await hotAccount(ctx, pg);
      await ctx.close();
      ctx = undefined;
      // BENCH_COMMIT: for a run from an exported tree of another commit (the baseline), which has no .git.
      const commit = process.env.BENCH_COMMIT ?? execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      writeHotResult({ date: new Date().toISOString(), machine: machine(), command: `BENCH_BILLING_PARTS=${[...PARTS].join(',')} BENCH_HOT_LABEL=${HOT_LABEL} npm run bench:billing`, commit, loadAverage: load, result });
      console.log(JSON.stringify(result, null, 2));
      if (!PARTS.has('pipeline') && !PARTS.has('export')) return;
      await pg.query('TRUNCATE cdrs, ledger_entries, topups, accounts, rates, rate_decks CASCADE');
    }
    ctx = await NestFactory.createApplicationContext(BenchModule.register(config), { logger: ['error', 'warn'] });
    await ctx.init();
    console.log(`billing pipeline: ${CDRS} CDRs…`);
    const gateway = await pipeline(ctx, pg);
    await ctx.close();
    ctx = undefined;
    console.log(JSON.stringify(gateway));
    console.log('raw BullMQ baseline…');
    const base = await baseline(bullPrefix({ redisPrefix: prefix }));
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
