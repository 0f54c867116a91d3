/**
 * End-to-end call tests: the real gateway (startTestApp, real PostgreSQL and Redis) on 127.0.0.1,
 * SIPp playing the user's phone, its devices and the trunks, plain UDP sockets of the test playing
 * the RTP endpoints (their ports go into SIPp's SDP with -set rtp). Everything is bounded in time.
 *
 * Addresses: users and the gateway use 127.0.0.1. Trunks that send calls in use TRUNK_IP
 * (its trunk's inboundAddresses is TRUNK_IP/32): were it 127.0.0.1, every user's INVITE would
 * pass for a trunk call. STRANGER_IP is on no trunk's list. (The baresip test uses 127.0.0.2.)
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CdrView } from '../../src/billing/cdrs.service';
import { startTestApp, TestApp, unique, uniqueUsNumber } from '../support/app';
import { freePort } from '../support/net';
import { type Rtpengine, freeNgPort, startRtpengine } from '../support/rtpengine';
import { PeerRun, runPeer } from '../support/sip-peers';
import { createAccount, createDeck } from '../billing/support';
import { rtpPacket, UdpPeer } from '../media/udp-peer';

export const SCENARIOS = join(__dirname, 'scenarios');
export const TRUNK_IP = '127.0.0.33';
export const STRANGER_IP = '127.0.0.44';

/** The tariffs of the test deck, in micro-units (exact integer arithmetic for expected costs). */
export const TARIFF = {
  /** prefix 1: 0.600000/min (0.01/s), connection fee 0.010000, increments 1/1 */
  us: { prefix: '1', ratePerMinute: '0.600000', perMinuteMicros: 600_000n, feeMicros: 10_000n },
  /** prefix 1212: 1.200000/min, connection fee 0.020000, increments 1/1 (toll-free targets) */
  nyc: { prefix: '1212', ratePerMinute: '1.200000', perMinuteMicros: 1_200_000n, feeMicros: 20_000n },
};
export type Tariff = (typeof TARIFF)['us'];

export interface CallsGateway {
  t: TestApp;
  sipPort: number;
  rtpMin: number;
  rtpMax: number;
  deckId: string;
  /** With MEDIA_ENGINE=rtpengine: the test's rtpengine (its RTP range is rtpMin–rtpMax). */
  rtpengine?: Rtpengine;
  close(): Promise<void>;
}

/**
 * The media engine of the call tests: `engine`, else GW_TEST_MEDIA_ENGINE (so the same test files run
 * against either: `GW_TEST_MEDIA_ENGINE=rtpengine npx jest test/calls/outbound.test.ts`), else builtin.
 */
export const testMediaEngine = (engine?: 'builtin' | 'rtpengine'): 'builtin' | 'rtpengine' =>
  engine ?? (process.env.GW_TEST_MEDIA_ENGINE === 'rtpengine' ? 'rtpengine' : 'builtin');

/**
 * The gateway with short timers for tests, SIP on 127.0.0.1:<free port>, its own RTP range. With the
 * rtpengine media engine, a real rtpengine (userspace) relays on that range instead of the gateway.
 */
export async function startCallsGateway(o: { rtpMin: number; rtpMax: number; env?: Record<string, string>; engine?: 'builtin' | 'rtpengine' }): Promise<CallsGateway> {
  const sipPort = await freePort();
  const rtpengine = testMediaEngine(o.engine) === 'rtpengine' ? await startRtpengine({ ngPort: await freeNgPort(), portMin: o.rtpMin, portMax: o.rtpMax }) : undefined;
  const engineEnv: Record<string, string> = rtpengine ? { MEDIA_ENGINE: 'rtpengine', RTPENGINE_NG: rtpengine.ng } : {};
  const t = await startTestApp({
    SIP_LISTEN: `127.0.0.1:${sipPort}`,
    SIP_PUBLIC_ADDRESS: '127.0.0.1',
    RTP_PORT_MIN: String(o.rtpMin),
    RTP_PORT_MAX: String(o.rtpMax),
    CALL_RING_TIMEOUT_SECONDS: '3',
    TRUNK_SETUP_TIMEOUT_MS: '1500',
    MEDIA_INACTIVITY_SECONDS: '0',
    ...engineEnv,
    ...o.env,
  });
  const deckId = await createDeck(t, [
    `1,United States,${TARIFF.us.ratePerMinute},0.010000,1,1,`,
    `1212,New York,${TARIFF.nyc.ratePerMinute},0.020000,1,1,`,
    '1800,US toll-free,0.000000,0,1,1,',
  ]);
  const close = async () => {
    await t.close();
    await rtpengine?.stop();
  };
  return { t, sipPort, rtpMin: o.rtpMin, rtpMax: o.rtpMax, deckId, rtpengine, close };
}

// ---------------------------------------------------------------- provisioning

export async function newAccount(gw: CallsGateway, balance?: string): Promise<string> {
  return createAccount(gw.t, { deckId: gw.deckId, balance });
}

export interface User {
  id: string;
  username: string;
  password: string;
  accountId: string;
}

export async function newUser(gw: CallsGateway, accountId: string): Promise<User> {
  const username = unique('cu');
  const password = `pw-${unique('p')}`;
  const r = await gw.t.http().post('/v1/users').send({ username, password, accountId }).expect(201);
  return { id: r.body.id as string, username, password, accountId };
}

/** A trunk at 127.0.0.1:port (outbound) and/or allowed to send calls from `inboundAddresses`. */
export async function newTrunk(gw: CallsGateway, o: { port: number; host?: string; username?: string; password?: string; inboundAddresses?: string[] }): Promise<string> {
  const r = await gw.t
    .http()
    .post('/v1/trunks')
    .send({ name: unique('trunk'), host: o.host ?? '127.0.0.1', port: o.port, transport: 'udp', username: o.username ?? null, password: o.password ?? null, inboundAddresses: o.inboundAddresses ?? [] })
    .expect(201);
  return r.body.id as string;
}

/** A route for exactly this number (the whole number as prefix: longest match, no other test's route wins). */
export async function newRoute(gw: CallsGateway, e164: string, trunkId: string, priority = 100): Promise<void> {
  await gw.t.http().post('/v1/routes').send({ prefix: e164.replace(/^\+/, ''), trunkId, priority }).expect(201);
}

export async function newDid(gw: CallsGateway, userId: string | null, forwarding?: Record<string, unknown>): Promise<string> {
  const e164 = uniqueUsNumber();
  await gw.t.http().post('/v1/numbers').send({ e164, userId, ...(forwarding ? { forwarding } : {}) }).expect(201);
  return e164;
}

/**
 * The gateway caches its trunk list for 2 s, but a change made through the same process is seen
 * at once (TrunksService.revision), which is the case in these tests: nothing to wait for. Kept as
 * a named step so a multi-process test can set a wait.
 */
export const TRUNK_CACHE_WAIT_MS = 0;
export const trunksSettled = () => sleep(TRUNK_CACHE_WAIT_MS);

/** Trunks of a test are disabled at its end: the database is shared by every test file of the run. */
export async function disableTrunks(gw: CallsGateway, ids: string[]): Promise<void> {
  for (const id of ids) await gw.t.http().patch(`/v1/trunks/${id}`).send({ enabled: false });
}

/** An account topped up with `balance`, its user, a fresh destination with a route to one new trunk (its id pushed to `trunks`). */
export async function outboundCaller(gw: CallsGateway, trunks: string[], balance: string) {
  const accountId = await newAccount(gw, balance);
  const user = await newUser(gw, accountId);
  const dest = newDestination();
  const trunkPort = await freePort();
  const trunkId = await newTrunk(gw, { port: trunkPort });
  trunks.push(trunkId);
  await newRoute(gw, dest, trunkId);
  await trunksSettled();
  return { accountId, user, dest, trunkPort, trunkId };
}

/** A fresh valid US number (area 201, rate prefix 1). */
export const newDestination = (): string => uniqueUsNumber();

// ---------------------------------------------------------------- CDRs and money

/** A rated CDR as GET /v1/cdrs returns it (the API's own view type; waitForCdrs waits until rated). */
export type Cdr = CdrView & { billableSeconds: number; cost: string };

/**
 * The account's CDRs once at least `n` exist and none is still pending (the in-process worker
 * rates them); then waits `settleMs` more and reads again, so that a CDR too many shows up too.
 */
export async function waitForCdrs(gw: CallsGateway, filter: Record<string, string>, n: number, timeoutMs = 15_000, settleMs = 500): Promise<Cdr[]> {
  const query = new URLSearchParams({ ...filter, limit: '1000' }).toString();
  const read = async () => (await gw.t.http().get(`/v1/cdrs?${query}`).expect(200)).body.data as Cdr[];
  const deadline = Date.now() + timeoutMs;
  let list: Cdr[] = [];
  for (;;) {
    list = await read();
    if (list.length >= n && list.every((c) => c.status !== 'pending')) break;
    if (Date.now() > deadline) throw new Error(`expected ${n} rated CDR(s) for ${query} within ${timeoutMs} ms; have ${JSON.stringify(list, null, 1)}`);
    await sleep(100);
  }
  await sleep(settleMs);
  list = await read();
  return list.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || (a.endedAt ?? '').localeCompare(b.endedAt ?? ''));
}

/** The CDRs for this filter as they are after `ms` (for asserting that none, or no answered one, appeared). */
export async function cdrsAfter(gw: CallsGateway, filter: Record<string, string>, ms = 1000): Promise<Cdr[]> {
  await sleep(ms);
  const query = new URLSearchParams({ ...filter, limit: '1000' }).toString();
  // The API lists newest first; the call tests read them in call order.
  return ((await gw.t.http().get(`/v1/cdrs?${query}`).expect(200)).body.data as Cdr[]).reverse();
}

export const micros = (amount: string): bigint => {
  const [i, f = ''] = amount.replace(/^-/, '').split('.');
  const v = BigInt(i) * 1_000_000n + BigInt((f + '000000').slice(0, 6));
  return amount.startsWith('-') ? -v : v;
};
export const money = (m: bigint): string => {
  const neg = m < 0n;
  const a = neg ? -m : m;
  return `${neg ? '-' : ''}${a / 1_000_000n}.${(a % 1_000_000n).toString().padStart(6, '0')}`;
};

/** connectionFee + ratePerMinute × billable / 60, rounded up to the micro-unit (API.md, rating). */
export function expectedCost(tariff: Tariff, billableSeconds: number): string {
  const perMinute = tariff.perMinuteMicros * BigInt(billableSeconds);
  return money(tariff.feeMicros + (perMinute + 59n) / 60n);
}

export async function balanceOf(gw: CallsGateway, accountId: string): Promise<string> {
  return (await gw.t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance as string;
}

export interface LedgerEntry {
  kind: string;
  amount: string;
  cdrId: string | null;
}
export async function ledgerOf(gw: CallsGateway, accountId: string): Promise<LedgerEntry[]> {
  // The API lists newest first; the call tests read the ledger in booking order.
  return ((await gw.t.http().get(`/v1/accounts/${accountId}/ledger?limit=1000`).expect(200)).body.data as LedgerEntry[]).reverse();
}

/** The balance once it equals `expected`, or what it is after `ms` (the caller asserts). */
export async function settledBalance(gw: CallsGateway, accountId: string, expected: string, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  let b = await balanceOf(gw, accountId);
  while (b !== expected && Date.now() < deadline) {
    await sleep(100);
    b = await balanceOf(gw, accountId);
  }
  return b;
}

// ---------------------------------------------------------------- SIPp

export interface Sipp {
  /** Resolves when SIPp exits (code 0: every call went as scripted). */
  done: Promise<PeerRun>;
  /** SIPp's working directory: its -trace_msg log and the files the scenarios write. */
  dir: string;
}

/** A copy of a scenario with `replacements` applied (SIPp takes no variables in status lines or <recv response>). */
export function scenarioWith(name: string, replacements: Record<string, string>): string {
  let xml = readFileSync(join(SCENARIOS, name), 'utf8');
  for (const [from, to] of Object.entries(replacements)) {
    if (!xml.includes(from)) throw new Error(`${name} has no ${from}`);
    xml = xml.split(from).join(to);
  }
  const file = join(mkdtempSync(join(tmpdir(), 'gw-scn-')), name);
  writeFileSync(file, xml);
  return file;
}

const scenarioPath = (s: string) => (s.startsWith('/') ? s : join(SCENARIOS, s));

function common(o: { timeoutSeconds: number; vars?: Record<string, string | number>; pauseMs?: number }): string[] {
  const args = ['-m', '1', '-timeout', `${o.timeoutSeconds}s`, '-timeout_error', '-nostdin', '-trace_msg', '-trace_err'];
  if (o.pauseMs !== undefined) args.push('-d', String(o.pauseMs));
  for (const [k, v] of Object.entries(o.vars ?? {})) args.push('-set', k, String(v));
  return args;
}

/**
 * SIPp as a server (a trunk or a user's device) on `ip`:`port`; resolves once its socket is bound,
 * so the gateway cannot reach the port before it listens.
 */
export async function sippServer(o: { scenario: string; port: number; ip?: string; vars?: Record<string, string | number>; pauseMs?: number; timeoutSeconds?: number }): Promise<Sipp> {
  const timeout = o.timeoutSeconds ?? 20;
  const ip = o.ip ?? '127.0.0.1';
  for (let attempt = 1; ; attempt++) {
    for (let i = 0; i < 50 && boundUdpPorts().has(o.port); i++) await sleep(20);
    const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
    const args = ['-sf', scenarioPath(o.scenario), '-i', ip, '-bind_local', '-p', String(o.port), '-t', 'u1', ...common({ ...o, timeoutSeconds: timeout })];
    const done = runPeer('sipp', args, (timeout + 10) * 1000, dir);
    try {
      await waitUntilBound(o.port, done);
      return { done, dir };
    } catch (e) {
      // freePort() is a check, not a reservation: another worker may hold the port for a moment.
      if (attempt >= 5 || !/Address already in use/.test(String(e))) throw e;
      await sleep(100 * attempt);
    }
  }
}

/**
 * SIPp as a client against the gateway. `user` answers the 407 (the digest uri is the
 * Request-URI); `ip` is the source address (a trunk's, or a stranger's).
 */
export function sippClient(
  gw: CallsGateway,
  o: { scenario: string; dialled: string; from: string; rtp: number; user?: User; ip?: string; localPort?: number; vars?: Record<string, string | number>; pauseMs?: number; timeoutSeconds?: number },
): Sipp {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
  const timeout = o.timeoutSeconds ?? 20;
  const args = [
    `127.0.0.1:${gw.sipPort}`,
    '-sf', scenarioPath(o.scenario),
    '-i', o.ip ?? '127.0.0.1',
    '-bind_local',
    '-p', String(o.localPort ?? 0),
    '-t', 'u1',
    '-s', o.dialled,
    ...common({ ...o, timeoutSeconds: timeout, vars: { user: o.from, rtp: o.rtp, ...o.vars } }),
  ];
  if (o.user) args.push('-au', o.user.username, '-ap', o.user.password, '-auth_uri', `${o.dialled}@127.0.0.1:${gw.sipPort}`);
  return { done: runPeer('sipp', args, (timeout + 10) * 1000, dir), dir };
}

/** REGISTERs `user` from 127.0.0.1:localPort (a device), with digest, for `expires` seconds. */
export async function registerDevice(gw: CallsGateway, user: User, localPort: number, expires = 300): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
  const args = [
    `127.0.0.1:${gw.sipPort}`,
    '-sf', join(__dirname, '..', 'registrar', 'scenarios', 'register.xml'),
    '-i', '127.0.0.1', '-bind_local', '-p', String(localPort), '-t', 'u1',
    '-s', user.username, '-au', user.username, '-ap', user.password,
    '-m', '1', '-timeout', '10s', '-timeout_error', '-nostdin', '-trace_msg', '-trace_err',
    '-set', 'expires', String(expires),
  ];
  const run = await runPeer('sipp', args, 20_000, dir);
  if (run.code !== 0) throw new Error(`REGISTER of ${user.username} from port ${localPort} failed (SIPp ${run.code}):\n${describeRun(run)}`);
}

/** UDP ports bound on this host, from /proc/net/udp (a probe that binds the port itself would race SIPp). */
function boundUdpPorts(): Set<number> {
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    if (local) ports.add(parseInt(local.split(':')[1], 16));
  }
  return ports;
}

async function waitUntilBound(port: number, done: Promise<PeerRun>): Promise<void> {
  let exited: PeerRun | undefined;
  void done.then((r) => (exited = r));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (exited) throw new Error(`SIPp exited (${exited.code}) before listening on port ${port}:\n${describeRun(exited)}`);
    // Bound and SIPp still running (it exits at once when its bind fails).
    if (boundUdpPorts().has(port)) {
      await sleep(50);
      if (!exited) return;
      continue;
    }
    if (Date.now() > deadline) throw new Error(`SIPp did not bind port ${port} within 5 s`);
    await sleep(20);
  }
}

/** The SIP messages SIPp sent and received (its -trace_msg log). */
export function messagesOf(dir: string): string {
  const f = readdirSync(dir).find((n) => n.endsWith('_messages.log'));
  return f ? readFileSync(join(dir, f), 'utf8') : '';
}

/** Received requests and responses in order, as first lines ("INVITE sip:…", "SIP/2.0 180 Ringing"). */
export function firstLines(dir: string, which: 'received' | 'sent' = 'received'): string[] {
  const log = messagesOf(dir);
  const out: string[] = [];
  const re = which === 'received' ? /message received \[\d+\] bytes :\s*\n+([^\r\n]+)/g : /message sent \(\d+ bytes\):\s*\n+([^\r\n]+)/g;
  for (const m of log.matchAll(re)) out.push(m[1].trim());
  return out;
}

/** The first received request of `method` (whole message, headers and body). */
export function receivedRequest(dir: string, method: string): string | undefined {
  const log = messagesOf(dir);
  const parts = log.split(/-{20,}[^\n]*\n/);
  return parts.find((p) => new RegExp(`message received \\[\\d+\\] bytes :\\s*\\n+${method} `).test(p));
}

/** Exit code, SIPp's errors and the message trace: what a failed assertion should show. */
export function describeRun(run: PeerRun | { dir: string; code?: number | null; stdout?: string }): string {
  const errFile = readdirSync(run.dir).find((n) => n.endsWith('_errors.log'));
  const errors = errFile ? readFileSync(join(run.dir, errFile), 'utf8').slice(-2000) : '';
  return `exit ${run.code ?? '?'}\n--- errors\n${errors}\n--- messages\n${messagesOf(run.dir).slice(-8000)}`;
}

/** Awaits a SIPp run and checks its exit code, with the trace in the failure message. */
export async function expectSuccess(s: Sipp, what: string): Promise<PeerRun> {
  const run = await s.done;
  if (run.code !== 0) throw new Error(`${what}: SIPp exited ${run.code}\n${describeRun(run)}`);
  return run;
}

/** A file a scenario writes with <exec>, once it exists. */
export async function scenarioFile(s: Sipp, name: string, timeoutMs = 15_000): Promise<string> {
  const file = join(s.dir, name);
  const deadline = Date.now() + timeoutMs;
  let exited: PeerRun | undefined;
  void s.done.then((r) => (exited = r));
  while (!existsSync(file)) {
    if (exited && !existsSync(file)) throw new Error(`SIPp exited (${exited.code}) without writing ${name}:\n${describeRun(exited)}`);
    if (Date.now() > deadline) throw new Error(`SIPp wrote no ${name} within ${timeoutMs} ms:\n${describeRun({ dir: s.dir })}`);
    await sleep(20);
  }
  return readFileSync(file, 'utf8').trim();
}

/** answered.txt: the media address in the SDP the SIPp peer received, and when it was answered. */
export async function answered(s: Sipp): Promise<{ ip: string; port: number; at: number }> {
  const [ip, port, at] = (await scenarioFile(s, 'answered.txt')).split(/\s+/);
  return { ip, port: Number(port), at: Number(at) };
}

/** An epoch-ms timestamp file (bye.txt, ringing.txt, cancel.txt). */
export async function timestamp(s: Sipp, name: string, timeoutMs = 15_000): Promise<number> {
  return Number(await scenarioFile(s, name, timeoutMs));
}

// ---------------------------------------------------------------- media

export interface MediaResult {
  /** Packets the callee-side endpoint received carrying the caller's payload, and the reverse. */
  toCallee: number;
  toCaller: number;
}

/**
 * Sends `count` RTP packets (20 ms apart) each way through the relay: the caller's endpoint to the
 * address the caller's SDP answer named, the callee's to the address in the INVITE it received;
 * each side's payload is its own byte, so a packet that arrives proves the relay forwarded it.
 */
export async function exchangeRtp(caller: UdpPeer, callerTarget: { port: number }, callee: UdpPeer, calleeTarget: { port: number }, count = 25): Promise<MediaResult> {
  const fromCaller = 0xa5;
  const fromCallee = 0x5a;
  caller.received.length = 0;
  callee.received.length = 0;
  for (let i = 0; i < count; i++) {
    await caller.send(rtpPacket(1000 + i, { ssrc: 0x11111111, payload: Buffer.alloc(160, fromCaller) }), callerTarget.port);
    await callee.send(rtpPacket(5000 + i, { ssrc: 0x22222222, payload: Buffer.alloc(160, fromCallee) }), calleeTarget.port);
    await sleep(20);
  }
  await sleep(300);
  const carrying = (peer: UdpPeer, byte: number) => peer.received.filter((r) => r.data.length === 172 && r.data.subarray(12).every((b) => b === byte)).length;
  return { toCallee: carrying(callee, fromCaller), toCaller: carrying(caller, fromCallee) };
}

/** A UDP socket that only records what it gets: a trunk or device that must receive nothing, or never answers. */
export async function silentPeer(port: number, ip = '127.0.0.1'): Promise<{ received: () => string[]; firstAt: () => number | undefined; close: () => Promise<void> }> {
  const s = createSocket('udp4');
  const got: { line: string; at: number }[] = [];
  s.on('message', (m) => got.push({ line: m.toString('utf8').split('\r\n')[0], at: Date.now() }));
  await new Promise<void>((ok, fail) => {
    s.once('error', fail);
    s.bind(port, ip, () => ok());
  });
  return { received: () => got.map((g) => g.line), firstAt: () => got[0]?.at, close: () => new Promise((ok) => s.close(() => ok())) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LiveCall {
  id: string;
  callId: string;
  direction: string;
  state: string;
  trunkId: string | null;
  maxSeconds: number | null;
  media: { fromCaller: { received: number; forwarded: number }; fromCallee: { received: number; forwarded: number } } | null;
}

/** The calls in progress of this account (or user), from GET /v1/calls. */
export async function liveCalls(gw: CallsGateway, match: { accountId?: string; userId?: string }): Promise<LiveCall[]> {
  const list = (await gw.t.http().get('/v1/calls').expect(200)).body.data as (LiveCall & { accountId: string | null; userId: string | null })[];
  return list.filter((c) => (match.accountId === undefined || c.accountId === match.accountId) && (match.userId === undefined || c.userId === match.userId));
}
