/**
 * SIP parser throughput: parses a corpus of realistic INVITEs (with SDP) and REGISTERs many times and
 * reports messages per second, next to a naive baseline in the same run (split on CRLF and on the first
 * colon, no validation, no typed headers) so the figure reads as a ratio on any machine.
 *
 * Run: npx tsx bench/sip-parser.bench.ts [rounds] — writes bench/results/sip-parser.json.
 * Imports nothing but src/sip (no database, no Nest).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseMessage } from '../src/sip/parser';
import { serialize } from '../src/sip/serializer';
import { resultsDir } from './results-dir';

function sdp(i: number): string {
  return [
    'v=0',
    `o=- ${1000 + i} ${2000 + i} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${40000 + 2 * (i % 1000)} RTP/AVP 0 8 18 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:18 G729/8000',
    'a=fmtp:18 annexb=no',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function invite(i: number): Buffer {
  const body = sdp(i);
  return Buffer.from(
    [
      `INVITE sip:+1555${String(i).padStart(7, '0')}@127.0.0.1;user=phone SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${i}-a1b2c3;rport`,
      ...(i % 2 ? [`Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bK-${i}-proxy;received=127.0.0.1`] : []),
      'Max-Forwards: 69',
      ...(i % 3 ? ['Record-Route: <sip:127.0.0.1:5080;lr>'] : []),
      `From: "Caller ${i}" <sip:user${i}@127.0.0.1>;tag=${(i * 7919).toString(36)}`,
      `To: <sip:+1555${String(i).padStart(7, '0')}@127.0.0.1;user=phone>`,
      `Call-ID: ${(i * 104729).toString(36)}-bench@127.0.0.1`,
      'CSeq: 2 INVITE',
      `Contact: <sip:user${i}@127.0.0.1:5070;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-${String(i).padStart(12, '0')}>"`,
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY',
      'Supported: replaces, timer, 100rel',
      'User-Agent: Bench/1.0',
      `Proxy-Authorization: Digest username="user${i}", realm="127.0.0.1", nonce="AAABjAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:+1555${String(i).padStart(7, '0')}@127.0.0.1", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

function register(i: number): Buffer {
  return Buffer.from(
    [
      'REGISTER sip:127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${5100 + (i % 500)};branch=z9hG4bK-reg-${i};rport`,
      'Max-Forwards: 70',
      `From: <sip:user${i}@127.0.0.1>;tag=r${i}`,
      `To: <sip:user${i}@127.0.0.1>`,
      `Call-ID: reg-${i}@127.0.0.1`,
      `CSeq: ${i + 1} REGISTER`,
      `Contact: <sip:user${i}@127.0.0.1:${5100 + (i % 500)};ob>;expires=3600;q=0.9`,
      'Expires: 3600',
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS',
      'User-Agent: Bench/1.0',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

export function corpus(size = 200): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < size; i++) out.push(i % 2 ? invite(i) : register(i));
  return out;
}

/** The baseline: what a "just split it" parser does, with no grammar at all. */
export function naiveParse(buf: Buffer): { start: string; headers: Map<string, string>; body: Buffer } {
  const text = buf.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    headers.set(lines[i].slice(0, colon).trim().toLowerCase(), lines[i].slice(colon + 1).trim());
  }
  return { start: lines[0], headers, body: buf.subarray(Buffer.byteLength(text.slice(0, end + 4))) };
}

function measure(messages: Buffer[], passes: number, fn: (b: Buffer) => unknown): number {
  let sink = 0;
  const started = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) for (const m of messages) if (fn(m)) sink++;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sink < 0) console.log(sink); // keeps the work observable to the optimiser
  return (passes * messages.length) / seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function run(rounds = 7, passes = 100): Record<string, unknown> {
  const loadAtStart = Number(os.loadavg()[0].toFixed(2));
  const messages = corpus();
  for (const m of messages) {
    const r = parseMessage(m);
    if (!r.ok) throw new Error(`bench corpus does not parse: ${r.error.reason}`);
  }
  const parsed = messages.map((m) => {
    const r = parseMessage(m);
    if (!r.ok) throw new Error('unreachable');
    return r.value;
  });
  // Warm-up so the JIT has compiled both paths before timing.
  measure(messages, 20, (b) => parseMessage(b).ok);
  measure(messages, 20, naiveParse);
  const full: number[] = [];
  const naive: number[] = [];
  const write: number[] = [];
  for (let r = 0; r < rounds; r++) {
    full.push(measure(messages, passes, (b) => parseMessage(b).ok));
    naive.push(measure(messages, passes, naiveParse));
    let k = 0;
    write.push(measure(messages, passes, () => serialize(parsed[k++ % parsed.length]).length));
  }
  const avgBytes = Math.round(messages.reduce((s, m) => s + m.length, 0) / messages.length);
  const result = {
    date: new Date().toISOString(),
    // Load average at the start: other processes on a shared machine depress the absolute figures, not the ratio.
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, os: `${os.type()} ${os.release()}`, loadAverage1m: loadAtStart },
    command: 'npx tsx bench/sip-parser.bench.ts',
    corpus: { messages: messages.length, mix: '50% INVITE with SDP, 50% REGISTER', averageBytes: avgBytes },
    rounds,
    messagesPerRound: passes * messages.length,
    figures: {
      parseMessagesPerSecond: Math.round(median(full)),
      naiveSplitMessagesPerSecond: Math.round(median(naive)),
      parseToNaiveRatio: Number((median(full) / median(naive)).toFixed(3)),
      serializeMessagesPerSecond: Math.round(median(write)),
      parseMegabytesPerSecond: Number(((median(full) * avgBytes) / 1e6).toFixed(1)),
    },
  };
  return result;
}

if (require.main === module) {
  const rounds = Number(process.argv[2] ?? 7);
  const result = run(rounds);
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sip-parser.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}
