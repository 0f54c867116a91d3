/**
 * `npm run bench:capture`: what SIP capture costs the gateway process per SIP message and per call,
 * against its same-run baseline (capture off: only the per-message metrics the trace path always
 * runs), on the real Redis at REDIS_URL.
 *
 * The messages are those of one bench call (bench/calls: INVITE, 407, ACK, INVITE with credentials
 * and SDP, 100, 180, 200 with SDP, ACK on the caller's leg; INVITE, 100, 180, 200, ACK on the trunk
 * leg; BYE and 200 on both), parsed once; each run feeds CALLS calls' messages through the trace
 * path with fresh Call-IDs, flushing as the gateway does, and measures this process's CPU time
 * (process.cpuUsage, user + system) and Redis's used memory per call. Modes:
 *  - off: GatewayMetrics.sipMessage only (SIP_CAPTURE=false, no HEP_URL);
 *  - capture: plus SipCapture.observe and its batched Redis writes;
 *  - capture+hep: plus a HEPv3 packet per message to a UDP socket of the bench on 127.0.0.1.
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import IORedis from 'ioredis';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/platform/config';
import { GatewayMetrics } from '../src/platform/metrics';
import { deleteKeysWithPrefix } from '../src/platform/redis';
import { SipCapture } from '../src/signaling/sip-capture';
import { parseMessage } from '../src/sip/parser';
import type { WireTrace } from '../src/sip/transport/types';
import { machine, REDIS_URL, writeResult } from './harness';
import { resultsDir } from './results-dir';

const CALLS = Number(process.env.BENCH_CAPTURE_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_CAPTURE_ROUNDS ?? 3);

const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 30000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');

function message(start: string, callId: string, cseq: string, extra: string[] = [], body = ''): Buffer {
  return Buffer.from(
    [
      start,
      'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-bench-1;rport=5062;received=127.0.0.1',
      'From: <sip:benchuser@127.0.0.1>;tag=1234SIPpTag001',
      'To: <sip:+12125550100@127.0.0.1>' + (start.startsWith('SIP/2.0') ? ';tag=gw-5678' : ''),
      `Call-ID: ${callId}`,
      `CSeq: ${cseq}`,
      'Contact: <sip:benchuser@127.0.0.1:5062>',
      'Max-Forwards: 70',
      'User-Agent: SIPp bench',
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

/** One call's messages: [direction, bytes] with CALLID and LEGID placeholders in the Call-ID. */
function callTemplate(): { direction: 'in' | 'out'; leg: 'a' | 'b'; data: Buffer }[] {
  const auth = 'Proxy-Authorization: Digest username="benchuser", realm="gateway", nonce="abcdef0123456789abcdef0123456789", uri="sip:+12125550100@127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5';
  const a = (d: 'in' | 'out', start: string, cseq: string, extra: string[] = [], body = '') => ({ direction: d, leg: 'a' as const, data: message(start, 'CALLID', cseq, extra, body) });
  const b = (d: 'in' | 'out', start: string, cseq: string, extra: string[] = [], body = '') => ({ direction: d, leg: 'b' as const, data: message(start, 'LEGID', cseq, extra, body) });
  return [
    a('in', 'INVITE sip:+12125550100@127.0.0.1:5060 SIP/2.0', '1 INVITE', [], SDP),
    a('out', 'SIP/2.0 407 Proxy Authentication Required', '1 INVITE', ['Proxy-Authenticate: Digest realm="gateway", nonce="abcdef0123456789abcdef0123456789", algorithm=MD5, qop="auth"']),
    a('in', 'ACK sip:+12125550100@127.0.0.1:5060 SIP/2.0', '1 ACK'),
    a('in', 'INVITE sip:+12125550100@127.0.0.1:5060 SIP/2.0', '2 INVITE', [auth], SDP),
    a('out', 'SIP/2.0 100 Trying', '2 INVITE'),
    b('out', 'INVITE sip:+12125550100@127.0.0.1:5090 SIP/2.0', '1 INVITE', [], SDP),
    b('in', 'SIP/2.0 100 Trying', '1 INVITE'),
    b('in', 'SIP/2.0 180 Ringing', '1 INVITE'),
    a('out', 'SIP/2.0 180 Ringing', '2 INVITE'),
    b('in', 'SIP/2.0 200 OK', '1 INVITE', [], SDP),
    b('out', 'ACK sip:+12125550100@127.0.0.1:5090 SIP/2.0', '1 ACK'),
    a('out', 'SIP/2.0 200 OK', '2 INVITE', [], SDP),
    a('in', 'ACK sip:gw@127.0.0.1:5060 SIP/2.0', '2 ACK'),
    a('in', 'BYE sip:gw@127.0.0.1:5060 SIP/2.0', '3 BYE'),
    a('out', 'SIP/2.0 200 OK', '3 BYE'),
    b('out', 'BYE sip:+12125550100@127.0.0.1:5090 SIP/2.0', '2 BYE'),
    b('in', 'SIP/2.0 200 OK', '2 BYE'),
  ];
}

type Mode = 'off' | 'capture' | 'capture+hep';

async function run(mode: Mode, prefix: string, hepPort: number, redis: IORedis): Promise<{ mode: Mode; calls: number; messages: number; cpuUsPerMessage: number; cpuUsPerCall: number; wallMs: number; redisBytesPerCall: number | null }> {
  const env: Record<string, string> = { REDIS_PREFIX: prefix, SIP_CAPTURE: mode === 'off' ? 'false' : 'true', SIP_CAPTURE_MAX_CALLS: String(CALLS * 2) };
  if (mode === 'capture+hep') env.HEP_URL = `udp://127.0.0.1:${hepPort}`;
  const config = loadConfig(env);
  const metrics = new GatewayMetrics(new Registry());
  const captureRedis = new IORedis(REDIS_URL);
  const capture = new SipCapture(captureRedis, config, metrics);
  const template = callTemplate();
  const memBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const wall0 = Date.now();
  const cpu0 = process.cpuUsage();
  let messages = 0;
  for (let i = 0; i < CALLS; i++) {
    const callId = `${prefix}-c${i}@127.0.0.1`;
    const legId = `${prefix}-l${i}@127.0.0.1`;
    capture.link(legId, callId);
    for (const m of template) {
      // A fresh parse per message, as the transport does (its cost is the baseline's too).
      const data = Buffer.from(m.data.toString('latin1').replace(m.leg === 'a' ? 'CALLID' : 'LEGID', m.leg === 'a' ? callId : legId), 'latin1');
      const parsed = parseMessage(data);
      if (!parsed.ok) throw new Error(parsed.error.reason);
      const peer = { address: '127.0.0.1', port: m.leg === 'a' ? 5062 : 5090 };
      const local = { address: '127.0.0.1', port: 5060 };
      const t: WireTrace = { direction: m.direction, transport: 'UDP', message: parsed.value, data, src: m.direction === 'in' ? peer : local, dst: m.direction === 'in' ? local : peer, at: new Date() };
      metrics.sipMessage(t.direction, t.message);
      if (capture.active) capture.observe(t, '127.0.0.1');
      messages++;
    }
    // Yield now and then, so batches go out as they would between packets.
    if (i % 20 === 19) await new Promise((r) => setImmediate(r));
    capture.unlink(legId);
  }
  await capture.flush();
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Date.now() - wall0;
  const memAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await capture.onApplicationShutdown();
  const cpuUs = cpu.user + cpu.system;
  return {
    mode,
    calls: CALLS,
    messages,
    cpuUsPerMessage: +(cpuUs / messages).toFixed(2),
    cpuUsPerCall: +(cpuUs / CALLS).toFixed(1),
    wallMs,
    redisBytesPerCall: mode === 'off' ? null : Math.round((memAfter - memBefore) / CALLS),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const redis = new IORedis(REDIS_URL);
  const hep = createSocket('udp4');
  let hepPackets = 0;
  hep.on('message', () => hepPackets++);
  await new Promise<void>((ok) => hep.bind(0, '127.0.0.1', () => ok()));
  const hepPort = hep.address().port;
  const results: Awaited<ReturnType<typeof run>>[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['off', 'capture', 'capture+hep'] as Mode[]) {
        const prefix = `gwbench:cap:${process.pid}:${round}:${mode.replace("+", "-")}`;
        try {
          const r = await run(mode, prefix, hepPort, redis);
          results.push(r);
          console.log(JSON.stringify(r));
        } finally {
          await deleteKeysWithPrefix(redis, prefix);
        }
      }
    }
  } finally {
    hep.close();
    redis.disconnect();
  }
  const median = (mode: Mode, k: 'cpuUsPerMessage' | 'cpuUsPerCall') => {
    const v = results.filter((r) => r.mode === mode).map((r) => r[k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const summary = Object.fromEntries(
    (['off', 'capture', 'capture+hep'] as Mode[]).map((m) => [m, { cpuUsPerMessage: median(m, 'cpuUsPerMessage'), cpuUsPerCall: median(m, 'cpuUsPerCall'), redisBytesPerCall: results.find((r) => r.mode === m)?.redisBytesPerCall ?? null }]),
  );
  const added = { capture: +(summary.capture.cpuUsPerCall - summary.off.cpuUsPerCall).toFixed(1), captureAndHep: +(summary['capture+hep'].cpuUsPerCall - summary.off.cpuUsPerCall).toFixed(1) };
  const command = `BENCH_CAPTURE_CALLS=${CALLS} BENCH_CAPTURE_ROUNDS=${ROUNDS} npm run bench:capture`;
  const json = writeResult('sip-capture', { command, durationSeconds: Math.round((Date.now() - started) / 1000), loadAverage: (await import('node:os')).loadavg(), summary, addedCpuUsPerCall: added, hepPacketsReceived: hepPackets, runs: results });
  const m = machine();
  const md = [
    '# SIP capture cost (per call, in the gateway process)',
    '',
    `${new Date().toISOString()}, \`${command}\`, ${m.cpu}, ${m.cores} cores, Node ${m.node}; Redis at ${REDIS_URL}.`,
    '',
    `${CALLS} calls of ${callTemplate().length} SIP messages each (the bench call's ladder, both legs), parsed and fed through the trace path; medians of ${ROUNDS} rounds. CPU is this process's (user + system); Redis's own CPU is not counted.`,
    '',
    '| mode | CPU µs per message | CPU µs per call | Redis bytes per call |',
    '| --- | --- | --- | --- |',
    ...(['off', 'capture', 'capture+hep'] as Mode[]).map((k) => `| ${k} | ${summary[k].cpuUsPerMessage} | ${summary[k].cpuUsPerCall} | ${summary[k].redisBytesPerCall ?? '–'} |`),
    '',
    `Added by capture: ${added.capture} µs per call; with HEP as well: ${added.captureAndHep} µs per call (baseline "off": parsing and the SIP metrics only).`,
    '',
  ].join('\n');
  writeFileSync(resolve(resultsDir(), 'sip-capture.md'), md);
  console.log(`written to ${json}`);
}

void main();
