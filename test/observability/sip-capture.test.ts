/**
 * The SIP capture store against the real Redis: its bounds hold whatever is sent (messages per
 * call, calls in all, bytes per message), callee legs are filed under their call, and only call
 * dialogs are kept. Each test has its own key prefix.
 */
import IORedis, { type Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { GatewayMetrics } from '../../src/platform/metrics';
import { deleteKeysWithPrefix } from '../../src/platform/redis';
import { SipCapture } from '../../src/signaling/sip-capture';
import { parseMessage } from '../../src/sip/parser';
import type { SipMessage } from '../../src/sip/message';
import type { WireTrace } from '../../src/sip/transport/types';
import { testConfig } from '../support/app';
import { REDIS_URL } from '../support/env';

let n = 0;
function sip(method: string, callId: string, extra = ''): Buffer {
  n++;
  return Buffer.from(
    [
      `${method} sip:+12015550100@127.0.0.1:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-cap-${n}`,
      'Max-Forwards: 70',
      `From: <sip:alice@127.0.0.1>;tag=a${n}`,
      'To: <sip:+12015550100@127.0.0.1>',
      `Call-ID: ${callId}`,
      `CSeq: ${n} ${method}`,
      ...(extra ? [`X-Filler: ${extra}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

function trace(data: Buffer, direction: 'in' | 'out' = 'in'): WireTrace {
  const parsed = parseMessage(data);
  if (!parsed.ok) throw new Error(parsed.error.reason);
  const message: SipMessage = parsed.value;
  const peer = { address: '127.0.0.1', port: 5062 };
  const local = { address: '0.0.0.0', port: 5060 };
  return { direction, transport: 'UDP', message, data, src: direction === 'in' ? peer : local, dst: direction === 'in' ? local : peer, at: new Date() };
}

describe('SIP capture store (real Redis)', () => {
  let redis: Redis;
  const prefixes: string[] = [];

  beforeAll(() => {
    redis = new IORedis(REDIS_URL);
  });
  afterAll(async () => {
    for (const p of prefixes) await deleteKeysWithPrefix(redis, p);
    redis.disconnect();
  });

  function capture(env: Record<string, string>): SipCapture {
    const prefix = `gwtest-cap-${process.pid}-${prefixes.length}-${Date.now().toString(36)}`;
    prefixes.push(prefix);
    return new SipCapture(redis, testConfig({ REDIS_PREFIX: prefix, ...env }), new GatewayMetrics(new Registry()));
  }

  it('keeps the first SIP_CAPTURE_MAX_MESSAGES_PER_CALL messages of a call, in order, with the API fields', async () => {
    const c = capture({ SIP_CAPTURE_MAX_MESSAGES_PER_CALL: '3' });
    for (let i = 0; i < 10; i++) c.observe(trace(sip(i === 0 ? 'INVITE' : 'INFO', 'call-cap-1')), '192.0.2.10');
    const messages = await c.messages('call-cap-1');
    expect(messages).toHaveLength(3);
    expect(messages[0]).toEqual({
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      direction: 'in',
      leg: 'a',
      transport: 'udp',
      src: '127.0.0.1:5062',
      // The wildcard listener is named by the address the gateway advertises.
      dst: '192.0.2.10:5060',
      method: 'INVITE',
      status: null,
      summary: 'INVITE sip:+12015550100@127.0.0.1:5060 SIP/2.0',
      text: expect.stringContaining('Call-ID: call-cap-1\r\n'),
    });
    expect(messages.slice(1).map((m) => m.method)).toEqual(['INFO', 'INFO']);
  });

  it('keeps SIP_CAPTURE_MAX_CALLS calls at most: the oldest go first', async () => {
    const c = capture({ SIP_CAPTURE_MAX_CALLS: '5' });
    for (let i = 0; i < 8; i++) {
      c.observe(trace(sip('INVITE', `call-evict-${i}`)), '127.0.0.1');
      // One flush per call, so each gets its own first-capture time.
      await c.flush();
    }
    const kept = [];
    for (let i = 0; i < 8; i++) if ((await c.messages(`call-evict-${i}`)).length > 0) kept.push(i);
    expect(kept).toEqual([3, 4, 5, 6, 7]);
  });

  it('cuts a message at SIP_CAPTURE_MAX_MESSAGE_BYTES and says so', async () => {
    const c = capture({ SIP_CAPTURE_MAX_MESSAGE_BYTES: '512' });
    const big = sip('INVITE', 'call-big', 'x'.repeat(20_000));
    c.observe(trace(big), '127.0.0.1');
    const [m] = await c.messages('call-big');
    expect(m.text.startsWith('INVITE sip:')).toBe(true);
    expect(m.text).toContain(`[truncated: ${big.length} bytes in all]`);
    expect(Buffer.byteLength(m.text)).toBeLessThan(600);
  });

  it("files a callee leg's messages under its call (leg b), and stores no REGISTER, OPTIONS or rate-limited request", async () => {
    const c = capture({});
    c.link('leg-b-1', 'call-linked');
    c.observe(trace(sip('INVITE', 'call-linked')), '127.0.0.1');
    c.observe(trace(sip('INVITE', 'leg-b-1'), 'out'), '127.0.0.1');
    c.observe(trace(sip('REGISTER', 'call-linked')), '127.0.0.1');
    c.observe(trace(sip('OPTIONS', 'call-linked')), '127.0.0.1');
    // A request over its source's rate limit is not kept.
    c.observe({ ...trace(sip('INVITE', 'call-linked')), limited: true }, '127.0.0.1');
    const messages = await c.messages('call-linked');
    expect(messages.map((m) => [m.leg, m.direction, m.method])).toEqual([
      ['a', 'in', 'INVITE'],
      ['b', 'out', 'INVITE'],
    ]);
    expect(await c.messages('leg-b-1')).toEqual([]);
  });

  it('SIP_CAPTURE=false stores nothing', async () => {
    const c = capture({ SIP_CAPTURE: 'false' });
    expect(c.active).toBe(false);
    c.observe(trace(sip('INVITE', 'call-off')), '127.0.0.1');
    await c.flush();
    expect(await c.messages('call-off')).toEqual([]);
  });
});
