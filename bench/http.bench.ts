/**
 * `npm run bench:http`: HTTP requests per second of the real gateway (`node dist/src/main.js`),
 * over keep-alive connections from 127.0.0.1, for two requests:
 *  - `GET /health/live`: no API key, no database; what the HTTP stack alone costs;
 *  - `GET /v1/accounts/:id` with a stored operator API key: the cheapest authenticated read a
 *    billing system or a portal makes all day. It goes through everything an authenticated request
 *    does (the API-key guard with a key from the api_keys table, not the configured admin key that
 *    needs no lookup; the role check; the validation pipe on the path parameter; one primary-key
 *    read; the JSON view; the request log line), and nothing else: no page, no sort, no join.
 * Measured per case: requests/s, latency p50/p99 (wrk's), non-2xx answers (must be 0), and the
 * gateway process's CPU time (user + system, /proc) per request.
 *
 * The baseline is measured in the same run: the tree of BENCH_HTTP_BASELINE_REF (default `main`)
 * is extracted with `git archive` into a temporary directory, built there with this tree's
 * node_modules, and started exactly like this tree's build (`main` served on Express). This tree is
 * the `fastify` target (dist/src/main.js, on @nestjs/platform-fastify since the gateway switched).
 * Rounds alternate the targets, so a burst of other work on the shared machine hits all of them alike.
 *
 * The load generator is Debian's wrk (C, one thread): a Node client on the same two cores would
 * take about as much CPU as the server it measures. wrk's -d bounds each case; the gateway is
 * stopped at the end and every child is killed by id if the bench dies.
 *
 * Environment: BENCH_HTTP_SECONDS (10 per case), BENCH_HTTP_CONNECTIONS (10), BENCH_HTTP_ROUNDS (3),
 * BENCH_HTTP_TARGETS (baseline,fastify), BENCH_HTTP_CASES (health-live,account-get), BENCH_HTTP_BASELINE_REF (main), BENCH_HTTP_BASELINE_MODULES (the
 * node_modules the baseline is built and run with; this tree's by default, which has no Express: give a
 * checkout of main's, e.g. /work/main/node_modules),
 * BENCH_HTTP_NODE_ARGS (for example "--cpu-prof --cpu-prof-dir=/tmp/prof": profiles each gateway).
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import IORedis from 'ioredis';
import { deleteKeysWithPrefix } from '../src/platform/redis';
import { ADMIN_KEY, REDIS_URL, freePort, freshDatabase, machine, writeResult } from './harness';
import { repoRoot, resultsDir } from './results-dir';

type Target = 'baseline' | 'fastify';
type CaseName = 'health-live' | 'account-get';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 10);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
const TARGETS = (process.env.BENCH_HTTP_TARGETS ?? 'baseline,fastify').split(',').map((t) => t.trim()) as Target[];
const BASELINE_REF = process.env.BENCH_HTTP_BASELINE_REF ?? 'main';
const BASELINE_MODULES = process.env.BENCH_HTTP_BASELINE_MODULES;
const NODE_ARGS = (process.env.BENCH_HTTP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const CASES = (process.env.BENCH_HTTP_CASES ?? 'health-live,account-get').split(',').map((c) => c.trim()) as CaseName[];
const WARMUP_SECONDS = 3;
const SECRETS_KEY = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
const CLK_TCK = 100;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
const log = (msg: string) => console.error(`[bench:http ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => (Number.isFinite(n) ? +n.toFixed(digits) : null);

/** The baseline tree built in a temporary directory; its `dist/src/main.js` and the commit it is. */
function buildBaseline(): { dir: string; main: string; commit: string } {
  const root = repoRoot();
  const commit = execFileSync('git', ['rev-parse', BASELINE_REF], { cwd: root, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-http-base-'));
  log(`building the baseline ${BASELINE_REF} (${commit.slice(0, 10)}) in ${dir}`);
  execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C ${dir}`], { cwd: root, stdio: 'inherit' });
  // This tree no longer has Express installed: the baseline may need another tree's node_modules.
  symlinkSync(BASELINE_MODULES ?? join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  return { dir, main: join(dir, 'dist/src/main.js'), commit };
}

interface Running {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** The gateway at `main` with `env`; like bench/harness.ts's startGateway, but any build and the default log level. */
async function startGateway(main: string, databaseUrl: string, env: Record<string, string>): Promise<Running> {
  const prefix = `gwbench:http:${process.pid}:${Date.now().toString(36)}`;
  const port = await freePort();
  const sipPort = await freePort();
  const proc = spawn(process.execPath, [...NODE_ARGS, main], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      ADMIN_API_KEY: ADMIN_KEY,
      SECRETS_KEY,
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      SIP_LISTEN: `127.0.0.1:${sipPort}`,
      DB_MIGRATE_ON_START: 'false',
      // The production default: every request writes its log line (to /dev/null here).
      LOG_LEVEL: 'info',
      ...env,
    },
    // stderr kept: start-up errors are printed there and matter.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(proc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway ${main} exited with ${proc.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('gateway did not become ready within 30 s');
    }
    await sleep(100);
  }
  return {
    proc,
    port,
    stop: async () => {
      await new Promise<void>((ok) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return ok();
        proc.once('exit', () => ok());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      });
      children.delete(proc);
      const redis = new IORedis(REDIS_URL);
      await deleteKeysWithPrefix(redis, prefix).finally(() => redis.disconnect());
    },
  };
}

async function api(port: number, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** user + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

interface CaseResult {
  target: Target;
  case: CaseName;
  round: number;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  non2xx: number;
  socketErrors: number;
  gatewayCpuUsPerRequest: number | null;
}

/** wrk prints latencies as "1.23ms", "456.00us", "1.02s". */
function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
}

function wrk(url: string, key: string | null, seconds: number): { requests: number; rps: number; p50: number; p99: number; non2xx: number; socketErrors: number } {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (key) args.push('-H', `Authorization: Bearer ${key}`);
  args.push(url);
  const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`wrk failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  const out = r.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: ms(/^\s+50%\s+(\S+)$/m.exec(out)?.[1] ?? ''),
    p99: ms(/^\s+99%\s+(\S+)$/m.exec(out)?.[1] ?? ''),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: errors ? errors.slice(1).reduce((s, n) => s + Number(n), 0) : 0,
  };
}

async function measureTarget(target: Target, main: string, roundNo: number): Promise<CaseResult[]> {
  const db = await freshDatabase(`http_${target}`);
  const gw = await startGateway(main, db.url, {});
  try {
    const account = await api(gw.port, 'POST', '/v1/accounts', { name: 'bench account', currency: 'USD' });
    const key = await api(gw.port, 'POST', '/v1/api-keys', { name: 'bench operator', role: 'operator' });
    const base = `http://127.0.0.1:${gw.port}`;
    const cases: { name: CaseName; url: string; key: string | null }[] = [
      { name: 'health-live', url: `${base}/health/live`, key: null },
      { name: 'account-get', url: `${base}/v1/accounts/${String(account.id)}`, key: String(key.secret) },
    ];
    const results: CaseResult[] = [];
    for (const c of cases.filter((x) => CASES.includes(x.name))) {
      wrk(c.url, c.key, WARMUP_SECONDS); // JIT, connection pool, caches
      const cpu0 = cpuSeconds(gw.proc.pid!);
      const w = wrk(c.url, c.key, SECONDS);
      const cpu = cpuSeconds(gw.proc.pid!) - cpu0;
      const r: CaseResult = {
        target,
        case: c.name,
        round: roundNo,
        requests: w.requests,
        requestsPerSecond: round(w.rps, 1)!,
        p50Ms: round(w.p50, 3),
        p99Ms: round(w.p99, 3),
        non2xx: w.non2xx,
        socketErrors: w.socketErrors,
        gatewayCpuUsPerRequest: round((cpu * 1e6) / w.requests, 1),
      };
      log(`${target} ${c.name} round ${roundNo}: ${r.requestsPerSecond} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.gatewayCpuUsPerRequest} µs CPU/request, non-2xx ${r.non2xx}`);
      if (r.non2xx || r.socketErrors) throw new Error(`${target} ${c.name}: ${r.non2xx} non-2xx answers and ${r.socketErrors} socket errors: the figure would not be of the request it names`);
      results.push(r);
    }
    return results;
  } finally {
    await gw.stop();
    await db.drop();
  }
}

/** The median of the rounds: one round hit by a burst of other work on the shared machine does not move it. */
function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) throw new Error('bench:http needs wrk: apt-get install -y wrk');
  const started = Date.now();
  const loadAverageAtStart = os.loadavg().map((l) => round(l, 2));
  const self = resolve(repoRoot(), 'dist/src/main.js');
  if (!existsSync(self)) throw new Error('dist/src/main.js is missing: npm run build first');
  const selfCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot(), encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot(), encoding: 'utf8' }).trim() !== '';
  const baseline = TARGETS.includes('baseline') ? buildBaseline() : undefined;
  const mains: Record<Target, string> = { baseline: baseline?.main ?? '', fastify: self };

  const all: CaseResult[] = [];
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      // Alternate the order between rounds: whatever drifts on the machine is spread over all targets.
      const order = r % 2 ? TARGETS : [...TARGETS].reverse();
      for (const t of order) all.push(...(await measureTarget(t, mains[t], r)));
    }
  } finally {
    if (baseline) rmSync(baseline.dir, { recursive: true, force: true });
  }

  const summary = TARGETS.flatMap((target) =>
    CASES.map((c) => {
      const rows = all.filter((x) => x.target === target && x.case === c);
      const base = all.filter((x) => x.target === 'baseline' && x.case === c);
      const rps = median(rows.map((x) => x.requestsPerSecond));
      return {
        target,
        case: c,
        requestsPerSecond: round(rps, 1),
        p50Ms: round(median(rows.map((x) => x.p50Ms ?? NaN)), 3),
        p99Ms: round(median(rows.map((x) => x.p99Ms ?? NaN)), 3),
        gatewayCpuUsPerRequest: round(median(rows.map((x) => x.gatewayCpuUsPerRequest ?? NaN)), 1),
        ratioToBaseline: base.length ? round(rps / median(base.map((x) => x.requestsPerSecond)), 2) : null,
      };
    }),
  );
  const command = `npm run bench:http${process.env.BENCH_HTTP_TARGETS ? ` (BENCH_HTTP_TARGETS=${process.env.BENCH_HTTP_TARGETS})` : ''}`;
  const result = {
    command,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)),
    commit: `${selfCommit}${dirty ? ' (with uncommitted changes)' : ''}`,
    baseline: baseline ? { ref: BASELINE_REF, commit: baseline.commit } : null,
    settings: { secondsPerCase: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, rounds: ROUNDS, client: 'wrk -t1 keep-alive', logLevel: 'info', nodeArgs: NODE_ARGS },
    summary,
    runs: all,
  };
  const json = writeResult('http', result);

  const m = machine();
  const lines = [
    '# HTTP benchmark',
    '',
    `${new Date().toISOString()}, \`${command}\` (${result.durationSeconds} s), ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average ${loadAverageAtStart.join(' ')} at the start, ${result.loadAverageAtEnd.join(' ')} at the end.`,
    '',
    `The real gateway (\`node dist/src/main.js\`, LOG_LEVEL=info, its log to /dev/null) on 127.0.0.1; wrk, one thread, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per case after ${WARMUP_SECONDS} s of warm-up, ${ROUNDS} rounds in alternating order (figures are the median of the rounds; the ratio is of the medians). ` +
      'PostgreSQL, Redis and wrk share the 2 cores with the gateway. `account-get` is `GET /v1/accounts/:id` with a stored operator API key; `health-live` is `GET /health/live` without a key. ' +
      `Baseline: ${baseline ? `\`${BASELINE_REF}\` at ${baseline.commit.slice(0, 10)}, built from \`git archive\` in the same run` : 'not run'}; this tree: ${result.commit.slice(0, 10)}${dirty ? ' with uncommitted changes' : ''}.`,
    '',
    '| target | request | requests/s | × baseline | p50 / p99 ms | gateway CPU µs per request |',
    '| --- | --- | --- | --- | --- | --- |',
    ...summary.map((s) => `| ${s.target} | ${s.case} | ${s.requestsPerSecond} | ${s.ratioToBaseline ?? '–'} | ${s.p50Ms} / ${s.p99Ms} | ${s.gatewayCpuUsPerRequest} |`),
    '',
    'Each round:',
    '',
    '| round | target | request | requests/s | p50 / p99 ms | gateway CPU µs per request |',
    '| --- | --- | --- | --- | --- | --- |',
    ...all.map((r) => `| ${r.round} | ${r.target} | ${r.case} | ${r.requestsPerSecond} | ${r.p50Ms} / ${r.p99Ms} | ${r.gatewayCpuUsPerRequest} |`),
    '',
  ];
  writeFileSync(resolve(resultsDir(), 'http.md'), lines.join('\n'));
  log(`results: ${json} and http.md`);
  for (const s of summary) log(`${s.target} ${s.case}: ${s.requestsPerSecond} req/s (× ${s.ratioToBaseline ?? '–'}), ${s.gatewayCpuUsPerRequest} µs CPU/request`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
