/**
 * `npm run bench:calls`: complete outbound calls through the B2BUA, driven by SIPp on 127.0.0.1.
 *
 * The SIPp user (bench/calls/uac.xml) calls a +1 number: INVITE, 407, ACK, INVITE with digest
 * credentials, 180, 200, ACK, hold, BYE, 200. The gateway authenticates the user, authorizes
 * the call against the account's balance and rate deck, routes it to the only trunk (a SIPp UAS,
 * bench/calls/uas.xml), relays its media ports, and writes a CDR that the worker rates. Measured:
 *  - the highest call rate of a ladder (calls per second) at which no call failed, a call
 *    failing also unless it has exactly one answered CDR, rated, at the cost the bench's deck
 *    gives for its duration (checked per Call-ID; a failed step is tried once more);
 *  - and, stricter (SIPp waits 10 s for a response, so a saturated gateway still "completes"
 *    calls), the highest rate at which that step and every one below it had no failed call and a
 *    post-dial delay p99 under 1 s;
 *  - the post-dial delay (authenticated INVITE sent to 180 received, at the SIPp user) at half
 *    that rate, p50/p99, and what the gateway adds to it over SIPp calling the trunk directly;
 *  - calls held at once with a long hold, and the memory that costs per 1,000 calls.
 * The baseline, in the same run: Debian's Kamailio as a stateful proxy (tm, record-route,
 * dialog, proxy digest authentication; bench/calls/kamailio.cfg.tpl) between the same SIPp user
 * and trunk, through the same ladder, post-dial delay and concurrency runs; and "direct" (the
 * user calling the trunk without anything between), the floor that delays are measured against.
 *
 * Every SIPp run is bounded by a call count and a timeout, and killed by id if it outlives them.
 * BENCH_CALLS_TARGETS (default gateway,kamailio,direct; add gateway-nocapture for the same gateway with
 * SIP_CAPTURE=false, the baseline of the capture cost) and BENCH_CALLS_RATES narrow a run.
 *
 * Issue 13 adds, for the gateway: its idle CPU; CPU per call until every CDR is rated (the worker
 * runs in the process) and the event-loop delay p99 at each step; a hot-account run (the same load
 * placed by one account, then spread over 100 accounts, each on a fresh gateway: CPU per call,
 * post-dial delay and failures of each); and a balance check after a long run of one account
 * (BENCH_CALLS_BALANCE_CALLS, default 10,000, at BENCH_CALLS_BALANCE_RATE, default the post-dial
 * delay rate): its balance must equal its top-ups minus its rated CDRs' costs to the micro-unit,
 * and the ledger must hold each rated CDR's charge exactly once. BENCH_CALLS_PHASES (default
 * pdd,concurrency,hot,balance) picks what runs after the ladder; BENCH_CALLS_NODE_ARGS profiles
 * the gateway (docs/performance.md).
 *
 * The per-source SIP limits (SIP_RATE_LIMIT_PER_SECOND and friends) cost: the target
 * `gateway-nolimits` is the same gateway with every limit off. All the bench's SIP comes from
 * 127.0.0.1, so `gateway` keeps the checks on with the per-address limits raised out of reach (the
 * honest measure is what the checks cost, not a bench refused by them). A run with both
 * (BENCH_CALLS_TARGETS=gateway-nolimits,gateway) writes the same-run comparison to
 * bench/results/calls-limits.{json,md} instead of calls.{json,md}.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { resultsDir } from './results-dir';
import { SourceGuard } from '../src/sip/transport/source-guard';
import { deleteKeysWithPrefix } from '../src/platform/redis';
import { ADMIN_KEY, Gateway, REDIS_URL, freshDatabase, machine, startGateway, writeResult } from './harness';

type Target = 'gateway' | 'gateway-nolimits' | 'gateway-nocapture' | 'kamailio' | 'direct';

const TARGETS = (process.env.BENCH_CALLS_TARGETS ?? 'gateway,kamailio,direct').split(',').map((t) => t.trim()) as Target[];
const RATES = (process.env.BENCH_CALLS_RATES ?? '25,50,100,150,200,300,400,600,800,1200,1600').split(',').map(Number);
/**
 * What a gateway run does after its ladder (BENCH_CALLS_PHASES, default all): the post-dial delay
 * run, the concurrency (memory) run, the hot-account comparison and the balance check.
 */
const PHASES = new Set((process.env.BENCH_CALLS_PHASES ?? 'pdd,concurrency,hot,balance').split(',').map((p) => p.trim()));
// BENCH_CALLS_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof --heap-prof --heap-prof-dir=/tmp/prof")
// profiles every gateway process the bench starts; each writes its profile when it stops.
if (process.env.BENCH_CALLS_NODE_ARGS) process.env.BENCH_GATEWAY_NODE_ARGS = process.env.BENCH_CALLS_NODE_ARGS;
/** Each ladder step offers rate × STEP_SECONDS calls. */
const STEP_SECONDS = Number(process.env.BENCH_CALLS_STEP_SECONDS ?? 8);
const HOLD_MS = 1000;
/**
 * A step that failed is run once more on a fresh target process before climbing stops: other
 * work on a shared 2-core machine can fail a step by chance (see loadAverageAtStart).
 */
const STEP_ATTEMPTS = 2;
/** The post-dial delay run: at least this many calls, and at least PDD_SECONDS of them. */
const PDD_MIN_CALLS = 300;
const PDD_SECONDS = 10;
/** The idle CPU measure: seconds with no call, after a settle of 3 s. */
const IDLE_SECONDS = Number(process.env.BENCH_CALLS_IDLE_SECONDS ?? 10);
/** A second, stricter capacity figure: no failed call and post-dial delay p99 under this. */
const PDD_BOUND_MS = 1000;
/** The concurrency run: up to this many calls held at once, a hold of at most CONCURRENCY_MAX_HOLD_S. */
const CONCURRENCY_TARGET = Number(process.env.BENCH_CALLS_CONCURRENT ?? 2000);
const CONCURRENCY_MAX_RATE = 100;
const CONCURRENCY_MAX_HOLD_S = 60;
/** SIPp gives up on a response after this (a call that hangs fails instead of stalling the run). */
const RECV_TIMEOUT_MS = 10_000;
/** Time allowed after a gateway step for its CDRs to be written and rated. */
const CDR_WAIT_MS = 60_000;

const USERNAME = 'benchcaller';
const PASSWORD = 'bench-password-0123';
const REALM = 'bench.gateway';
const KAMAILIO_CHILDREN = 2;
const assets = resolve(__dirname, '../../bench/calls');

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const log = (msg: string) => console.error(`[bench:calls ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A free UDP port on 127.0.0.1 below the gateway's RTP range (20000-39999) and the kernel's
 * ephemeral ports: the trunk is restarted on the same port for every run, and the relay must not
 * take that port in between.
 */
async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((ok) => {
      const s = createSocket('udp4');
      s.once('error', () => ok(false));
      s.bind(port, '127.0.0.1', () => s.close(() => ok(true)));
    });
    if (free) return port;
  }
  throw new Error('no free UDP port in 10000-19999');
}

function requireTool(name: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0) throw new Error(`bench:calls needs ${name}: apt-get install -y ${pkg}`);
}

function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round = (n: number, digits = 2) => (Number.isFinite(n) ? +n.toFixed(digits) : null);

// ------------------------------------------------------------------------------------- SIPp

/** The dialled numbers: +1 212 555 xxxx in a fixed shuffled order (SIPp injection file). */
function numbersFile(dir: string): string {
  const rows = Array.from({ length: 10_000 }, (_, i) => `1212555${String((i * 7919) % 10_000).padStart(4, '0')}`);
  const file = join(dir, 'numbers.csv');
  writeFileSync(file, `SEQUENTIAL\n${rows.join('\n')}\n`);
  return file;
}

interface Trunk {
  /** Throws if the trunk did not come up (its port taken, for one). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The SIPp trunk (UAS) on `port`; stop() ends it, else its call count or timeout. The count has
 * room for INVITEs that a proxy still retransmits from an earlier, overloaded run.
 */
async function startTrunk(port: number, calls: number, timeoutS: number): Promise<Trunk> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-trunk-'));
  const mediaPort = await freeUdpPort();
  const args = ['-sf', join(assets, 'uas.xml'), '-i', '127.0.0.1', '-p', String(port), '-mp', String(mediaPort), '-m', String(calls * 2 + 1000), '-timeout', `${Math.ceil(timeoutS)}s`, '-nostdin', '-trace_err'];
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  return {
    ready: async () => {
      await sleep(300);
      if (child.exitCode !== null) throw new Error(`the SIPp trunk on ${port} exited at start: ${stderr.trim().slice(-500)}`);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface SippRun {
  calls: number;
  targetRate: number;
  /** How long each call was held between the ACK and the BYE (SIPp -d). */
  holdMs: number;
  successful: number;
  /** calls - successful: SIPp's failures and calls it never completed. */
  failed: number;
  /** SIPp's own failure counters that are not zero (FailedUnexpectedMessage, FailedTimeoutOnRecv, ...). */
  failures: Record<string, number>;
  retransmissions: number;
  /** Calls created per second, from the first to the last authenticated INVITE. */
  offeredRate: number | null;
  elapsedSeconds: number;
  /** The most calls SIPp had open at once, from its per-second statistics. */
  peakSippCalls: number;
  pddSamples: number;
  pddP50Ms: number | null;
  pddP99Ms: number | null;
  pddMaxMs: number | null;
  /** SIPp's error log when a call failed, counted by kind ("unexpected 200 while expecting 180", ...). */
  errors?: Record<string, number>;
  /** The first error entry in full. */
  firstError?: string;
  /**
   * The Call-IDs of the calls SIPp completed (the scenario logs "done <Call-ID>" at the BYE's 200).
   * Not enumerable: a spread copy and the results JSON leave the (thousands of) ids out.
   */
  readonly completedCallIds: string[];
  /** Set by the caller: gateway CDR check. */
  cdr?: CdrCheck;
  /** UDP datagrams dropped on a full receive buffer during the run (machine-wide). */
  udpReceiveBufferErrors?: number;
  /** Of those, the ones dropped at the target's own SIP socket. */
  targetSocketDrops?: number;
  /** CPU time of the target's processes (not PostgreSQL's or Redis's) per call of the run. */
  targetCpuMsPerCall?: number | null;
  /**
   * Gateway: the same from the run's start until every completed call's CDR was rated (the worker
   * runs in the process), so CDR rating is counted in full.
   */
  targetCpuMsPerCallRated?: number | null;
  /** Gateway: event-loop delay over the run (prom-client's monitorEventLoopDelay, reset when /metrics is read), p99 and max. */
  eventLoopDelayP99Ms?: number | null;
  eventLoopDelayMaxMs?: number | null;
}

interface UacOptions {
  target: Target;
  port: number;
  rate: number;
  calls: number;
  holdMs: number;
  numbers: string;
  tag: string;
  /** A scenario file other than the target's usual one (the hot-account run's many-users scenario). */
  scenarioPath?: string;
  /** Called about every 500 ms while SIPp runs, with the calls SIPp has open. */
  onSample?: (sippOpenCalls: number) => void;
}

function readStatRows(dir: string): { header: string[]; rows: string[][] } {
  const file = readdirSync(dir).find((f) => f.endsWith('.csv') && f.startsWith('stats'));
  if (!file) return { header: [], rows: [] };
  const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
  return { header: lines[0].split(';'), rows: lines.slice(1).map((l) => l.split(';')) };
}

/** One SIPp user run: `calls` calls at `rate` calls per second to 127.0.0.1:`port`. */
async function runUac(o: UacOptions): Promise<SippRun> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-uac-'));
  const scenario = o.scenarioPath ?? join(assets, o.target === 'direct' ? 'uac-noauth.xml' : 'uac.xml');
  const sendSeconds = o.calls / o.rate;
  const timeoutS = Math.ceil(sendSeconds + o.holdMs / 1000 + 2 * RECV_TIMEOUT_MS / 1000 + 10);
  const localPort = await freeUdpPort();
  const mediaPort = await freeUdpPort();
  const args = [
    `127.0.0.1:${o.port}`, '-sf', scenario, '-inf', o.numbers,
    '-s', USERNAME, '-au', USERNAME, '-ap', PASSWORD,
    '-i', '127.0.0.1', '-p', String(localPort), '-mp', String(mediaPort),
    '-m', String(o.calls), '-r', String(o.rate), '-rp', '1000', '-l', String(o.calls + 10), '-d', String(o.holdMs),
    '-cid_str', `${o.tag}-%u-%p@%s`,
    '-recv_timeout', String(RECV_TIMEOUT_MS), '-timeout', `${timeoutS}s`, '-nostdin',
    '-trace_stat', '-stf', 'stats.csv', '-fd', '1', '-trace_logs', '-trace_err',
  ];
  const t0 = process.hrtime.bigint();
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const kill = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 15) * 1000);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(500);
      if (!o.onSample) continue;
      try {
        const { header, rows } = readStatRows(dir);
        const last = rows[rows.length - 1];
        if (last) o.onSample(Number(last[header.indexOf('CurrentCall')]));
      } catch {
        /* the file is being written */
      }
    }
  })();
  await new Promise<void>((ok, fail) => {
    child.once('error', fail);
    child.once('close', () => ok());
  });
  sampling = false;
  await sampler;
  clearTimeout(kill);
  children.delete(child);
  const elapsedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const { header, rows } = readStatRows(dir);
  if (!rows.length) throw new Error(`SIPp wrote no statistics for ${o.target} at ${o.rate}/s: ${stderr.slice(-1000)}`);
  const last = rows[rows.length - 1];
  const col = (row: string[], name: string) => Number(row[header.indexOf(name)]);
  const successful = col(last, 'SuccessfulCall(C)');
  const failures: Record<string, number> = {};
  header.forEach((h, i) => {
    if (/^Failed.*\(C\)$/.test(h) && Number(last[i]) > 0) failures[h.replace('(C)', '')] = Number(last[i]);
  });
  const peakSippCalls = Math.max(...rows.map((r) => col(r, 'CurrentCall')));

  // "pdd sentS sentUs ringS ringUs" per call that rang, from the scenario's <log> action.
  const logFile = readdirSync(dir).find((f) => f.endsWith('_logs.log'));
  const sent: number[] = [];
  const pdd: number[] = [];
  const completedCallIds: string[] = [];
  if (logFile) {
    for (const line of readFileSync(join(dir, logFile), 'utf8').split('\n')) {
      const done = /^done (\S+)/.exec(line);
      if (done) {
        completedCallIds.push(done[1]);
        continue;
      }
      const m = /^pdd ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(line);
      if (!m) continue;
      const [s0, u0, s1, u1] = m.slice(1).map(Number);
      sent.push(s0 + u0 / 1e6);
      pdd.push((s1 - s0) * 1000 + (u1 - u0) / 1000);
    }
  }
  pdd.sort((a, b) => a - b);
  sent.sort((a, b) => a - b);
  const offeredRate = sent.length > 1 ? (sent.length - 1) / (sent[sent.length - 1] - sent[0]) : null;
  const failed = o.calls - successful;
  let errors: Record<string, number> | undefined;
  let firstError: string | undefined;
  if (failed > 0) {
    const errFile = readdirSync(dir).find((f) => f.endsWith('_errors.log'));
    const text = errFile ? readFileSync(join(dir, errFile), 'utf8') : stderr;
    ({ counts: errors, first: firstError } = summariseErrors(text, scenarioSteps(scenario)));
  }
  rmSync(dir, { recursive: true, force: true });
  const result = {
    calls: o.calls,
    targetRate: o.rate,
    holdMs: o.holdMs,
    successful,
    failed,
    failures,
    retransmissions: col(last, 'Retransmissions(C)'),
    offeredRate: offeredRate === null ? null : round(offeredRate, 1),
    elapsedSeconds: round(elapsedSeconds, 1)!,
    peakSippCalls,
    pddSamples: pdd.length,
    pddP50Ms: round(percentile(pdd, 0.5), 3),
    pddP99Ms: round(percentile(pdd, 0.99), 3),
    pddMaxMs: round(pdd[pdd.length - 1] ?? NaN, 3),
    ...(errors ? { errors, firstError } : {}),
  };
  return Object.defineProperty(result, 'completedCallIds', { value: completedCallIds, enumerable: false }) as SippRun;
}

/** What each message index of a scenario (its path) is ("send INVITE", "recv 180", ...), for SIPp's error log. */
function scenarioSteps(scenario: string): string[] {
  const xml = readFileSync(scenario, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
  const steps: string[] = [];
  const re = /<(send|recv|nop|pause|label)\b([^>]*)>(?:\s*<!\[CDATA\[\s*(\S+))?/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const [, kind, attrs, firstWord] = m;
    if (kind === 'label') continue;
    if (kind === 'recv') steps.push(`recv ${/(?:response|request)="([^"]+)"/.exec(attrs)?.[1] ?? '?'}`);
    else if (kind === 'send') steps.push(`send ${firstWord === 'SIP/2.0' ? 'response' : (firstWord ?? '?')}`);
    else steps.push(kind);
  }
  return steps;
}

/** Counts SIPp's error log entries by kind; Call-IDs and the like left out. */
function summariseErrors(text: string, steps: string[]): { counts: Record<string, number>; first?: string } {
  const counts: Record<string, number> = {};
  let first: string | undefined;
  for (const entry of text.split(/(?=\d{4}-\d{2}-\d{2}\t\d{2}:)/)) {
    const body = entry.replace(/^\d{4}-\d{2}-\d{2}\t[\d:.]+\t[\d.]+: /, '').trim();
    if (!body || body.startsWith('The following events occurred')) continue;
    let kind: string;
    let m: RegExpExecArray | null;
    if ((m = /while expecting '([^']+)' \(index (\d+)\), received '([^\r\n]+)/.exec(body))) kind = `unexpected "${m[3].trim()}" while expecting ${m[1]} (${steps[Number(m[2])] ?? `index ${m[2]}`})`;
    else if ((m = /receive timeout on message [^:]*:(\d+)/.exec(body))) kind = `receive timeout at ${steps[Number(m[1])] ?? `index ${m[1]}`}`;
    else if (/^Dead call /.test(body)) kind = 'messages for calls already aborted';
    else kind = body.split(/\r?\n/)[0].replace(/Call-I[dD]:? '?\S+/g, 'Call-ID …').slice(0, 160);
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (!first && !kind.startsWith('messages for calls')) first = body.slice(0, 1500);
  }
  return { counts, first };
}

/** The four commonest kinds of SIPp error, with their counts, for a log line or calls.md. */
function errorSummary(errors: Record<string, number>): string {
  return Object.entries(errors).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ×${v}`).join('; ');
}

/**
 * The gateway's event-loop delay since /metrics was last read (prom-client's default metrics
 * histogram, which it resets on each read), p99 and max in ms; null when it does not answer.
 */
async function eventLoopDelay(httpPort: number): Promise<{ p99Ms: number | null; maxMs: number | null } | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const read = (name: string) => {
      const m = new RegExp(`^gateway_nodejs_eventloop_lag_${name}_seconds ([\\d.e+-]+)$`, 'm').exec(text);
      return m ? round(Number(m[1]) * 1000, 2) : null;
    };
    return { p99Ms: read('p99'), maxMs: read('max') };
  } catch {
    return null;
  }
}

/** The process tree's CPU time when a run started: the gateway's check adds the rating that follows the run. */
const cpuAtStart = new WeakMap<SippRun, number>();

/** The trunk for the run's calls, then the user's run, then the trunk stopped. */
async function callRun(o: UacOptions, trunkPort: number, targetPid?: number, metricsPort?: number): Promise<SippRun> {
  const trunk = await startTrunk(trunkPort, o.calls, o.calls / o.rate + o.holdMs / 1000 + 60);
  try {
    await trunk.ready();
    const drops = udpReceiveBufferErrors();
    const targetDrops = udpSocketDrops(o.port);
    if (metricsPort) await eventLoopDelay(metricsPort);
    const cpu = targetPid ? cpuMsOf(targetPid) : 0;
    const run = await runUac(o);
    cpuAtStart.set(run, cpu);
    if (metricsPort) {
      const d = await eventLoopDelay(metricsPort);
      run.eventLoopDelayP99Ms = d?.p99Ms ?? null;
      run.eventLoopDelayMaxMs = d?.maxMs ?? null;
    }
    run.udpReceiveBufferErrors = udpReceiveBufferErrors() - drops;
    run.targetSocketDrops = udpSocketDrops(o.port) - targetDrops;
    if (targetPid) run.targetCpuMsPerCall = round((cpuMsOf(targetPid) - cpu) / o.calls, 2);
    return run;
  } finally {
    await sleep(500);
    await trunk.stop();
  }
}

// ------------------------------------------------------------------------------------- memory

/** The process and its descendants, from /proc. */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

interface Memory {
  processes: number;
  /** Sum of VmRSS: counts shared memory once per process that touched it. */
  rssMiB: number;
  /** Sum of Pss (proportional set size): shared pages divided among the processes sharing them. */
  pssMiB: number;
}

function memoryOf(root: number): Memory {
  let rss = 0;
  let pss = 0;
  const pids = processTree(root);
  for (const pid of pids) {
    try {
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return { processes: pids.length, rssMiB: round(rss / 1024, 1)!, pssMiB: round(pss / 1024, 1)! };
}

/** CPU time (user + system) of the process and its descendants so far, in ms. */
function cpuMsOf(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Datagrams the kernel dropped, machine-wide, because a UDP socket's receive buffer was full. */
function udpReceiveBufferErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const header = lines[0].split(/\s+/);
  return Number(lines[1].split(/\s+/)[header.indexOf('RcvbufErrors')]);
}

/** Datagrams dropped so far on the UDP socket(s) bound to 127.0.0.1:`port` (full receive buffer). */
function udpSocketDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) drops += Number(f[f.length - 1]);
  }
  return drops;
}

// ------------------------------------------------------------------------------------- kamailio

interface Kamailio {
  pid: number;
  stop(): Promise<void>;
}

async function startKamailio(port: number, trunkPort: number): Promise<Kamailio> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-kam-'));
  const cfg = readFileSync(join(assets, 'kamailio.cfg.tpl'), 'utf8')
    .replace('__PORT__', String(port))
    .replace('__TRUNK_PORT__', String(trunkPort))
    .replace('__PASSWORD__', PASSWORD)
    .replace('__CHILDREN__', String(KAMAILIO_CHILDREN));
  writeFileSync(join(dir, 'kamailio.cfg'), cfg);
  const proc = spawn('kamailio', ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-m', '256', '-M', '16', '-P', join(dir, 'kamailio.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  await sleep(1500);
  if (proc.exitCode !== null) throw new Error(`kamailio exited: ${err.slice(-2000)}`);
  return {
    pid: proc.pid!,
    stop: async () => {
      await new Promise<void>((ok) => {
        if (proc.exitCode !== null) return ok();
        proc.once('exit', () => ok());
        proc.kill('SIGTERM');
        setTimeout(() => proc.exitCode === null && proc.kill('SIGKILL'), 5000).unref();
      });
      children.delete(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------------- gateway

const GATEWAY_ENV = {
  SIP_PUBLIC_ADDRESS: '127.0.0.1',
  SIP_REALM: REALM,
  // 40000-59999 is left to test runs beside the bench (the other engineers' ranges).
  RTP_PORT_MIN: '20000',
  RTP_PORT_MAX: '39999',
  MEDIA_INACTIVITY_SECONDS: '0',
  SIP_AUTH_FAIL_LIMIT: '100000',
  LOG_LEVEL: 'warn',
  CALL_DRAIN_SECONDS: '5',
  ROLES: 'api,sip,media,worker',
  // Every call comes from 127.0.0.1: the per-address limits are raised out of reach, the checks still run.
  SIP_RATE_LIMIT_PER_SECOND: '1000000',
  SIP_MAX_TRANSACTIONS_PER_SOURCE: '1000000',
};

/** The same gateway with every per-source limit off: the baseline the limits' cost is measured against. */
const GATEWAY_NOLIMITS_ENV = {
  ...GATEWAY_ENV,
  SIP_RATE_LIMIT_PER_SECOND: '0',
  SIP_TRUNK_RATE_LIMIT_PER_SECOND: '0',
  SIP_MAX_TRANSACTIONS_PER_SOURCE: '0',
  SIP_MAX_TRANSACTIONS: '0',
  SIP_TCP_MAX_CONNECTIONS_PER_IP: '0',
  SIP_TCP_IDLE_SECONDS: '0',
};

async function api<T = Record<string, unknown>>(gw: Gateway, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * The bench deck's one rate (prefix 1, every dialled number), in integer micro-units: the CDR check
 * prices each call from it without the gateway's rating code.
 */
const BENCH_TARIFF = { prefix: '1', perMinuteMicros: 10_000n, feeMicros: 0n, firstIncrement: 1, nextIncrement: 1 };

/** Integer micro-units → the 6-decimal string the money columns hold. */
const money = (micros: bigint) => `${micros / 1_000_000n}.${String(micros % 1_000_000n).padStart(6, '0')}`;

/** Billable seconds and cost of an answered call of `seconds`, exactly as API.md's rate deck rules price it (cost rounded up once). */
function expectedCharge(seconds: number): { billable: number; cost: string } {
  const { firstIncrement: first, nextIncrement: next } = BENCH_TARIFF;
  const billable = seconds === 0 ? 0 : seconds <= first ? first : first + Math.ceil((seconds - first) / next) * next;
  const perMinute = BENCH_TARIFF.perMinuteMicros * BigInt(billable);
  return { billable, cost: money(BENCH_TARIFF.feeMicros + (perMinute + 59n) / 60n) };
}

/** Rate deck, account with a balance, the calling user, the trunk (the SIPp UAS) and a catch-all route. */
async function provision(gw: Gateway, trunkPort: number): Promise<{ accountId: string; trunkId: string; rateDeckId: string }> {
  const deck = await api<{ id: string }>(gw, 'POST', '/v1/rate-decks', { name: 'bench-calls', currency: 'USD' });
  const t = BENCH_TARIFF;
  const rates = `prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom\n${t.prefix},USA,${money(t.perMinuteMicros)},${money(t.feeMicros)},${t.firstIncrement},${t.nextIncrement},\n`;
  await api(gw, 'POST', `/v1/rate-decks/${deck.id}/rates`, rates, 'text/csv');
  // One account places every call: an explicit limit far above the load (null now means DEFAULT_MAX_CONCURRENT_CALLS, 10).
  const account = await api<{ id: string }>(gw, 'POST', '/v1/accounts', { name: 'bench-calls', currency: 'USD', rateDeckId: deck.id, creditLimit: '0', maxConcurrentCalls: 1_000_000 });
  await api(gw, 'POST', `/v1/accounts/${account.id}/topups`, { amount: '100000.00', reference: 'bench-calls' });
  await api(gw, 'POST', '/v1/users', { username: USERNAME, password: PASSWORD, accountId: account.id });
  const trunk = await api<{ id: string }>(gw, 'POST', '/v1/trunks', { name: 'bench-sipp-uas', host: '127.0.0.1', port: trunkPort, transport: 'udp', inboundAddresses: [] });
  await api(gw, 'POST', '/v1/routes', { prefix: '', trunkId: trunk.id, priority: 1, weight: 1 });
  return { accountId: account.id, trunkId: trunk.id, rateDeckId: deck.id };
}

// ------------------------------------------------------------------------------------- hot account, balance

/** The hot-account run's spread: this many users, each on an account of its own. */
const SPREAD_ACCOUNTS = 100;
const spreadUser = (i: number) => `benchspread${String(i).padStart(3, '0')}`;

/** Users benchspread000.. on accounts of their own (same deck, same terms as the bench's account). */
async function provisionSpread(gw: Gateway, rateDeckId: string): Promise<void> {
  for (let i = 0; i < SPREAD_ACCOUNTS; i++) {
    const a = await api<{ id: string }>(gw, 'POST', '/v1/accounts', { name: `bench-spread-${i}`, currency: 'USD', rateDeckId, creditLimit: '0', maxConcurrentCalls: 1_000_000 });
    await api(gw, 'POST', `/v1/accounts/${a.id}/topups`, { amount: '10000.00', reference: 'bench-calls-spread' });
    await api(gw, 'POST', '/v1/users', { username: spreadUser(i), password: PASSWORD, accountId: a.id });
  }
}

/**
 * The SIPp user scenario with the caller taken from the injection file (field1 the username, also
 * the From user; field2 the whole `[authentication username=… password=…]` keyword, which is how
 * SIPp takes per-call credentials), made from uac.xml so the two cannot drift apart.
 */
function spreadScenario(dir: string): string {
  const xml = readFileSync(join(assets, 'uac.xml'), 'utf8').replaceAll('[service]', '[field1]').replaceAll('[authentication]', '[field2]');
  const file = join(dir, 'uac-spread.xml');
  writeFileSync(file, xml);
  return file;
}

/** The dialled numbers of numbersFile, call i from user(i) (spreadScenario's injection file). */
function callersNumbersFile(dir: string, name: string, user: (i: number) => string): string {
  const rows = Array.from({ length: 10_000 }, (_, i) => `1212555${String((i * 7919) % 10_000).padStart(4, '0')};${user(i)};[authentication username=${user(i)} password=${PASSWORD}]`);
  const file = join(dir, `numbers-${name}.csv`);
  writeFileSync(file, `SEQUENTIAL\n${rows.join('\n')}\n`);
  return file;
}

interface HotAccountSide {
  accounts: number;
  /** Distinct accounts on the run's CDRs: that the calls really came from that many. */
  accountsCharged: number;
  calls: number;
  failed: number;
  cpuMsPerCall: number | null;
  pddP50Ms: number | null;
  pddP99Ms: number | null;
  eventLoopDelayP99Ms: number | null;
  run: SippRun;
}

/** Integer micro-units of a decimal string with up to 6 decimals ("-12.5" → -12500000n). */
function micros(amount: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,6})\d*)?$/.exec(amount.trim());
  if (!m) throw new Error(`not a decimal amount: ${amount}`);
  const v = BigInt(m[2]) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0'));
  return m[1] ? -v : v;
}
const fromMicros = (v: bigint) => (v < 0n ? `-${money(-v)}` : money(v));

/** The balance check of one account after a run: top-ups minus rated costs, to the micro-unit, and every CDR charged once. */
interface BalanceCheck {
  accountId: string;
  calls: number;
  rate: number;
  /** Calls SIPp completed, and those whose CDR check (one answered CDR, rated, right cost) failed. */
  completed: number;
  cdrCheckFailed: number;
  cdrs: number;
  ratedCdrs: number;
  unratedCdrs: number;
  topups: string;
  ratedCost: string;
  /** Top-ups minus the rated CDRs' costs. */
  expectedBalance: string;
  /** The account's balance as GET /v1/accounts/:id gives it. */
  apiBalance: string;
  /** Rated CDRs with a cost whose charge the ledger holds other than once (none, or several); null when the ledger could not be read. */
  cdrsNotChargedOnce: number | null;
  ledgerNote?: string;
  waitedSeconds: number;
  ok: boolean;
}

async function balanceCheck(gw: Gateway, db: Client, accountId: string, run: SippRun, rate: number, waitMs: number): Promise<BalanceCheck> {
  const t0 = Date.now();
  const q = async <T>(sql: string, params: unknown[]) => (await db.query(sql, params)).rows[0] as T;
  let last: BalanceCheck | undefined;
  // The ledger may settle after the CDRs are rated (a batched design): poll until it agrees or the wait ends.
  for (;;) {
    const cdr = await q<{ n: number; rated: number; cost: string | null }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'rated')::int AS rated, sum(cost) FILTER (WHERE status = 'rated')::text AS cost FROM cdrs WHERE account_id = $1`,
      [accountId],
    );
    const top = await q<{ sum: string | null }>(`SELECT sum(amount)::text AS sum FROM topups WHERE account_id = $1`, [accountId]);
    const account = await api<{ balance: string }>(gw, 'GET', `/v1/accounts/${accountId}`);
    let notOnce: number | null = null;
    let ledgerNote: string | undefined;
    try {
      notOnce = (
        await q<{ n: number }>(
          `SELECT count(*)::int AS n FROM cdrs c WHERE c.account_id = $1 AND c.status = 'rated' AND c.cost > 0
             AND (SELECT count(*) FROM ledger_entries l WHERE l.cdr_id = c.id) <> 1`,
          [accountId],
        )
      ).n;
    } catch (e) {
      ledgerNote = `ledger not readable as ledger_entries.cdr_id: ${(e as Error).message}`;
    }
    const ratedCost = micros(cdr.cost ?? '0');
    const expected = micros(top.sum ?? '0') - ratedCost;
    last = {
      accountId, calls: run.calls, rate, completed: run.cdr?.completed ?? run.successful, cdrCheckFailed: run.cdr?.failed ?? 0,
      cdrs: cdr.n, ratedCdrs: cdr.rated, unratedCdrs: cdr.n - cdr.rated,
      topups: fromMicros(micros(top.sum ?? '0')), ratedCost: fromMicros(ratedCost), expectedBalance: fromMicros(expected), apiBalance: account.balance,
      cdrsNotChargedOnce: notOnce, ...(ledgerNote ? { ledgerNote } : {}),
      waitedSeconds: round((Date.now() - t0) / 1000, 1)!,
      ok: false,
    };
    last.ok = micros(account.balance) === expected && last.unratedCdrs === 0 && (notOnce ?? 0) === 0 && last.cdrCheckFailed === 0 && cdr.rated >= last.completed;
    if (last.ok || Date.now() - t0 > waitMs) return last;
    await sleep(1000);
  }
}

interface CdrCheck {
  /** Calls SIPp completed (their Call-IDs from its log). */
  completed: number;
  /** CDRs whose Call-ID carries the run's tag, answered or not, for completed calls or failed ones. */
  written: number;
  /** Completed calls with exactly one answered CDR, rated, at the expected cost: the ones that pass. */
  ok: number;
  /** Completed calls without an answered CDR within the wait. */
  missing: number;
  /** Completed calls with more than one answered CDR, and the answered CDRs beyond one. */
  duplicated: number;
  duplicateCdrs: number;
  /** Completed calls whose one answered CDR was not rated within the wait (pending, or failed by the worker). */
  unrated: number;
  /** Completed calls whose one answered, rated CDR has a duration outside what the hold allows, or billable seconds or a cost that the deck does not give for it. */
  misCosted: number;
  /** The first mis-costed CDR in full: call id, duration, billable seconds, cost and what was expected. */
  firstMisCosted?: string;
  /** Answered CDRs of completed calls by billed duration (seconds → CDRs). */
  durations: Record<string, number>;
  /** CDRs of completed calls that are not answered (none expected: one route, one attempt); reported, not failed. */
  otherCdrsOfCompletedCalls: number;
  /** CDRs of calls SIPp did not complete (already failed calls); reported, not counted again. */
  cdrsOfFailedCalls: number;
  waitedSeconds: number;
  /** Completed calls failing the check: missing + duplicated + unrated + misCosted. */
  failed: number;
}

interface CdrRecord {
  call_id: string;
  disposition: string;
  status: string;
  duration_seconds: number;
  billable_seconds: number | null;
  cost: string | null;
}

/**
 * Waits (bounded) for every call SIPp completed in the run tagged `tag` to have an answered, rated
 * CDR, then checks each completed call by its Call-ID: exactly one answered CDR, rated, with a
 * duration the hold allows and the billable seconds and cost BENCH_TARIFF gives for that duration.
 */
async function checkCdrs(db: Client, tag: string, completedCallIds: readonly string[], holdMs: number): Promise<CdrCheck> {
  const t0 = Date.now();
  for (;;) {
    const r = await db.query(
      `SELECT count(DISTINCT call_id)::int AS n FROM cdrs WHERE call_id = ANY($1::text[]) AND disposition = 'answered' AND status = 'rated'`,
      [completedCallIds],
    );
    if ((r.rows[0] as { n: number }).n >= completedCallIds.length || Date.now() - t0 > CDR_WAIT_MS) break;
    await sleep(500);
  }
  const waitedSeconds = round((Date.now() - t0) / 1000, 1)!;
  const rows = (
    await db.query(
      `SELECT call_id, disposition, status, duration_seconds, billable_seconds, cost::text AS cost FROM cdrs WHERE call_id LIKE $1`,
      [`${tag}-%`],
    )
  ).rows as CdrRecord[];
  const byCall = new Map<string, CdrRecord[]>();
  for (const row of rows) byCall.set(row.call_id, [...(byCall.get(row.call_id) ?? []), row]);
  // The gateway's duration is answer to BYE, in whole seconds rounded up. It is at least the hold
  // (less 100 ms for SIPp's millisecond timer and the clocks' rounding), and at most the hold plus
  // two SIPp receive timeouts (the 200 reaching the user, the BYE reaching the gateway), plus a second.
  const minSeconds = Math.max(0, Math.ceil((holdMs - 100) / 1000));
  const maxSeconds = Math.ceil((holdMs + 2 * RECV_TIMEOUT_MS) / 1000) + 1;
  const c: CdrCheck = {
    completed: completedCallIds.length, written: rows.length, ok: 0, missing: 0, duplicated: 0, duplicateCdrs: 0, unrated: 0, misCosted: 0,
    durations: {}, otherCdrsOfCompletedCalls: 0, cdrsOfFailedCalls: 0, waitedSeconds, failed: 0,
  };
  const completed = new Set(completedCallIds);
  for (const [callId, cdrs] of byCall) if (!completed.has(callId)) c.cdrsOfFailedCalls += cdrs.length;
  for (const callId of completed) {
    const cdrs = byCall.get(callId) ?? [];
    const answered = cdrs.filter((x) => x.disposition === 'answered');
    c.otherCdrsOfCompletedCalls += cdrs.length - answered.length;
    if (answered.length === 0) {
      c.missing++;
      continue;
    }
    if (answered.length > 1) {
      c.duplicated++;
      c.duplicateCdrs += answered.length - 1;
      continue;
    }
    const [cdr] = answered;
    c.durations[cdr.duration_seconds] = (c.durations[cdr.duration_seconds] ?? 0) + 1;
    if (cdr.status !== 'rated') {
      c.unrated++;
      continue;
    }
    const want = expectedCharge(cdr.duration_seconds);
    if (cdr.duration_seconds < minSeconds || cdr.duration_seconds > maxSeconds || cdr.billable_seconds !== want.billable || cdr.cost !== want.cost) {
      c.misCosted++;
      c.firstMisCosted ??= `${callId}: duration ${cdr.duration_seconds} s (allowed ${minSeconds}-${maxSeconds}), billable ${cdr.billable_seconds} s, cost ${cdr.cost}; expected billable ${want.billable} s, cost ${want.cost}`;
      continue;
    }
    c.ok++;
  }
  c.failed = c.missing + c.duplicated + c.unrated + c.misCosted;
  return c;
}

/** Calls the gateway lists in progress (GET /v1/calls, every page); null if the endpoint does not answer. */
async function gatewayCallsInProgress(gw: Gateway): Promise<number | null> {
  try {
    let n = 0;
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const q: string = `/v1/calls?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const body = await api<{ data?: unknown[]; nextCursor?: string | null } | unknown[]>(gw, 'GET', q);
      const data = Array.isArray(body) ? body : (body.data ?? []);
      n += data.length;
      cursor = Array.isArray(body) ? null : (body.nextCursor ?? null);
      if (!cursor) break;
    }
    return n;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------- runs

interface TargetHandle {
  target: Target;
  /** Where the SIPp user sends. */
  port: () => number;
  /** After a run: a failure count of the target's own (gateway: completed calls failing the CDR check). */
  check?: (run: SippRun, tag: string) => Promise<number>;
  /** Pid whose process tree is the target (not for direct). */
  pid?: () => number;
  /** A fresh process before the post-dial delay and concurrency runs (nothing left from the ladder). */
  restart?: () => Promise<void>;
  callsInProgress?: () => Promise<number | null>;
  /** The gateway's HTTP port, for its event-loop delay on /metrics. */
  metricsPort?: () => number;
}

type LadderStep = SippRun & { failedTotal: number; attempts: number; failedInEarlierAttempts: number[] };

interface Ladder {
  steps: LadderStep[];
  maxCallsPerSecond: number;
  /**
   * The highest rate at which that step and every step below it passed with a post-dial delay p99
   * under PDD_BOUND_MS (0 if the first did not): the capacity a caller would not notice.
   */
  maxCallsPerSecondPddP99UnderBound: number;
  stoppedBecause: string;
}

async function ladder(h: TargetHandle, numbers: string, trunkPort: number, rates = RATES): Promise<Ladder> {
  const steps: Ladder['steps'] = [];
  let max = 0;
  let stoppedBecause = `every step passed (the ladder tops out at ${rates[rates.length - 1]}/s)`;
  await fresh(h, numbers, trunkPort, false);
  for (const rate of rates) {
    const calls = Math.round(rate * STEP_SECONDS);
    const failedInEarlierAttempts: number[] = [];
    let step: LadderStep | undefined;
    for (let attempt = 1; attempt <= STEP_ATTEMPTS; attempt++) {
      // A retry starts on a fresh process: nothing left from the failed attempt.
      if (attempt > 1) await fresh(h, numbers, trunkPort);
      const tag = `bc-${h.target}-r${rate}-${Date.now().toString(36)}`;
      log(`${h.target}: ${calls} calls at ${rate}/s${attempt > 1 ? `, attempt ${attempt}` : ''}`);
      const run = await callRun({ target: h.target, port: h.port(), rate, calls, holdMs: HOLD_MS, numbers, tag }, trunkPort, h.pid?.(), h.metricsPort?.());
      const own = h.check ? await h.check(run, tag) : 0;
      step = { ...run, failedTotal: run.failed + own, attempts: attempt, failedInEarlierAttempts: [...failedInEarlierAttempts] };
      log(`${h.target} ${rate}/s: ${run.successful}/${calls} completed, ${step.failedTotal} failed, authenticated INVITEs ${run.offeredRate}/s, pdd p50 ${run.pddP50Ms} ms p99 ${run.pddP99Ms} ms, CPU ${run.targetCpuMsPerCall} ms/call (${run.targetCpuMsPerCallRated ?? '–'} with rating), event-loop delay p99 ${run.eventLoopDelayP99Ms ?? '–'} ms max ${run.eventLoopDelayMaxMs ?? '–'} ms${run.cdr ? `, CDRs right for ${run.cdr.ok} of ${run.cdr.completed} completed calls (durations ${JSON.stringify(run.cdr.durations)})` : ''}`);
      if (step.failedTotal === 0) break;
      failedInEarlierAttempts.push(step.failedTotal);
    }
    steps.push(step!);
    if (step!.failedTotal > 0) {
      stoppedBecause = `failed calls at ${rate}/s in each of ${STEP_ATTEMPTS} attempts (${failedInEarlierAttempts.join(', ')})`;
      break;
    }
    max = rate;
  }
  let bounded = 0;
  for (const s of steps) {
    if (s.failedTotal > 0 || s.pddP99Ms === null || s.pddP99Ms >= PDD_BOUND_MS) break;
    bounded = s.targetRate;
  }
  return { steps, maxCallsPerSecond: max, maxCallsPerSecondPddP99UnderBound: bounded, stoppedBecause };
}

interface Concurrency {
  rate: number;
  calls: number;
  holdSeconds: number;
  failed: number;
  peakConcurrentCalls: number;
  /** Where peakConcurrentCalls comes from. */
  countedBy: string;
  peakSippOpenCalls: number;
  gatewayListedCalls?: number | null;
  before: Memory;
  atPeak: Memory;
  pssMiBPer1000Calls: number | null;
  rssMiBPer1000Calls: number | null;
  run: SippRun;
}

/**
 * A fresh target process (no state left from an overloaded ladder step: a proxy's transactions
 * still retransmitting, a gateway's backlog), warmed up with 100 calls (code compiled, pools filled).
 */
async function fresh(h: TargetHandle, numbers: string, trunkPort: number, restart = true): Promise<void> {
  if (!h.restart) return;
  if (restart) await h.restart();
  const tag = `bc-${h.target}-warm-${Date.now().toString(36)}`;
  const warm = await callRun({ target: h.target, port: h.port(), rate: 50, calls: 100, holdMs: 0, numbers, tag }, trunkPort);
  const own = h.check ? await h.check(warm, tag) : 0;
  // Always logged: a fresh process's first calls (its compile, its pools, a new Redis prefix) show in the delay.
  log(`${h.target}: warm-up pdd p50 ${warm.pddP50Ms} ms p99 ${warm.pddP99Ms} ms max ${warm.pddMaxMs} ms, UDP receive-buffer drops ${warm.udpReceiveBufferErrors ?? '–'} (${warm.targetSocketDrops ?? '–'} at the target)`);
  if (warm.failed + own > 0) {
    log(`${h.target}: ${warm.failed + own} of 100 warm-up calls failed (${warm.failed} in SIPp, ${own} by the CDR check)${warm.errors ? `; SIPp errors: ${errorSummary(warm.errors)}` : ''}`);
    if (warm.firstError) log(`${h.target}: first SIPp error of the warm-up:\n${warm.firstError}`);
  }
  await sleep(2000);
}

async function concurrency(h: TargetHandle, numbers: string, trunkPort: number, rate: number, calls: number, holdMs: number): Promise<Concurrency> {
  // A fresh, warmed-up process: its memory now is what the calls are counted against.
  await fresh(h, numbers, trunkPort);
  const before = memoryOf(h.pid!());
  let atPeak = before;
  let peakOpen = 0;
  let listed: number | null | undefined;
  const tag = `bc-${h.target}-conc-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const sendMs = (calls / rate) * 1000;
  let listing: Promise<void> | undefined;
  log(`${h.target}: ${calls} calls at ${rate}/s held ${holdMs / 1000} s`);
  const run = await callRun(
    {
      target: h.target, port: h.port(), rate, calls, holdMs, numbers, tag,
      onSample: (open) => {
        const m = memoryOf(h.pid!());
        if (m.pssMiB > atPeak.pssMiB) atPeak = m;
        peakOpen = Math.max(peakOpen, open);
        // Once every call has been placed and none has hung up yet: ask the gateway what it holds.
        if (!listing && h.callsInProgress && Date.now() - t0 > sendMs + 2000) {
          listing = h.callsInProgress().then((n) => void (listed = n));
        }
      },
    },
    trunkPort,
    h.pid!(),
  );
  await listing;
  const own = h.check ? await h.check(run, tag) : 0;
  const peak = Math.max(peakOpen, run.peakSippCalls);
  const concurrent = listed ?? peak;
  const per1000 = (a: number, b: number) => (concurrent > 0 ? round(((b - a) / concurrent) * 1000, 2) : null);
  return {
    rate, calls, holdSeconds: holdMs / 1000, failed: run.failed + own,
    peakConcurrentCalls: concurrent,
    countedBy: listed != null ? 'GET /v1/calls (every page) after the last call was placed' : 'SIPp user: calls open at once (per-second statistics)',
    peakSippOpenCalls: peak,
    ...(h.callsInProgress ? { gatewayListedCalls: listed ?? null } : {}),
    before, atPeak,
    pssMiBPer1000Calls: per1000(before.pssMiB, atPeak.pssMiB),
    rssMiBPer1000Calls: per1000(before.rssMiB, atPeak.rssMiB),
    run,
  };
}

// ------------------------------------------------------------------------------------- report

interface HotAccount {
  rate: number;
  /** All calls placed by the bench's one account, then the same load from SPREAD_ACCOUNTS accounts (a fresh, warmed gateway each). */
  oneAccount: HotAccountSide;
  spread: HotAccountSide;
  /** One account over spread: CPU per call, post-dial delay p50 and p99. */
  ratios: { cpuMsPerCall: number | null; pddP50: number | null; pddP99: number | null };
}

interface TargetResult {
  what: string;
  hotAccount?: HotAccount;
  balance?: BalanceCheck;
  /** Gateway: CPU time per second with no call (after start-up and provisioning), over IDLE_SECONDS. */
  idleCpuMsPerSecond?: number | null;
  ladder?: Ladder;
  maxCallsPerSecond?: number;
  pdd?: SippRun & { failedTotal: number };
  concurrency?: Concurrency;
}

/** The two capacity figures of each laddered target, in one sentence (calls.md's headline). */
function headline(r: Record<Target, TargetResult | undefined>): string {
  const laddered = (['gateway', 'gateway-nolimits', 'gateway-nocapture', 'kamailio'] as Target[]).filter((t) => r[t]?.ladder);
  const each = (f: (l: Ladder) => string) => laddered.map((t) => `${t} ${f(r[t]!.ladder!)}`).join(', ');
  const top = (l: Ladder) => (l.stoppedBecause.startsWith('every step') ? `≥ ${l.maxCallsPerSecond}` : String(l.maxCallsPerSecond));
  return (
    `Highest calls/s with no failed call: ${each(top)}. Stricter, with no failed call and a post-dial delay p99 under ${PDD_BOUND_MS / 1000} s at that rate and every rate below: ${each((l) => String(l.maxCallsPerSecondPddP99UnderBound))} ` +
    `(SIPp waits ${RECV_TIMEOUT_MS / 1000} s for each response, so the first figure counts calls that waited seconds to ring).`
  );
}

function markdown(result: Record<string, unknown>, r: Record<Target, TargetResult | undefined>, pddRate: number, added: Record<string, { p50Ms: number | null; p99Ms: number | null } | undefined>): string {
  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const m = machine();
  const lines = [
    '# Calls benchmark (B2BUA against Kamailio)',
    '',
    `${String(result.date ?? new Date().toISOString())}, \`${String(result.command ?? 'npm run bench:calls')}\` (${String(result.durationSeconds)} s), ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average before the run ${(result.loadAverageAtStart as number[]).join(' ')}.`,
    '',
    'SIPp user → target → SIPp trunk on 127.0.0.1, UDP. Each call: INVITE, 407, ACK, INVITE with digest credentials, 180, 200, ACK, hold, BYE, 200 ' +
      '(direct: no 407). Gateway: authentication, credit control, routing, media relay ports and a rated CDR per call (a call without exactly one answered, rated CDR at the expected cost counts as failed). ' +
      `Kamailio 5.6 (Debian): stateful proxy, ${KAMAILIO_CHILDREN} UDP workers, proxy digest authentication, record-route, dialog tracking. ` +
      'The 2-core machine is shared by SIPp (user and trunk), the target, PostgreSQL and Redis.',
    '',
    headline(r),
    '',
    `| target | highest calls/s with no failed call | … and post-dial delay p99 < ${PDD_BOUND_MS} ms | post-dial delay p50 / p99 ms at ${pddRate}/s | added over direct p50 / p99 ms | concurrent calls held | memory per 1,000 calls MiB (PSS) |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const t of ['gateway', 'kamailio', 'direct'] as Target[]) {
    const x = r[t];
    if (!x) continue;
    const top = x.ladder && x.ladder.stoppedBecause.startsWith('every step') ? `≥ ${x.maxCallsPerSecond}` : cell(x.maxCallsPerSecond);
    lines.push(
      `| ${t} | ${top} | ${x.ladder && x.ladder.steps.length > 1 ? x.ladder.maxCallsPerSecondPddP99UnderBound : '–'} | ${x.pdd ? `${cell(x.pdd.pddP50Ms)} / ${cell(x.pdd.pddP99Ms)}${x.pdd.failedTotal ? ` (${x.pdd.failedTotal} failed)` : ''}` : '–'} | ${added[t] ? `${cell(added[t]!.p50Ms)} / ${cell(added[t]!.p99Ms)}` : '–'} | ${x.concurrency ? `${x.concurrency.peakConcurrentCalls}${x.concurrency.failed ? ` (${x.concurrency.failed} failed)` : ''}` : '–'} | ${x.concurrency ? cell(x.concurrency.pssMiBPer1000Calls) : '–'} |`,
    );
  }
  lines.push('', `Ladder: ${RATES.join(', ')} calls/s, ${STEP_SECONDS} s of calls each, hold ${HOLD_MS / 1000} s; climbing stops at the first step with a failed call in each of ${STEP_ATTEMPTS} attempts (a retry runs on a fresh target process). Each row is a step's last attempt.`, '');
  lines.push('| target | calls/s | attempts (failed calls in earlier ones) | calls | completed | failed | authenticated INVITEs/s | post-dial delay p50 / p99 ms | SIPp calls open (peak) | retransmissions | UDP receive-buffer drops: all / at the target SIP socket | target CPU ms per call | failure causes |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of ['gateway', 'kamailio', 'direct'] as Target[]) {
    for (const s of r[t]?.ladder?.steps ?? []) {
      const causes = [
        ...Object.entries(s.failures).filter(([k]) => k !== 'FailedCall').map(([k, v]) => `${k} ${v}`),
        ...(s.cdr && s.cdr.missing ? [`missing CDR ${s.cdr.missing}`] : []),
        ...(s.cdr && s.cdr.duplicated ? [`duplicate CDRs ${s.cdr.duplicated} (${s.cdr.duplicateCdrs} extra)`] : []),
        ...(s.cdr && s.cdr.unrated ? [`unrated CDR ${s.cdr.unrated}`] : []),
        ...(s.cdr && s.cdr.misCosted ? [`mis-costed CDR ${s.cdr.misCosted}`] : []),
      ].join(', ');
      lines.push(`| ${t} | ${s.targetRate} | ${s.attempts}${s.failedInEarlierAttempts.length ? ` (${s.failedInEarlierAttempts.join(', ')})` : ''} | ${s.calls} | ${s.successful} | ${s.failedTotal} | ${cell(s.offeredRate)} | ${cell(s.pddP50Ms)} / ${cell(s.pddP99Ms)} | ${s.peakSippCalls} | ${s.retransmissions} | ${cell(s.udpReceiveBufferErrors)} / ${cell(s.targetSocketDrops)} | ${cell(s.targetCpuMsPerCall)} | ${causes} |`);
    }
  }
  for (const t of ['gateway', 'kamailio', 'direct'] as Target[]) {
    for (const s of [...(r[t]?.ladder?.steps ?? []), r[t]?.pdd, r[t]?.concurrency?.run]) {
      if (!s?.errors) continue;
      const top = errorSummary(s.errors);
      lines.push('', `${t}, ${s.calls} calls at ${s.targetRate}/s, SIPp errors: ${top}.`);
    }
  }
  const conc = (['gateway', 'kamailio'] as Target[]).map((t) => [t, r[t]?.concurrency] as const).filter(([, c]) => c);
  if (conc.length) {
    lines.push('', 'Concurrency: memory of the target\'s processes (sum over processes; PSS shares Kamailio\'s shared memory out once) before the run and at its peak.', '');
    lines.push('| target | calls/s | calls | hold s | calls held | counted by | PSS before → peak MiB | RSS before → peak MiB | PSS per 1,000 calls MiB | failed |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [t, c] of conc) {
      lines.push(`| ${t} | ${c!.rate} | ${c!.calls} | ${c!.holdSeconds} | ${c!.peakConcurrentCalls} | ${c!.countedBy} | ${c!.before.pssMiB} → ${c!.atPeak.pssMiB} | ${c!.before.rssMiB} → ${c!.atPeak.rssMiB} | ${cell(c!.pssMiBPer1000Calls)} | ${c!.failed} |`);
    }
  }
  const gw = r.gateway;
  if (gw?.ladder) {
    lines.push('', `Gateway CPU per call (user + system of the gateway process, worker included, from the run's start until every completed call's CDR is rated) and event-loop delay over each step; idle CPU before the ladder: ${cell(gw.idleCpuMsPerSecond)} ms per second.`, '');
    lines.push('| calls/s | CPU ms per call, until rated | CPU ms per call, SIPp run only | event-loop delay p99 / max ms | failed | Kamailio CPU ms per call |', '| --- | --- | --- | --- | --- | --- |');
    const kam = new Map((r.kamailio?.ladder?.steps ?? []).map((st) => [st.targetRate, st]));
    for (const st of gw.ladder.steps) {
      lines.push(`| ${st.targetRate} | ${cell(st.targetCpuMsPerCallRated)} | ${cell(st.targetCpuMsPerCall)} | ${cell(st.eventLoopDelayP99Ms)} / ${cell(st.eventLoopDelayMaxMs)} | ${st.failedTotal} | ${cell(kam.get(st.targetRate)?.targetCpuMsPerCall)} |`);
    }
  }
  if (gw?.hotAccount) {
    const hot = gw.hotAccount;
    lines.push('', `Hot account: ${hot.oneAccount.calls} calls at ${hot.rate}/s placed by one account, then the same load spread over ${hot.spread.accounts} accounts (one user each), each on a fresh, warmed gateway. One over spread: CPU per call ${cell(hot.ratios.cpuMsPerCall)}, post-dial delay p50 ${cell(hot.ratios.pddP50)}, p99 ${cell(hot.ratios.pddP99)}.`, '');
    lines.push('| accounts (charged on the CDRs) | calls | failed | CPU ms per call (until rated) | post-dial delay p50 / p99 ms | event-loop delay p99 ms |', '| --- | --- | --- | --- | --- | --- |');
    for (const x of [hot.oneAccount, hot.spread]) lines.push(`| ${x.accounts} (${x.accountsCharged}) | ${x.calls} | ${x.failed} | ${cell(x.cpuMsPerCall)} | ${cell(x.pddP50Ms)} / ${cell(x.pddP99Ms)} | ${cell(x.eventLoopDelayP99Ms)} |`);
  }
  if (gw?.balance) {
    const b = gw.balance;
    lines.push('', `**Balance check ${b.ok ? 'passed' : 'FAILED'}** after ${b.calls} calls at ${b.rate}/s from one account: top-ups ${b.topups} − rated CDR costs ${b.ratedCost} = ${b.expectedBalance}; the account's balance (GET /v1/accounts/:id) ${b.apiBalance}. CDRs ${b.cdrs}, rated ${b.ratedCdrs}, unrated ${b.unratedCdrs}; rated CDRs with a cost not charged exactly once in the ledger: ${cell(b.cdrsNotChargedOnce)}${b.ledgerNote ? ` (${b.ledgerNote})` : ''}; completed calls ${b.completed}, failing the per-call CDR check ${b.cdrCheckFailed}; settled after ${b.waitedSeconds} s.`);
  }
  if (result.notes) lines.push('', ...(result.notes as string[]).map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------- main

export async function run(): Promise<void> {
  requireTool('sipp', 'sip-tester');
  if (TARGETS.includes('kamailio')) requireTool('kamailio', 'kamailio');
  const started = Date.now();
  // Other work on the machine skews every figure here: the load before the bench starts says how much there was.
  const loadAverageAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  const work = mkdtempSync(join(tmpdir(), 'gw-bench-calls-'));
  const numbers = numbersFile(work);
  const trunkPort = await freeUdpPort();
  const results: Record<Target, TargetResult | undefined> = { gateway: undefined, 'gateway-nolimits': undefined, 'gateway-nocapture': undefined, kamailio: undefined, direct: undefined };
  const notes: string[] = [];

  // --- gateway: ladder, then the post-dial delay at half its highest rate, then concurrency.
  let pddRate = Number(process.env.BENCH_CALLS_PDD_RATE ?? 0);
  let concurrencyPlan: { rate: number; calls: number; holdMs: number } | undefined;
  const planConcurrency = (rate: number) => {
    const r = Math.max(5, Math.min(CONCURRENCY_MAX_RATE, rate));
    const calls = Math.min(CONCURRENCY_TARGET, Math.round(r * (CONCURRENCY_MAX_HOLD_S - 5)));
    return { rate: r, calls, holdMs: Math.round((calls / r + 5) * 1000) };
  };
  const pddRun = async (h: TargetHandle) => {
    await fresh(h, numbers, trunkPort);
    const calls = Math.max(PDD_MIN_CALLS, Math.round(pddRate * PDD_SECONDS));
    const tag = `bc-${h.target}-pdd-${Date.now().toString(36)}`;
    log(`${h.target}: post-dial delay, ${calls} calls at ${pddRate}/s`);
    const run = await callRun({ target: h.target, port: h.port(), rate: pddRate, calls, holdMs: HOLD_MS, numbers, tag }, trunkPort, h.pid?.(), h.metricsPort?.());
    const own = h.check ? await h.check(run, tag) : 0;
    log(`${h.target} pdd: p50 ${run.pddP50Ms} ms, p99 ${run.pddP99Ms} ms, ${run.failed + own} failed`);
    return { ...run, failedTotal: run.failed + own };
  };

  /** One gateway target: ladder, post-dial delay at half its highest rate, and (unless `ladderOnly`) concurrency. */
  const gatewayRun = async (target: 'gateway' | 'gateway-nolimits' | 'gateway-nocapture', targetEnv: Record<string, string>, withConcurrency: boolean) => {
    // One Redis prefix for every process of this target, as a deployment keeps its prefix across
    // restarts. A new prefix per process (the harness's default) looks to credit control like Redis
    // lost its keys: the first call opens its 1.5 s recovery window, the calls held meanwhile are
    // released at once, and that burst overflowed the gateway's UDP receive buffer (a trunk's 180
    // lost: SIPp's "unexpected 200 while expecting 180" in the warm-up after each restart).
    // What a stopped process leaves under the prefix (trunk channel and credit holds) lapses on its
    // own and cannot refuse a bench call: the bench's trunk has no channel limit, its accounts a
    // concurrency limit of 10^6 and a balance far above what a run holds.
    const redisPrefix = `gwbench:calls:${target}:${process.pid}:${Date.now().toString(36)}`;
    const env = { REDIS_PREFIX: redisPrefix, ...targetEnv };
    const db = await freshDatabase('calls');
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    let gw = await startGateway(db.url, env);
    try {
      const provisioned = await provision(gw, trunkPort);
      if (PHASES.has('hot')) await provisionSpread(gw, provisioned.rateDeckId);
      let idleCpuMsPerSecond: number | null = null;
      if (IDLE_SECONDS > 0) {
        await sleep(3000);
        const c0 = cpuMsOf(gw.proc.pid!);
        const t0 = Date.now();
        await sleep(IDLE_SECONDS * 1000);
        idleCpuMsPerSecond = round((cpuMsOf(gw.proc.pid!) - c0) / ((Date.now() - t0) / 1000), 1);
        log(`${target}: idle CPU ${idleCpuMsPerSecond} ms per second over ${IDLE_SECONDS} s`);
      }
      const h: TargetHandle = {
        target,
        port: () => gw.sipPort,
        pid: () => gw.proc.pid!,
        check: async (run, tag) => {
          const cdr = await checkCdrs(pg, tag, run.completedCallIds, run.holdMs);
          run.cdr = cdr;
          const cpu = cpuAtStart.get(run);
          if (cpu !== undefined && run.calls) run.targetCpuMsPerCallRated = round((cpuMsOf(gw.proc.pid!) - cpu) / run.calls, 2);
          if (cdr.failed) log(`${target}: CDR check failed for ${cdr.failed} of ${cdr.completed} completed calls: ${JSON.stringify({ ...cdr, durations: undefined })}`);
          return cdr.failed;
        },
        restart: async () => {
          await gw.stop();
          gw = await startGateway(db.url, env);
        },
        callsInProgress: () => gatewayCallsInProgress(gw),
        metricsPort: () => gw.httpPort,
      };
      const l = await ladder(h, numbers, trunkPort);
      const what =
        target === 'gateway'
          ? 'this gateway (node dist/src/main.js, ROLES api,sip,media,worker in one process), PostgreSQL and Redis on the same machine'
          : target === 'gateway-nocapture'
            ? 'the same gateway without SIP capture (SIP_CAPTURE=false): the baseline of the capture cost'
            : 'the same gateway with every per-source SIP limit off (SIP_RATE_LIMIT_PER_SECOND=0 and the rest)';
      const r: TargetResult = { what, idleCpuMsPerSecond, ladder: l, maxCallsPerSecond: l.maxCallsPerSecond };
      results[target] = r;
      if (!pddRate) pddRate = Math.max(1, Math.floor((l.maxCallsPerSecond || RATES[0]) / 2));
      if (PHASES.has('pdd')) r.pdd = await pddRun(h);
      if (withConcurrency && PHASES.has('concurrency')) {
        concurrencyPlan = planConcurrency(pddRate);
        r.concurrency = await concurrency(h, numbers, trunkPort, concurrencyPlan.rate, concurrencyPlan.calls, concurrencyPlan.holdMs);
      }
      const scenario = spreadScenario(work);
      if (PHASES.has('hot')) {
        const rate = Number(process.env.BENCH_CALLS_HOT_RATE ?? 0) || pddRate || RATES[0];
        const calls = Number(process.env.BENCH_CALLS_HOT_CALLS ?? 0) || Math.max(PDD_MIN_CALLS, rate * 10);
        const side = async (accounts: number, extra: Partial<UacOptions>): Promise<HotAccountSide> => {
          await fresh(h, numbers, trunkPort);
          const tag = `bc-${target}-hot${accounts}-${Date.now().toString(36)}`;
          log(`${target}: hot account, ${calls} calls at ${rate}/s from ${accounts} account(s)`);
          const run = await callRun({ target, port: gw.sipPort, rate, calls, holdMs: HOLD_MS, numbers, tag, ...extra }, trunkPort, gw.proc.pid!, gw.httpPort);
          const failed = run.failed + (await h.check!(run, tag));
          const charged = (await pg.query(`SELECT count(DISTINCT account_id)::int AS n FROM cdrs WHERE call_id LIKE $1`, [`${tag}-%`])).rows[0] as { n: number };
          log(`${target} hot account, ${accounts} account(s): ${failed} failed, CPU ${run.targetCpuMsPerCallRated} ms/call, pdd p50 ${run.pddP50Ms} ms p99 ${run.pddP99Ms} ms`);
          return { accounts, accountsCharged: charged.n, calls, failed, cpuMsPerCall: run.targetCpuMsPerCallRated ?? null, pddP50Ms: run.pddP50Ms, pddP99Ms: run.pddP99Ms, eventLoopDelayP99Ms: run.eventLoopDelayP99Ms ?? null, run };
        };
        const one = await side(1, {});
        const spread = await side(SPREAD_ACCOUNTS, { scenarioPath: scenario, numbers: callersNumbersFile(work, 'spread', (i) => spreadUser(i % SPREAD_ACCOUNTS)) });
        const ratio = (a: number | null, b: number | null) => (a != null && b ? round(a / b, 2) : null);
        r.hotAccount = { rate, oneAccount: one, spread, ratios: { cpuMsPerCall: ratio(one.cpuMsPerCall, spread.cpuMsPerCall), pddP50: ratio(one.pddP50Ms, spread.pddP50Ms), pddP99: ratio(one.pddP99Ms, spread.pddP99Ms) } };
      }
      if (PHASES.has('balance')) {
        const rate = Number(process.env.BENCH_CALLS_BALANCE_RATE ?? 0) || pddRate || RATES[0];
        const calls = Number(process.env.BENCH_CALLS_BALANCE_CALLS ?? 10_000);
        // An account of its own, two top-ups (one with all six decimals), one user.
        const acc = await api<{ id: string }>(gw, 'POST', '/v1/accounts', { name: 'bench-balance', currency: 'USD', rateDeckId: provisioned.rateDeckId, creditLimit: '0', maxConcurrentCalls: 1_000_000 });
        await api(gw, 'POST', `/v1/accounts/${acc.id}/topups`, { amount: '5000.00', reference: 'bench-balance-1' });
        await api(gw, 'POST', `/v1/accounts/${acc.id}/topups`, { amount: '1234.567891', reference: 'bench-balance-2' });
        await api(gw, 'POST', '/v1/users', { username: 'benchbalance', password: PASSWORD, accountId: acc.id });
        await fresh(h, numbers, trunkPort);
        const tag = `bc-${target}-balance-${Date.now().toString(36)}`;
        log(`${target}: balance check, ${calls} calls at ${rate}/s from one account`);
        const run = await callRun({ target, port: gw.sipPort, rate, calls, holdMs: HOLD_MS, numbers: callersNumbersFile(work, 'balance', () => 'benchbalance'), tag, scenarioPath: scenario }, trunkPort, gw.proc.pid!, gw.httpPort);
        await h.check!(run, tag);
        r.balance = await balanceCheck(gw, pg, acc.id, run, rate, CDR_WAIT_MS);
        log(`${target} BALANCE CHECK ${r.balance.ok ? 'PASSED' : 'FAILED'}: top-ups ${r.balance.topups} - rated costs ${r.balance.ratedCost} = ${r.balance.expectedBalance}; balance (API) ${r.balance.apiBalance}; ${r.balance.ratedCdrs} of ${r.balance.cdrs} CDRs rated, ${r.balance.cdrsNotChargedOnce ?? '?'} not charged exactly once; ${run.successful} of ${calls} calls completed, ${r.balance.cdrCheckFailed} failed the CDR check`);
      }
    } finally {
      await gw.stop();
      await pg.end();
      await db.drop();
      const redis = new IORedis(REDIS_URL);
      await deleteKeysWithPrefix(redis, redisPrefix).finally(() => redis.disconnect());
    }
  };
  const comparingLimits = TARGETS.includes('gateway-nolimits');
  // Without limits first: the post-dial delay rate it sets is then used for both.
  if (comparingLimits) await gatewayRun('gateway-nolimits', GATEWAY_NOLIMITS_ENV, false);
  // SIP capture's cost (issue 16): BENCH_CALLS_TARGETS=gateway-nocapture,gateway runs both in one
  // run, in the order listed (swap them to see what comes from running second).
  const noCapture = () => gatewayRun('gateway-nocapture', { ...GATEWAY_ENV, SIP_CAPTURE: 'false' }, false);
  const captureFirst = TARGETS.includes('gateway-nocapture') && TARGETS.indexOf('gateway') >= 0 && TARGETS.indexOf('gateway') < TARGETS.indexOf('gateway-nocapture');
  if (TARGETS.includes('gateway-nocapture') && !captureFirst) await noCapture();
  if (TARGETS.includes('gateway')) await gatewayRun('gateway', GATEWAY_ENV, !comparingLimits);
  if (captureFirst) await noCapture();

  // --- Kamailio: the same ladder, post-dial delay rate and concurrency run.
  if (TARGETS.includes('kamailio')) {
    const kamPort = await freeUdpPort();
    let kam = await startKamailio(kamPort, trunkPort);
    try {
      const h: TargetHandle = {
        target: 'kamailio',
        port: () => kamPort,
        pid: () => kam.pid,
        restart: async () => {
          await kam.stop();
          kam = await startKamailio(kamPort, trunkPort);
        },
      };
      const l = await ladder(h, numbers, trunkPort);
      results.kamailio = {
        what: `Kamailio 5.6 (Debian) stateful proxy: ${KAMAILIO_CHILDREN} UDP workers, pv_auth_check (proxy digest, one shared password), record_route, dialog (dlg_manage), t_relay to the trunk; shm 256 MiB`,
        ladder: l,
        maxCallsPerSecond: l.maxCallsPerSecond,
      };
      if (!pddRate) pddRate = Math.max(1, Math.floor((l.maxCallsPerSecond || RATES[0]) / 2));
      results.kamailio.pdd = await pddRun(h);
      concurrencyPlan ??= planConcurrency(pddRate);
      results.kamailio.concurrency = await concurrency(h, numbers, trunkPort, concurrencyPlan.rate, concurrencyPlan.calls, concurrencyPlan.holdMs);
    } finally {
      await kam.stop();
    }
  }

  // --- direct: SIPp user straight to the SIPp trunk, the floor.
  if (TARGETS.includes('direct')) {
    const h: TargetHandle = { target: 'direct', port: () => trunkPort };
    // Only the ladder's top rung: that SIPp alone (user and trunk) completes it on this machine.
    const l = await ladder(h, numbers, trunkPort, [RATES[RATES.length - 1]]);
    results.direct = { what: 'SIPp user calling the SIPp trunk with nothing between (no authentication): the floor; only the ladder\'s top rung is run', ladder: l, maxCallsPerSecond: l.maxCallsPerSecond };
    if (!pddRate) pddRate = Math.max(1, Math.floor((l.maxCallsPerSecond || RATES[0]) / 2));
    results.direct.pdd = await pddRun(h);
  }

  const floor = results.direct?.pdd;
  const addedOf = (t: Target) => {
    const p = results[t]?.pdd;
    if (!p || !floor) return undefined;
    return { p50Ms: round((p.pddP50Ms ?? NaN) - (floor.pddP50Ms ?? NaN), 3), p99Ms: round((p.pddP99Ms ?? NaN) - (floor.pddP99Ms ?? NaN), 3) };
  };
  const added = { gateway: addedOf('gateway'), kamailio: addedOf('kamailio') };
  const ratio = (a: number | null | undefined, b: number | null | undefined, digits = 3) => (a != null && b != null && b !== 0 ? round(a / b, digits) : null);
  const g = results.gateway;
  const k = results.kamailio;
  notes.push(
    'Post-dial delay: from the authenticated INVITE sent to the 180 received, timed by the SIPp user (gettimeofday actions, microseconds); "added" is the target\'s percentile minus the direct one at the same rate, so it includes the extra network hop.',
    `A step passes when every call completed in SIPp (INVITE to the BYE's 200) and, for the gateway, every completed call (by its Call-ID) has exactly one answered CDR, rated by the worker within ${CDR_WAIT_MS / 1000} s, whose billable seconds and cost are what the bench's deck (${money(BENCH_TARIFF.perMinuteMicros)}/min, connection fee ${money(BENCH_TARIFF.feeMicros)}, ${BENCH_TARIFF.firstIncrement}/${BENCH_TARIFF.nextIncrement} s increments, cost rounded up to the micro-unit) gives for its duration, a duration the ${HOLD_MS / 1000} s hold allows. A step that fails runs once more on a fresh target process; climbing stops when both attempts fail.`,
    `Two capacity figures: the highest rate with no failed call, and the stricter one where that step and every step below also had a post-dial delay p99 under ${PDD_BOUND_MS} ms. SIPp waits ${RECV_TIMEOUT_MS / 1000} s for each response, so a saturated target whose callers wait seconds for ringing still passes the first.`,
    'Kamailio\'s memory is the sum over its processes: PSS shares its shared memory (tm transactions, dialogs) out once; summed RSS counts it once per worker. The gateway is one process.',
    'Gateway calls held are counted by GET /v1/calls when it answers, else by the calls the SIPp user has open; Kamailio\'s by the SIPp user. The post-dial delay and concurrency runs each start a fresh target process (nothing left from an overloaded ladder step) and warm it with 100 calls first.',
    'Target CPU ms per call: user + system time of the target\'s processes over the run, divided by its calls; PostgreSQL and Redis (the gateway\'s) are not counted. UDP receive-buffer drops: the kernel\'s RcvbufErrors over the run, machine-wide, and the drops counted on the target\'s SIP socket (/proc/net/udp); a 180 dropped there is never retransmitted, so the caller then gets the 200 without a 180, which SIPp counts as a failed call.',
    'Direct runs only the ladder\'s top rung (to show SIPp alone completes it here) and the post-dial delay run.',
    'The SIPp trunk sends 100, 180, then 200 after a 50 ms ring; SIPp takes about a millisecond per message it sends, which is in the direct floor too.',
  );
  const result = {
    // The knobs this run was given, so the results say how to repeat it.
    command: [...Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_CALLS_')).map(([k, v]) => `${k}=${v}`), 'npm run bench:calls'].join(' '),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    loadAverageAtStart,
    scenario: {
      user: 'bench/calls/uac.xml (direct: bench/calls/uac-noauth.xml), numbers +1212555xxxx, one UDP socket',
      trunk: 'bench/calls/uas.xml',
      kamailioConfig: 'bench/calls/kamailio.cfg.tpl',
      ladderCallsPerSecond: RATES,
      stepSeconds: STEP_SECONDS,
      holdMs: HOLD_MS,
      pddRate,
      concurrency: concurrencyPlan ?? null,
    },
    summary: {
      maxCallsPerSecond: { gateway: g?.maxCallsPerSecond ?? null, kamailio: k?.maxCallsPerSecond ?? null, direct: results.direct?.maxCallsPerSecond ?? null },
      maxCallsPerSecondWithPddP99Under1s: { gateway: g?.ladder?.maxCallsPerSecondPddP99UnderBound ?? null, kamailio: k?.ladder?.maxCallsPerSecondPddP99UnderBound ?? null },
      postDialDelayMs: Object.fromEntries((['gateway', 'kamailio', 'direct'] as Target[]).filter((t) => results[t]?.pdd).map((t) => [t, { rate: pddRate, p50: results[t]!.pdd!.pddP50Ms, p99: results[t]!.pdd!.pddP99Ms, failed: results[t]!.pdd!.failedTotal }])),
      postDialDelayAddedMs: added,
      concurrentCallsHeld: { gateway: g?.concurrency?.peakConcurrentCalls ?? null, kamailio: k?.concurrency?.peakConcurrentCalls ?? null },
      memoryMiBPer1000Calls: { gateway: g?.concurrency?.pssMiBPer1000Calls ?? null, kamailio: k?.concurrency?.pssMiBPer1000Calls ?? null, measure: 'PSS summed over the process tree, peak minus before, per 1,000 calls held' },
      gatewayCpuMsPerCall: Object.fromEntries((g?.ladder?.steps ?? []).map((st) => [st.targetRate, { untilRated: st.targetCpuMsPerCallRated ?? null, sippRun: st.targetCpuMsPerCall ?? null, failed: st.failedTotal }])),
      kamailioCpuMsPerCall: Object.fromEntries((k?.ladder?.steps ?? []).map((st) => [st.targetRate, st.targetCpuMsPerCall ?? null])),
      gatewayIdleCpuMsPerSecond: g?.idleCpuMsPerSecond ?? null,
      gatewayEventLoopDelayP99Ms: Object.fromEntries((g?.ladder?.steps ?? []).map((st) => [st.targetRate, st.eventLoopDelayP99Ms ?? null])),
      hotAccount: g?.hotAccount ? { rate: g.hotAccount.rate, ratios: g.hotAccount.ratios, ...Object.fromEntries((['oneAccount', 'spread'] as const).map((x) => { const { run: _run, ...rest } = g.hotAccount![x]; return [x, rest]; })) } : null,
      balanceCheck: g?.balance ?? null,
    },
    ratios: {
      gatewayOverKamailio: {
        maxCallsPerSecond: ratio(g?.maxCallsPerSecond, k?.maxCallsPerSecond),
        postDialDelayAddedP50: ratio(added.gateway?.p50Ms, added.kamailio?.p50Ms, 2),
        postDialDelayAddedP99: ratio(added.gateway?.p99Ms, added.kamailio?.p99Ms, 2),
        memoryPer1000Calls: ratio(g?.concurrency?.pssMiBPer1000Calls, k?.concurrency?.pssMiBPer1000Calls, 2),
      },
    },
    targets: results,
    notes,
  };
  if (comparingLimits) {
    writeLimitsResult(results, { durationSeconds: result.durationSeconds, loadAverageAtStart, pddRate });
    rmSync(work, { recursive: true, force: true });
    return;
  }
  console.log(JSON.stringify(result.summary, null, 2));
  const json = writeResult('calls', result);
  const md = resolve(resultsDir(), 'calls.md');
  writeFileSync(md, markdown(JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>, results, pddRate, added));
  console.log(`written to ${json} and ${md}`);
  rmSync(work, { recursive: true, force: true });
  if (existsSync(work)) log(`could not remove ${work}`);
}

/** SIP packets the gateway receives per bench call: INVITE, ACK, INVITE, ACK, BYE from the user; 100, 180, 200, 200 from the trunk. */
const PACKETS_PER_CALL = 9;

/** The source guard's check per packet, timed alone: a steady mix of known sources, requests and responses. */
function checkCost(): { packets: number; sources: number; perPacketNs: number; perCallUs: number } {
  const guard = new SourceGuard({ ratePerSecond: 1_000_000, trustedRatePerSecond: 0 });
  guard.setTrusted(['192.0.2.0/24']);
  const sources = 1000;
  const addresses = Array.from({ length: sources }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  const packets = 2_000_000;
  for (let i = 0; i < 100_000; i++) guard.request(addresses[i % sources]);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < packets; i++) {
    const a = addresses[i % sources];
    if (i % 2 === 0) guard.request(a);
    else guard.other(a);
  }
  const perPacketNs = Number(process.hrtime.bigint() - t0) / packets;
  return { packets, sources, perPacketNs: +perPacketNs.toFixed(1), perCallUs: +((perPacketNs * PACKETS_PER_CALL) / 1000).toFixed(2) };
}

/**
 * The per-source limits' cost, from a run of gateway-nolimits and gateway: the ladder's highest
 * rate for each, and at each rate both completed the target's CPU time per call, whose ratio is
 * the finer measure (the gateway is CPU-bound here, so calls/s scale as its inverse).
 */
function writeLimitsResult(results: Record<Target, TargetResult | undefined>, run: { durationSeconds: number; loadAverageAtStart: number[]; pddRate: number }): void {
  const off = results['gateway-nolimits'];
  const on = results.gateway;
  const stepsOf = (r?: TargetResult) => new Map((r?.ladder?.steps ?? []).filter((s) => s.failedTotal === 0).map((s) => [s.targetRate, s]));
  const offSteps = stepsOf(off);
  const onSteps = stepsOf(on);
  const perRate = [...offSteps.keys()]
    .filter((rate) => onSteps.has(rate))
    .map((rate) => {
      const a = offSteps.get(rate)!;
      const b = onSteps.get(rate)!;
      const ratio = a.targetCpuMsPerCall && b.targetCpuMsPerCall ? round(b.targetCpuMsPerCall / a.targetCpuMsPerCall, 3) : null;
      return { rate, cpuMsPerCallOff: a.targetCpuMsPerCall ?? null, cpuMsPerCallOn: b.targetCpuMsPerCall ?? null, cpuRatioOnOverOff: ratio, pddP50MsOff: a.pddP50Ms, pddP50MsOn: b.pddP50Ms, pddP99MsOff: a.pddP99Ms, pddP99MsOn: b.pddP99Ms };
    });
  const cpuOff = perRate.reduce((t, r) => t + (r.cpuMsPerCallOff ?? 0), 0);
  const cpuOn = perRate.reduce((t, r) => t + (r.cpuMsPerCallOn ?? 0), 0);
  const cpuCost = cpuOff > 0 ? round((cpuOn / cpuOff - 1) * 100, 2) : null;
  const maxOff = off?.maxCallsPerSecond ?? null;
  const checks = checkCost();
  const maxOn = on?.maxCallsPerSecond ?? null;
  const result = {
    command: `BENCH_CALLS_TARGETS=${TARGETS.join(',')} BENCH_CALLS_RATES=${RATES.join(',')} BENCH_CALLS_STEP_SECONDS=${STEP_SECONDS} npm run bench:calls`,
    durationSeconds: run.durationSeconds,
    loadAverageAtStart: run.loadAverageAtStart,
    summary: {
      maxCallsPerSecond: { limitsOff: maxOff, limitsOn: maxOn, costPercent: maxOff && maxOn ? round((1 - maxOn / maxOff) * 100, 2) : null },
      cpuPerCallCostPercent: cpuCost,
      checksMicroseconds: checks,
      postDialDelayMs: {
        rate: run.pddRate,
        limitsOff: off?.pdd ? { p50: off.pdd.pddP50Ms, p99: off.pdd.pddP99Ms, failed: off.pdd.failedTotal } : null,
        limitsOn: on?.pdd ? { p50: on.pdd.pddP50Ms, p99: on.pdd.pddP99Ms, failed: on.pdd.failedTotal } : null,
      },
    },
    perRate,
    notes: [
      'gateway-nolimits: every per-source limit off (SIP_RATE_LIMIT_PER_SECOND=0, SIP_TRUNK_RATE_LIMIT_PER_SECOND=0, SIP_MAX_TRANSACTIONS_PER_SOURCE=0, SIP_MAX_TRANSACTIONS=0, TCP caps 0). gateway: the checks on, with the per-address rate and open-transaction limits raised to 1,000,000 because every bench call comes from 127.0.0.1 (nothing is refused; what is measured is what the checks cost). The total transaction cap is at its default (100,000).',
      'cpuPerCallCostPercent: the gateway process\'s CPU time per call summed over the rates both targets completed without a failed call, limits on over off, minus 1. The ladder\'s highest rate is coarse (its steps are 50 calls/s apart), so the CPU per call is the finer figure.',
      `checksMicroseconds: the source guard's per-packet check timed alone in this process (${checks.packets.toLocaleString('en')} packets from ${checks.sources.toLocaleString('en')} addresses): ${checks.perPacketNs} ns a packet, about ${checks.perCallUs} µs for the ~${PACKETS_PER_CALL} packets of a call, against the gateway's CPU per call above (the open-transaction count adds two Map updates per server transaction).`,
      'Run on the shared 2-core machine while other engineers also used it, with a reduced ladder; the two targets run one after the other, so load from other work can fall on either.',
    ],
    targets: { 'gateway-nolimits': off, gateway: on },
  };
  console.log(JSON.stringify(result.summary, null, 2));
  const json = writeResult('calls-limits', result);
  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const md = [
    '# Calls benchmark: cost of the per-source SIP limits',
    '',
    `${new Date().toISOString()}, \`${result.command}\` (${run.durationSeconds} s); load average before the run ${run.loadAverageAtStart.join(' ')}.`,
    '',
    `Highest calls/s with no failed call: limits off ${cell(maxOff)}, on ${cell(maxOn)}. Gateway CPU per call, limits on over off: ${cpuCost === null ? '–' : `${cpuCost >= 0 ? '+' : ''}${cpuCost} %`}. The per-packet check alone: ${checks.perPacketNs} ns (about ${checks.perCallUs} µs a call).`,
    '',
    '| calls/s | CPU ms per call, off | on | on / off | post-dial delay p50 ms, off / on | p99 ms, off / on |',
    '| --- | --- | --- | --- | --- | --- |',
    ...perRate.map((r) => `| ${r.rate} | ${cell(r.cpuMsPerCallOff)} | ${cell(r.cpuMsPerCallOn)} | ${cell(r.cpuRatioOnOverOff)} | ${cell(r.pddP50MsOff)} / ${cell(r.pddP50MsOn)} | ${cell(r.pddP99MsOff)} / ${cell(r.pddP99MsOn)} |`),
    '',
    `Post-dial delay run at ${run.pddRate}/s: off ${cell(result.summary.postDialDelayMs.limitsOff?.p50)} / ${cell(result.summary.postDialDelayMs.limitsOff?.p99)} ms, on ${cell(result.summary.postDialDelayMs.limitsOn?.p50)} / ${cell(result.summary.postDialDelayMs.limitsOn?.p99)} ms (p50 / p99).`,
    '',
    ...result.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  const mdPath = resolve(resultsDir(), 'calls-limits.md');
  writeFileSync(mdPath, md);
  console.log(`written to ${json} and ${mdPath}`);
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
