/**
 * Benchmark of WebRTC legs (src/media/webrtc-leg.ts, node-datachannel): CPU per WebRTC leg against
 * a plain RTP leg in the same run, and the most WebRTC legs carried at 50 packets/s each way
 * (20 ms PCMU, 172-byte RTP) with under 0.1 % loss. Loopback only, bounded steps, self-stopping.
 *
 * The relay (MediaRelay of src/media, as the gateway runs it) is a child process, so its CPU is
 * read apart from the load client's (process.cpuUsage in the child). The load client is this
 * process: node-datachannel peers offering like a browser (DTLS-SRTP, ICE on 127.0.0.1) and plain
 * UDP sockets playing the trunk. Each session has:
 *   - webrtc: side a a WebRTC leg (the browser), side b a plain leg (the trunk);
 *   - plain (the baseline, same generator): both sides plain legs.
 * CPU per WebRTC leg = CPU per webrtc session − CPU per plain leg (half a plain session).
 *
 * Ports: relay 55000–58999 (released pairs cool down 10 s, so steps in a row need room), load
 * client's WebRTC peers 59000–60999 (its plain UDP sockets: kernel-chosen).
 * A step counts only if the load client kept 50 packets/s (at least MIN_PPS): on a machine shared
 * with other runs its timer falls behind first, and the run stops there, saying so.
 * Run: npm run bench:webrtc  (BENCH_WEBRTC_STEPS=10,50 narrows a run). Writes bench/results/webrtc.{json,md}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { machine, writeResult } from './harness';
import { repoRoot, resultsDir } from './results-dir';
import { MediaRelay, type RelaySession } from '../src/media';
import { BrowserPeer, rtp } from '../test/webrtc-media/browser-peer';

const STEPS = (process.env.BENCH_WEBRTC_STEPS ?? '10,25,50,100,150,200,250').split(',').map(Number);
const WARMUP_MS = 1000;
const MEASURE_MS = 4000;
const DRAIN_MS = 500;
const LOSS_LIMIT = 0.001;
const TOTAL_BUDGET_MS = 4 * 60_000;
const RELAY_PORTS = { min: 55000, max: 58999 };
const CLIENT_PORTS = { portMin: 59000, portMax: 60999 };
/** Below this the load client, not the relay, is the limit (on a shared machine its timer falls behind). */
const MIN_PPS = 48;
const PAYLOAD = Buffer.alloc(160, 0xd5);

type Kind = 'webrtc' | 'plain';

const sdpFor = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`;
const mPort = (sdp: string) => Number(/^m=audio (\d+)/m.exec(sdp)![1]);

// ------------------------------------------------------------------ the relay (child process)

async function relayMain(): Promise<void> {
  const relay = new MediaRelay({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', portMin: RELAY_PORTS.min, portMax: RELAY_PORTS.max, inactivityTimeoutMs: 0, allowLoopback: true, socketBufferBytes: 1 << 20 });
  const sessions: RelaySession[] = [];
  process.on('message', async (m: { id: number; cmd: string; offer?: string; a?: number; b?: number }) => {
    try {
      if (m.cmd === 'webrtc') {
        const session = await relay.openSession(`s${m.id}`);
        sessions.push(session);
        const plainOffer = await session.acceptWebRtc('a', m.offer!);
        const answer = session.relaySdp('b', sdpFor(m.b!), null).sdp;
        process.send!({ id: m.id, answer, relayB: mPort(plainOffer) });
      } else if (m.cmd === 'plain') {
        const session = await relay.openSession(`s${m.id}`);
        sessions.push(session);
        const toB = session.relaySdp('a', sdpFor(m.a!)).sdp;
        const toA = session.relaySdp('b', sdpFor(m.b!)).sdp;
        process.send!({ id: m.id, relayA: mPort(toA), relayB: mPort(toB) });
      } else if (m.cmd === 'cpu') {
        const u = process.cpuUsage();
        process.send!({ id: m.id, cpuMicros: u.user + u.system, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) });
      } else if (m.cmd === 'closeAll') {
        await Promise.all(sessions.splice(0).map((s) => s.close()));
        process.send!({ id: m.id });
      }
    } catch (err) {
      process.send!({ id: m.id, error: (err as Error).message });
    }
  });
  process.send!({ id: 0, ready: true });
}

// ------------------------------------------------------------------ the load client

class Relay {
  private next = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      const done = this.waiting.get(m.id as number);
      this.waiting.delete(m.id as number);
      done?.(m);
    });
  }

  static async start(): Promise<Relay> {
    const child = fork(__filename, ['relay'], { stdio: 'inherit' });
    const relay = new Relay(child);
    await new Promise<void>((ok) => relay.waiting.set(0, () => ok()));
    return relay;
  }

  ask(cmd: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.waiting.set(id, (m) => (m.error ? fail(new Error(String(m.error))) : ok(m)));
      this.child.send({ id, cmd, ...extra });
    });
  }
}

/** One stream end of the load client: sends seq-numbered RTP, counts what comes back. */
interface End {
  send(seq: number): void;
  /** Sequence numbers received at or after `from`. */
  received: number;
  close(): void;
}

function udpEnd(socket: Socket, to: () => number, ssrc: number, counter: { from: number }): End {
  const end: End = {
    received: 0,
    send: (seq) => socket.send(rtp(seq, ssrc, PAYLOAD), to(), '127.0.0.1'),
    close: () => socket.close(),
  };
  socket.on('message', (m) => {
    if (m.length >= 12 && m.readUInt16BE(2) >= counter.from) end.received++;
  });
  return end;
}

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  return s;
}

/** Opens `n` sessions, 20 at a time (a WebRTC session's setup is ICE and a DTLS handshake: tens of ms). */
async function openSessions(relay: Relay, kind: Kind, n: number, counter: { from: number }): Promise<{ ends: End[] }> {
  const ends: End[] = [];
  for (let first = 0; first < n; first += 20) {
    const batch = Array.from({ length: Math.min(20, n - first) }, (_, j) => openSession(relay, kind, first + j, counter));
    for (const pair of await Promise.all(batch)) ends.push(...pair);
  }
  return { ends };
}

async function openSession(relay: Relay, kind: Kind, i: number, counter: { from: number }): Promise<End[]> {
  if (kind === 'plain') {
    const [sa, sb] = [await bound(), await bound()];
    const r = await relay.ask('plain', { a: sa.address().port, b: sb.address().port });
    const [relayA, relayB] = [Number(r.relayA), Number(r.relayB)];
    return [udpEnd(sa, () => relayA, 0x1000 + i, counter), udpEnd(sb, () => relayB, 0x2000 + i, counter)];
  }
  const peer = new BrowserPeer(CLIENT_PORTS);
  peer.keep = 0;
  const socketB = await bound();
  const r = await relay.ask('webrtc', { offer: await peer.offer(), b: socketB.address().port });
  peer.accept(String(r.answer));
  await peer.opened();
  const webEnd: End = {
    received: 0,
    send: (seq) => peer.send(rtp(seq, peer.ssrc, PAYLOAD)),
    close: () => peer.close(),
  };
  peer.track.onMessage((m) => {
    if (m.length >= 12 && m[1] < 192 && m.readUInt16BE(2) >= counter.from) webEnd.received++;
  });
  const relayB = Number(r.relayB);
  return [webEnd, udpEnd(socketB, () => relayB, 0x2000 + i, counter)];
}

interface Step {
  kind: Kind;
  sessions: number;
  webrtcLegs: number;
  plainLegs: number;
  packetsPerSecondEachWay: number;
  lossPercent: number;
  relayCpuPercent: number;
  relayCpuMicrosPerSessionSecond: number;
  clientCpuPercent: number;
  relayRssMiB: number;
  setupSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The npm package's version (its exports map hides package.json from require). */
function libraryVersion(): string {
  const pkg = resolve(repoRoot(), 'node_modules', 'node-datachannel', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

async function runStep(relay: Relay, kind: Kind, n: number): Promise<Step> {
  const counter = { from: 1 << 30 };
  const t0 = Date.now();
  const { ends } = await openSessions(relay, kind, n, counter);
  const setupSeconds = (Date.now() - t0) / 1000;
  let seq = 0;
  // One timer sends every stream's next packet each 20 ms: 50 packets/s per stream, each way.
  const timer = setInterval(() => {
    seq++;
    for (const e of ends) e.send(seq);
  }, 20);
  await sleep(WARMUP_MS);
  counter.from = seq + 1;
  for (const e of ends) e.received = 0;
  const cpu0 = Number((await relay.ask('cpu')).cpuMicros);
  const client0 = process.cpuUsage();
  const w0 = Date.now();
  await sleep(MEASURE_MS);
  const cpu1 = await relay.ask('cpu');
  const client1 = process.cpuUsage(client0);
  const wall = (Date.now() - w0) / 1000;
  const lastSeq = seq;
  clearInterval(timer);
  await sleep(DRAIN_MS);
  // Packets the generator sent in the window (each stream), and those that came back (counted by seq).
  const sentPerEnd = lastSeq - counter.from + 1;
  const sent = sentPerEnd * ends.length;
  const received = ends.reduce((t, e) => t + Math.min(e.received, sentPerEnd), 0);
  const relayCpuMicros = Number(cpu1.cpuMicros) - cpu0;
  for (const e of ends) e.close();
  await relay.ask('closeAll');
  return {
    kind,
    sessions: n,
    webrtcLegs: kind === 'webrtc' ? n : 0,
    plainLegs: kind === 'webrtc' ? n : 2 * n,
    packetsPerSecondEachWay: Math.round(sentPerEnd / wall),
    lossPercent: Number(((100 * (sent - received)) / Math.max(1, sent)).toFixed(3)),
    relayCpuPercent: Number(((100 * relayCpuMicros) / 1e6 / wall).toFixed(1)),
    relayCpuMicrosPerSessionSecond: Math.round(relayCpuMicros / wall / n),
    clientCpuPercent: Number(((100 * (client1.user + client1.system)) / 1e6 / wall).toFixed(1)),
    relayRssMiB: Number(cpu1.rssMiB),
    setupSeconds: Number(setupSeconds.toFixed(1)),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const relay = await Relay.start();
  const steps: Step[] = [];
  let mostWebRtcLegs = 0;
  let stopReason = 'all steps done';
  try {
    for (const n of STEPS) {
      if (Date.now() - started > TOTAL_BUDGET_MS) {
        stopReason = 'time budget';
        break;
      }
      // The baseline first, at the same step and with the same generator.
      let failed = '';
      for (const kind of ['plain', 'webrtc'] as Kind[]) {
        try {
          const step = await runStep(relay, kind, n);
          steps.push(step);
          console.log(JSON.stringify(step));
          if (step.packetsPerSecondEachWay < MIN_PPS) failed = `the load client sent only ${step.packetsPerSecondEachWay} packets/s per stream at ${n} ${kind} sessions (machine load ${os.loadavg()[0].toFixed(1)})`;
        } catch (err) {
          failed = `${kind} setup failed at ${n} sessions: ${(err as Error).message}`;
          await relay.ask('closeAll').catch(() => undefined);
        }
        if (failed) break;
      }
      if (failed) {
        stopReason = failed;
        break;
      }
      const web = steps[steps.length - 1];
      if (web.lossPercent < LOSS_LIMIT * 100) mostWebRtcLegs = web.webrtcLegs;
      else {
        stopReason = `loss ${web.lossPercent} % at ${n} WebRTC legs`;
        break;
      }
    }
  } finally {
    relay.child.kill();
  }
  // CPU per leg from the steps where both kinds ran clean, at the largest such step (fixed costs weigh least).
  const clean = STEPS.map((n) => [steps.find((s) => s.kind === 'plain' && s.sessions === n), steps.find((s) => s.kind === 'webrtc' && s.sessions === n)] as const).filter(
    ([p, w]) => p && w && p.lossPercent < LOSS_LIMIT * 100 && w.lossPercent < LOSS_LIMIT * 100 && p.packetsPerSecondEachWay >= MIN_PPS && w.packetsPerSecondEachWay >= MIN_PPS,
  );
  const [plain, web] = clean[clean.length - 1] ?? [undefined, undefined];
  const plainLegMicros = plain ? plain.relayCpuMicrosPerSessionSecond / 2 : NaN;
  const webrtcLegMicros = web ? web.relayCpuMicrosPerSessionSecond - plainLegMicros : NaN;
  const summary = {
    atSessions: web?.sessions ?? null,
    cpuMicrosPerSecondPerPlainLeg: Math.round(plainLegMicros),
    cpuMicrosPerSecondPerWebRtcLeg: Math.round(webrtcLegMicros),
    webrtcLegToPlainLegRatio: Number((webrtcLegMicros / plainLegMicros).toFixed(1)),
    /** One core's worth of WebRTC legs on the relay alone, from the CPU per leg (the load client was the limit here). */
    webrtcLegsPerCoreEstimate: Math.round(1e6 / webrtcLegMicros),
    mostWebRtcLegsUnder0_1PercentLoss: mostWebRtcLegs,
    stopReason,
  };
  const command = 'npm run bench:webrtc';
  const result = {
    command,
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    library: `node-datachannel ${libraryVersion()}`,
    method: 'relay in a child process (MediaRelay of src/media); load client node-datachannel peers + UDP sockets in the parent; 20 ms PCMU each way; loss counted by sequence number over a 4 s window after 1 s warm-up',
    summary,
    steps,
  };
  const json = writeResult('webrtc', result);
  const md = [
    '# bench:webrtc',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${JSON.stringify(machine())}`,
    `- command: \`${command}\``,
    `- load average at the end (1/5/15 min): ${result.loadAverage.join(' / ')} (the 2 cores are shared with other engineers' runs)`,
    `- library: ${result.library}`,
    `- method: ${result.method}`,
    '',
    '## Summary',
    '',
    `- CPU per plain RTP leg: ${summary.cpuMicrosPerSecondPerPlainLeg} µs/s; per WebRTC leg: ${summary.cpuMicrosPerSecondPerWebRtcLeg} µs/s (ratio ${summary.webrtcLegToPlainLegRatio}×), measured at ${summary.atSessions} sessions`,
    `- most WebRTC legs at 50 packets/s each way under 0.1 % loss: ${summary.mostWebRtcLegsUnder0_1PercentLoss} (stopped: ${stopReason})`,
    `- relay-only estimate: about ${summary.webrtcLegsPerCoreEstimate} WebRTC legs per core`,
    '',
    '## Steps',
    '',
    '| kind | sessions | WebRTC legs | plain legs | pps each way | loss % | relay CPU % | relay µs CPU per session-second | client CPU % | relay RSS MiB | setup s |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...steps.map((s) => `| ${s.kind} | ${s.sessions} | ${s.webrtcLegs} | ${s.plainLegs} | ${s.packetsPerSecondEachWay} | ${s.lossPercent} | ${s.relayCpuPercent} | ${s.relayCpuMicrosPerSessionSecond} | ${s.clientCpuPercent} | ${s.relayRssMiB} | ${s.setupSeconds} |`),
    '',
  ].join('\n');
  writeFileSync(resolve(resultsDir(), 'webrtc.md'), md);
  console.log(`wrote ${json} and webrtc.md`);
  console.log(JSON.stringify(summary));
  process.exit(0);
}

if (process.argv[2] === 'relay') void relayMain();
else void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
