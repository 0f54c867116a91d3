/**
 * `npm run bench:tollfree`: 1,000,000 toll-free numbers with rules in a fresh database, then
 * translations per second and p50/p99 latency of
 *  - TollFreeService.translateNumber in process, cache warm and cache cold (one unique-index read each),
 *  - the HTTP dry run POST /v1/tollfree/{e164}/translate of a real gateway process on 127.0.0.1,
 * each against a baseline measured in the same run: the pure `translate` alone, a raw PostgreSQL
 * unique-index select of the same rows (prepared statement, one connection), and GET /health/live
 * over the same HTTP client. Every phase is bounded in count and in time; the database is dropped.
 */
import { Agent, request } from 'node:http';
import os from 'node:os';
import { Client } from 'pg';
import { v7 } from 'uuid';
import { createApp } from '../src/app';
import { loadConfig } from '../src/platform/config';
import { TollFreeService } from '../src/tollfree/tollfree.service';
import { compileEntry, TollFreeEntry, translateCompiled } from '../src/tollfree/translate';
import { ADMIN_KEY, freshDatabase, REDIS_URL, startGateway, writeResult } from './harness';

const NUMBERS = Number(process.env.BENCH_TOLLFREE_NUMBERS ?? 1_000_000);
const LOAD_CHUNK = 100_000;
const PURE_OPS = 1_000_000;
const PG_OPS = 20_000;
const COLD_OPS = 20_000;
const WARM_SET = 100_000;
const WARM_OPS = 500_000;
const HTTP_SET = 5_000;
const HTTP_OPS = 20_000;
const HTTP_SEQUENTIAL_OPS = 5_000;
const HTTP_CONCURRENCY = 16;
/** No phase runs longer than this, whatever its count. */
const PHASE_SECONDS = 25;

const e164Of = (i: number) => `+1800${2_000_000 + i}`;

/** Four rules like an operator's: caller area on weekend evenings, a 3-way split, blocks, a holiday. */
const RULES_TEMPLATE = JSON.stringify([
  {
    id: '{ID}1',
    name: 'weekend evenings from NYC',
    when: { callerPrefixes: ['+1212', '+1646', '+1718'], days: ['sat', 'sun'], timeRanges: [{ from: '18:00', to: '09:00' }] },
    action: { route: '+1212{T}' },
  },
  { id: '{ID}2', name: 'no payphones or withheld', when: { callerTypes: ['payphone', 'unknown'] }, action: { block: 'not accepted', sipCode: 403 } },
  { id: '{ID}3', name: 'holidays', when: { dateRanges: [{ from: '2026-12-24', to: '2026-12-26' }] }, action: { route: '+1312{T}' } },
  {
    id: '{ID}4',
    name: 'split',
    when: { callerPrefixes: ['+1'] },
    action: { split: [{ target: '+1212{T}', percent: 50 }, { target: '+1312{T}', percent: 30 }, { target: '+1646{T}', percent: 20 }] },
  },
]);

interface Stats {
  ops: number;
  seconds: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
}

function stats(latenciesNs: number[], seconds: number): Stats {
  const sorted = Float64Array.from(latenciesNs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1000;
  return { ops: sorted.length, seconds: +seconds.toFixed(3), perSecond: Math.round(sorted.length / seconds), p50Us: +at(0.5).toFixed(1), p99Us: +at(0.99).toFixed(1) };
}

/** Runs `op` sequentially up to `count` times (or PHASE_SECONDS), timing each. */
async function timed(count: number, op: (i: number) => Promise<unknown> | unknown): Promise<Stats> {
  const lat: number[] = [];
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(PHASE_SECONDS) * 1_000_000_000n;
  for (let i = 0; i < count; i++) {
    const s = process.hrtime.bigint();
    await op(i);
    const e = process.hrtime.bigint();
    lat.push(Number(e - s));
    if ((i & 1023) === 0 && e > deadline) break;
  }
  return stats(lat, Number(process.hrtime.bigint() - t0) / 1e9);
}

/** `count` requests with `concurrency` in flight, timing each. */
async function timedConcurrent(count: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Stats> {
  const lat: number[] = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(PHASE_SECONDS) * 1_000_000_000n;
  const worker = async () => {
    while (next < count && process.hrtime.bigint() < deadline) {
      const i = next++;
      const s = process.hrtime.bigint();
      await op(i);
      lat.push(Number(process.hrtime.bigint() - s));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return stats(lat, Number(process.hrtime.bigint() - t0) / 1e9);
}

/** A deterministic pseudo-random sequence, so runs are comparable. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const callers = ['+12125550123', '+16465550188', '+13125550100', '+81312345678', null, '+447911123456'];

async function load(url: string): Promise<{ accountId: string; seconds: number; tableMiB: number }> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const accountId = v7();
    await c.query(`INSERT INTO accounts (id, name, currency) VALUES ($1, 'bench', 'USD')`, [accountId]);
    const t0 = process.hrtime.bigint();
    for (let from = 0; from < NUMBERS; from += LOAD_CHUNK) {
      const to = Math.min(NUMBERS, from + LOAD_CHUNK) - 1;
      // Rows made inside PostgreSQL: the bench measures lookups, not the client's upload speed.
      await c.query(
        `INSERT INTO tollfree (id, e164, account_id, timezone, default_target, rules, version)
         SELECT gen_random_uuid(), '+1800' || (2000000 + i)::text, $1,
                (ARRAY['America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Asia/Tokyo'])[1 + i % 4],
                '+1212' || (2000000 + i % 7000000)::text,
                replace(replace($2, '{T}', (2000000 + i % 7000000)::text), '{ID}', lpad(to_hex(i), 8, '0') || '-0000-7000-8000-00000000000')::jsonb,
                1
         FROM generate_series($3::int, $4::int) AS i`,
        [accountId, RULES_TEMPLATE, from, to],
      );
    }
    await c.query('ANALYZE tollfree');
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const [{ bytes }] = (await c.query(`SELECT pg_total_relation_size('tollfree') AS bytes`)).rows as { bytes: string }[];
    return { accountId, seconds, tableMiB: Math.round(Number(bytes) / 2 ** 20) };
  } finally {
    await c.end();
  }
}

function httpCall(agent: Agent, port: number, method: string, path: string, body?: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method,
        headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? ok(200) : fail(new Error(`${method} ${path} answered ${res.statusCode}`))));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

export async function run(): Promise<void> {
  const started = Date.now();
  const loadBefore = os.loadavg();
  const db = await freshDatabase('tollfree');
  console.log(`loading ${NUMBERS} toll-free numbers with rules into ${db.url}`);
  try {
    const loaded = await load(db.url);
    console.log(`loaded in ${loaded.seconds.toFixed(1)} s (${loaded.tableMiB} MiB)`);
    const random = rng(42);
    const pick = (n: number) => Math.floor(random() * n);
    const at = (i: number) => new Date(Date.UTC(2026, 10, 16) + ((i * 7919) % (14 * 86400)) * 1000); // two weeks, minutes apart

    // Baseline 1: the pure decision on entries already compiled (what the warm cache holds).
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const sample = (
      await c.query(`SELECT e164, account_id, timezone, default_target, rules FROM tollfree WHERE e164 = ANY($1::text[])`, [
        Array.from({ length: 10_000 }, () => e164Of(pick(NUMBERS))),
      ])
    ).rows.map((r: { e164: string; account_id: string; timezone: string; default_target: string; rules: TollFreeEntry['rules'] }) =>
      compileEntry({ e164: r.e164, accountId: r.account_id, timezone: r.timezone, defaultTarget: r.default_target, rules: r.rules }),
    );
    const pure = await timed(PURE_OPS, (i) => translateCompiled(sample[i % sample.length], { caller: callers[i % callers.length], at: at(i), callId: `c${i}` }));
    console.log('pure translate', pure);

    // Baseline 2: the raw unique-index read the cold path does, without the service around it.
    const pg = await timed(PG_OPS, (i) =>
      c.query({
        name: 'tf',
        text: `SELECT id, e164, account_id, timezone, default_target, rules, version, created_at, updated_at FROM tollfree WHERE e164 = $1`,
        values: [e164Of(pick(NUMBERS))],
      }).then((r) => {
        if (r.rowCount !== 1) throw new Error(`lookup ${i} found ${r.rowCount} rows`);
      }),
    );
    console.log('raw PostgreSQL select', pg);
    await c.end();

    // The service in this process (no HTTP), sharing the database and Redis like a SIP node would.
    const app = await createApp(
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: db.url,
        REDIS_URL,
        REDIS_PREFIX: `gwbench:${process.pid}`,
        ADMIN_API_KEY: ADMIN_KEY,
        SECRETS_KEY: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
        LOG_LEVEL: 'silent',
        DB_MIGRATE_ON_START: 'false',
        SIP_LISTEN: '127.0.0.1:0',
        ROLES: 'api',
      }),
    );
    await app.init();
    const service = app.get(TollFreeService);
    const expectRouting = (r: unknown, e164: string) => {
      if (!r) throw new Error(`${e164} was not found`);
    };
    let cold: Stats;
    let warm: Stats;
    let coldConcurrent: Stats;
    try {
      service.cache.clear();
      cold = await timed(COLD_OPS, async (i) => {
        const e164 = e164Of(pick(NUMBERS));
        service.cache.drop(e164); // every lookup a miss, even if the random pick repeats
        expectRouting(await service.translateNumber(e164, { caller: callers[i % callers.length], at: at(i), callId: `c${i}` }), e164);
      });
      console.log('service, cold', cold);
      service.cache.clear();
      coldConcurrent = await timedConcurrent(COLD_OPS, 16, async (i) => {
        const e164 = e164Of(pick(NUMBERS));
        service.cache.drop(e164);
        expectRouting(await service.translateNumber(e164, { caller: callers[i % callers.length], at: at(i), callId: `c${i}` }), e164);
      });
      console.log('service, cold, 16 in flight', coldConcurrent);

      service.cache.clear();
      const warmSet = Array.from({ length: WARM_SET }, () => e164Of(pick(NUMBERS)));
      for (let i = 0; i < warmSet.length; i += 64) {
        await Promise.all(warmSet.slice(i, i + 64).map((e) => service.translateNumber(e, { caller: null, at: at(i), callId: 'w' })));
      }
      const missesBefore = service.cache.misses;
      warm = await timed(WARM_OPS, async (i) => {
        const e164 = warmSet[pick(WARM_SET)];
        expectRouting(await service.translateNumber(e164, { caller: callers[i % callers.length], at: at(i), callId: `c${i}` }), e164);
      });
      if (service.cache.misses !== missesBefore) throw new Error(`the warm phase missed the cache ${service.cache.misses - missesBefore} times`);
      console.log('service, warm', warm);
    } finally {
      await app.close();
    }

    // HTTP: a real gateway process, keep-alive connections, bounded request count.
    const gw = await startGateway(db.url, { ROLES: 'api' });
    const agent = new Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
    try {
      const httpSet = Array.from({ length: HTTP_SET }, () => e164Of(pick(NUMBERS)));
      const dryRun = (i: number) =>
        httpCall(agent, gw.httpPort, 'POST', `/v1/tollfree/${encodeURIComponent(httpSet[i % HTTP_SET])}/translate`, JSON.stringify({ caller: callers[i % callers.length], callId: `h${i}` }));
      await timedConcurrent(HTTP_SET, HTTP_CONCURRENCY, dryRun); // warms the gateway's cache and JIT
      const health = await timedConcurrent(HTTP_OPS, HTTP_CONCURRENCY, () => httpCall(agent, gw.httpPort, 'GET', '/health/live'));
      console.log('HTTP GET /health/live', health);
      const http = await timedConcurrent(HTTP_OPS, HTTP_CONCURRENCY, dryRun);
      console.log('HTTP dry run, warm', http);
      const httpSequential = await timed(HTTP_SEQUENTIAL_OPS, dryRun);
      console.log('HTTP dry run, warm, one at a time', httpSequential);
      const healthSequential = await timed(HTTP_SEQUENTIAL_OPS, () => httpCall(agent, gw.httpPort, 'GET', '/health/live'));
      const result = {
        command: 'npm run bench:tollfree',
        numbers: NUMBERS,
        rulesPerNumber: 4,
        load: { seconds: +loaded.seconds.toFixed(1), tableMiB: loaded.tableMiB, how: 'INSERT … SELECT generate_series in PostgreSQL, 100,000 rows a statement (no version rows)' },
        service: {
          what: 'TollFreeService.translateNumber in process, one call at a time unless said',
          warm: { ...warm, workingSet: WARM_SET },
          cold: { ...cold, note: 'each lookup drops the number first: one unique-index read, JSON parse and compile, then translate' },
          cold16InFlight: coldConcurrent,
        },
        http: {
          what: `POST /v1/tollfree/{e164}/translate to a real gateway process over keep-alive HTTP, ${HTTP_CONCURRENCY} in flight, ${HTTP_SET} numbers already cached`,
          dryRun: http,
          dryRunOneAtATime: httpSequential,
        },
        baselines: {
          pureTranslate: { ...pure, what: 'translateCompiled on 10,000 compiled entries (no cache, no I/O)' },
          rawPostgresSelect: { ...pg, what: 'SELECT of the same columns by the unique index, prepared, one connection, one at a time' },
          httpHealthLive: { ...health, what: `GET /health/live through the same client, ${HTTP_CONCURRENCY} in flight` },
          httpHealthLiveOneAtATime: healthSequential,
        },
        ratios: {
          warmServiceOverPureP50: +(warm.p50Us / pure.p50Us).toFixed(2),
          coldServiceOverRawSelectP50: +(cold.p50Us / pg.p50Us).toFixed(2),
          httpDryRunOverHealthLiveThroughput: +(http.perSecond / health.perSecond).toFixed(2),
          httpDryRunOverHealthLiveP50OneAtATime: +(httpSequential.p50Us / healthSequential.p50Us).toFixed(2),
        },
        gatewayPeakRssMiB: gw.peakRssMiB(),
        machineLoadAverage: { before: loadBefore.map((l) => +l.toFixed(2)), after: os.loadavg().map((l) => +l.toFixed(2)), note: 'other work on this shared machine competes for its cores; compare ratios, not absolute figures, across runs' },
        totalSeconds: Math.round((Date.now() - started) / 1000),
      };
      console.log(JSON.stringify(result, null, 2));
      console.log(`written to ${writeResult('tollfree', result)}`);
    } finally {
      agent.destroy();
      await gw.stop();
    }
  } finally {
    await db.drop();
  }
}

if (require.main === module) {
  run().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
