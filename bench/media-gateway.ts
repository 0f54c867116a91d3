/**
 * bench:media's "rtpengine through the gateway" relay: the real gateway (dist/src/main.js) with
 * MEDIA_ENGINE=rtpengine sets up real calls (SIPp user → gateway → SIPp trunk, digest and all), its
 * media engine puts each call on rtpengine over the ng protocol, and the bench's generator then
 * sends RTP to the rtpengine ports of each call, as the call's two ends would. rtpengine learns
 * each side's address from its first packet (symmetric latching), so the generator's sockets need
 * not be the ports SIPp wrote into its SDP. Loopback only; bounded (SIPp -timeout, stop()).
 *
 * Ports (this engineer's ranges): rtpengine RTP 58000–59999 (4 ports a call: RTP and RTCP each
 * side, so at most 500 calls), ng control on 127.0.0.1:22222–22230, SIPp on 56000–57999.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NgClient } from '../src/media/ng-client';
import { ADMIN_KEY, freshDatabase, startGateway } from './harness';
import { repoRoot } from './results-dir';

export const GATEWAY_RTP_MIN = 58000;
export const GATEWAY_RTP_MAX = 59999;
/** Calls that fit rtpengine's range with room to spare. */
export const GATEWAY_MAX_SESSIONS = 480;
const USERNAME = 'benchmedia';
const PASSWORD = 'bench-media-password-0123';
const HOLD_MS = 15 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freeUdp(from: number, to: number): Promise<number> {
  for (let port = from; port <= to; port++) {
    const free = await new Promise<boolean>((ok) => {
      const s = createSocket('udp4');
      s.once('error', () => ok(false));
      s.bind(port, '127.0.0.1', () => s.close(() => ok(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free UDP port in ${from}-${to}`);
}

export interface GatewayRelay {
  /** rtpengine's pid: its CPU is the relay's (the gateway only signals). */
  pid: number;
  gatewayPid: number;
  open(peers: Array<[number, number]>): Promise<Array<[number, number]>>;
  stop(): void;
}

export async function rtpengineThroughGateway(): Promise<GatewayRelay> {
  const children = new Set<ChildProcess>();
  const ngPort = await freeUdp(22222, 22230);
  const engine = spawn('rtpengine', ['--config-file=none', '--foreground', '--log-stderr', '--log-level=3', '--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, `--port-min=${GATEWAY_RTP_MIN}`, `--port-max=${GATEWAY_RTP_MAX}`, '--timeout=900', '--delete-delay=0'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  children.add(engine);
  // Nothing outlives the bench, however it ends.
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
  const ng = new NgClient({ engines: [{ host: '127.0.0.1', port: ngPort }], timeoutMs: 2000 });
  const where = { host: '127.0.0.1', port: ngPort };
  for (let tries = 0; ; tries++) {
    try {
      await ng.send(where, 'ping');
      break;
    } catch (error) {
      if (tries > 5) throw error;
    }
  }
  const db = await freshDatabase('media');
  const gw = await startGateway(db.url, {
    MEDIA_ENGINE: 'rtpengine',
    RTPENGINE_NG: `127.0.0.1:${ngPort}`,
    // rtpengine's control thread answers late while it forwards at its limit on these 2 shared cores.
    RTPENGINE_TIMEOUT_MS: '5000',
    SIP_PUBLIC_ADDRESS: '127.0.0.1',
    RTP_PORT_MIN: '56000',
    RTP_PORT_MAX: '56998',
    MEDIA_INACTIVITY_SECONDS: '0',
    CALL_DRAIN_SECONDS: '1',
    // Every call comes from 127.0.0.1: the per-address limits are raised out of reach (as bench:calls does).
    SIP_RATE_LIMIT_PER_SECOND: '1000000',
    SIP_MAX_TRANSACTIONS_PER_SOURCE: '1000000',
  });
  const api = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text || '{}') as { id: string };
  };
  const trunkPort = await freeUdp(57000, 57499);
  const deck = await api('POST', '/v1/rate-decks', { name: 'bench-media', currency: 'USD' });
  await api('POST', `/v1/rate-decks/${deck.id}/rates`, 'prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom\n1,USA,0.010000,0,1,1,\n', 'text/csv');
  const account = await api('POST', '/v1/accounts', { name: 'bench-media', currency: 'USD', rateDeckId: deck.id, creditLimit: '0', maxConcurrentCalls: 1_000_000 });
  await api('POST', `/v1/accounts/${account.id}/topups`, { amount: '100000.00', reference: 'bench-media' });
  await api('POST', '/v1/users', { username: USERNAME, password: PASSWORD, accountId: account.id });
  const trunk = await api('POST', '/v1/trunks', { name: 'bench-media-uas', host: '127.0.0.1', port: trunkPort, transport: 'udp', inboundAddresses: [] });
  await api('POST', '/v1/routes', { prefix: '', trunkId: trunk.id, priority: 1, weight: 1 });

  const assets = resolve(repoRoot(), 'bench/calls');
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-media-'));
  const sipp = (args: string[]) => {
    const child = spawn('sipp', [...args, '-timeout', `${HOLD_MS / 1000 + 60}s`, '-nostdin'], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
    children.add(child);
    return child;
  };
  sipp(['-sf', join(assets, 'uas.xml'), '-i', '127.0.0.1', '-p', String(trunkPort), '-mp', String(await freeUdp(57500, 57999)), '-m', '100000']);
  const numbers = join(dir, 'numbers.csv');
  writeFileSync(numbers, `SEQUENTIAL\n${Array.from({ length: 1000 }, (_, i) => `1212555${String(i).padStart(4, '0')}`).join('\n')}\n`);
  await sleep(300);

  const known = new Set<string>();
  let batch = 0;
  return {
    pid: engine.pid!,
    gatewayPid: gw.proc.pid!,
    async open(peers) {
      const want = known.size + peers.length;
      // A SIPp user per step places the new calls through the gateway and holds them.
      sipp([
        `127.0.0.1:${gw.sipPort}`, '-sf', join(assets, 'uac.xml'), '-inf', numbers, '-s', USERNAME, '-au', USERNAME, '-ap', PASSWORD,
        '-i', '127.0.0.1', '-p', String(await freeUdp(56000 + batch * 10, 56999)), '-mp', String(await freeUdp(57000 + batch * 10 + 5, 57499)),
        '-m', String(peers.length), '-r', '50', '-l', String(peers.length + 10), '-d', String(HOLD_MS), '-cid_str', `media-${batch}-%u-%p@%s`,
      ]);
      batch++;
      const fresh: Array<[number, number]> = [];
      const deadline = Date.now() + 60_000;
      while (fresh.length < peers.length) {
        if (Date.now() > deadline) throw new Error(`only ${known.size} of ${want} calls were answered on rtpengine through the gateway within 60 s`);
        await sleep(500);
        const list = await ng.send(where, 'list', { limit: 100_000 });
        for (const id of (list.calls ?? []) as string[]) {
          if (known.has(id)) continue;
          const q = await ng.send(where, 'query', { 'call-id': id });
          const tags = (q.tags ?? {}) as Record<string, { medias?: { streams?: { 'local port'?: number; flags?: string[] }[] }[] }>;
          const port = (tag: string) => tags[tag]?.medias?.[0]?.streams?.find((s) => s.flags?.includes('RTP'))?.['local port'];
          const a = port('a');
          const b = port('b');
          // Answered (both monologues exist) and not yet handed out.
          if (!a || !b || fresh.length >= peers.length) continue;
          known.add(id);
          fresh.push([a, b]);
        }
      }
      return fresh;
    },
    stop() {
      ng.close();
      for (const child of children) if (child !== engine) child.kill('SIGKILL');
      void gw.stop().finally(() => {
        engine.kill('SIGTERM');
        void db.drop();
      });
    },
  };
}
