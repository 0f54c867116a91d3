/**
 * What an operator sees of calls, against a real gateway process (dist/src/main.js) and real SIPp
 * peers: the call log lines alone explain refused and failed-over calls (issue 16, acceptance 3);
 * the SIP ladder of a call (GET /v1/calls/{callId}/sip) holds both legs; every message also
 * reaches a HEP collector (a UDP socket of the test, decoding HEPv3 by hand); and /metrics moved.
 *
 * Ports: the gateway relays RTP on 62100–62299; the test's SIPp media ports and the HEP listener
 * are in 62300–62499.
 */
import { createSocket, type Socket } from 'node:dgram';
import { freePort } from '../support/net';
import { optionsProbe, startGatewayProcess, type GatewayProcess } from '../security/gateway-process';
import {
  type CallsGateway,
  disableTrunks,
  expectSuccess,
  newAccount,
  newDestination,
  newRoute,
  newTrunk,
  newUser,
  registerDevice,
  scenarioWith,
  sippClient,
  sippServer,
  waitForCdrs,
} from '../calls/support';

const RTP_MIN = 62100;
const RTP_MAX = 62298;
const HEP_PORT = 62450;
const PHONE_RTP = 62310;
const TRUNK_RTP = 62312;

interface HepPacket {
  chunks: Map<number, Buffer>;
}

/** HEPv3 decoded by hand: "HEP3", total length, then (vendor u16, type u16, length u16, value) chunks. */
function decodeHep(packet: Buffer): HepPacket | undefined {
  if (packet.toString('latin1', 0, 4) !== 'HEP3' || packet.readUInt16BE(4) !== packet.length) return undefined;
  const chunks = new Map<number, Buffer>();
  let at = 6;
  while (at < packet.length) {
    const type = packet.readUInt16BE(at + 2);
    const len = packet.readUInt16BE(at + 4);
    if (len < 6) return undefined;
    chunks.set(type, packet.subarray(at + 6, at + len));
    at += len;
  }
  return at === packet.length ? { chunks } : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('observability of a real gateway process: call log, SIP ladder, HEP, metrics', () => {
  let gp: GatewayProcess;
  let gw: CallsGateway;
  let hep: Socket;
  const hepPackets: Buffer[] = [];
  const trunks: string[] = [];

  beforeAll(async () => {
    hep = createSocket('udp4');
    hep.on('message', (m) => hepPackets.length < 5000 && hepPackets.push(m));
    await new Promise<void>((ok) => hep.bind(HEP_PORT, '127.0.0.1', () => ok()));
    gp = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX, env: { HEP_URL: `udp://127.0.0.1:${HEP_PORT}`, HEP_CAPTURE_ID: '4242' } });
    gw = gp.asCallsGateway();
  });
  afterAll(async () => {
    if (gp) {
      await disableTrunks(gw, trunks).catch(() => undefined);
      await gp.stop();
    }
    hep?.close();
  });

  /** The call log lines (msg 'call ended' / 'call refused') whose dialled number is `dialled`, once there is one. */
  async function callLines(dialled: string, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = gp.logLines().filter((l) => (l.msg === 'call ended' || l.msg === 'call refused') && l.dialled === dialled);
      if (lines.length > 0 || Date.now() > deadline) return lines;
      await sleep(100);
    }
  }

  async function userWithAccount() {
    const accountId = await newAccount(gw, '10.000000');
    return { accountId, user: await newUser(gw, accountId) };
  }

  it('403 no rate: one "call refused" line names the call, the user, the number dialled and why', async () => {
    const { accountId, user } = await userWithAccount();
    const dialled = '+442079460958'; // London: the test deck rates only +1
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '403' }), dialled, from: user.username, user, rtp: PHONE_RTP }), 'call expecting 403');
    const lines = await callLines(dialled);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'call refused', direction: 'outbound', user: user.username, accountId, dialled, sipCode: 403, disposition: 'rejected', attempts: [] });
    expect(lines[0].reason).toMatch(/no rate for \+442079460958/);
    const [cdr] = await waitForCdrs(gw, { accountId }, 1);
    expect(lines[0].callId).toBe(cdr.callId);
  });

  it('484: the "call refused" line says the number dialled cannot be a phone number', async () => {
    const { user } = await userWithAccount();
    const dialled = '12345';
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '484' }), dialled, from: user.username, user, rtp: PHONE_RTP }), 'call expecting 484');
    const lines = await callLines(dialled);
    expect(lines.filter((l) => l.user === user.username)).toEqual([expect.objectContaining({ msg: 'call refused', sipCode: 484, disposition: 'rejected', routed: null, trunk: null })]);
    expect(String(lines.find((l) => l.user === user.username)!.reason)).not.toBe('');
  });

  it('402 (no balance) and 403 (blocked destination): "call refused" lines with the reason', async () => {
    const broke = await newAccount(gw);
    const poor = await newUser(gw, broke);
    const dest = newDestination();
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '402' }), dialled: dest, from: poor.username, user: poor, rtp: PHONE_RTP }), 'call expecting 402');
    const { user } = await userWithAccount();
    const premium = '+19005550123';
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '403' }), dialled: premium, from: user.username, user, rtp: PHONE_RTP }), 'call expecting 403 blocked');
    expect(await callLines(dest)).toEqual([expect.objectContaining({ msg: 'call refused', user: poor.username, accountId: broke, sipCode: 402, disposition: 'rejected', reason: expect.any(String) })]);
    const [blocked] = (await callLines(premium)).filter((l) => l.user === user.username);
    expect(blocked).toMatchObject({ msg: 'call refused', sipCode: 403, disposition: 'rejected' });
    expect(String(blocked.reason)).toMatch(/block|premium/i);
    // At LOG_LEVEL=info there is no per-message SIP line.
    expect(gp.logLines().filter((l) => l.msg === 'sip message')).toEqual([]);
  });

  it('trunk 503 then failover: one "call ended" line lists both trunks with their codes; the ladder holds both legs; HEP got them', async () => {
    const { accountId, user } = await userWithAccount();
    const dest = newDestination();
    const [firstPort, secondPort] = [await freePort(), await freePort()];
    const first = await newTrunk(gw, { port: firstPort });
    const second = await newTrunk(gw, { port: secondPort });
    trunks.push(first, second);
    await newRoute(gw, dest, first, 1);
    await newRoute(gw, dest, second, 2);
    const names = new Map<string, string>();
    for (const id of [first, second]) names.set(id, (await gw.t.http().get(`/v1/trunks/${id}`).expect(200)).body.name as string);

    const failing = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: '503 Service Unavailable' }), port: firstPort });
    const answering = await sippServer({ scenario: 'uas-answer-hangup.xml', port: secondPort, vars: { rtp: TRUNK_RTP }, pauseMs: 500 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: dest, from: user.username, user, rtp: PHONE_RTP });
    await expectSuccess(failing, 'first trunk answering 503');
    await expectSuccess(answering, 'second trunk');
    await expectSuccess(phone, 'user phone');

    // The log line alone: which trunks, in which order, with which codes, and how the call ended.
    const [line] = await callLines(dest);
    expect(line).toMatchObject({
      msg: 'call ended',
      direction: 'outbound',
      user: user.username,
      accountId,
      dialled: dest,
      routed: dest,
      trunk: names.get(second),
      disposition: 'answered',
      sipCode: 200,
      hangupBy: 'callee',
      attempts: [
        { trunk: names.get(first), routed: dest, sipCode: 503, disposition: 'failed' },
        { trunk: names.get(second), routed: dest, sipCode: 200, disposition: 'answered' },
      ],
    });
    expect(line.durationSeconds).toEqual(expect.any(Number));
    expect(line.pddMs).toEqual(expect.any(Number));
    const callId = String(line.callId);
    const cdrs = await waitForCdrs(gw, { accountId }, 2);
    expect(new Set(cdrs.map((c) => c.callId))).toEqual(new Set([callId]));

    // The ladder: the caller's leg (a) with its challenge, and both trunk legs (b), oldest first.
    const ladder = await gw.t.http().get(`/v1/calls/${encodeURIComponent(callId)}/sip`).expect(200);
    const messages = ladder.body.messages as { at: string; direction: string; leg: string; transport: string; src: string; dst: string; method: string | null; status: number | null; summary: string; text: string }[];
    expect(ladder.body.callId).toBe(callId);
    expect([...messages.map((m) => m.at)]).toEqual([...messages.map((m) => m.at)].sort());
    const a = messages.filter((m) => m.leg === 'a');
    const b = messages.filter((m) => m.leg === 'b');
    expect(a.map((m) => m.status ?? m.method)).toEqual(expect.arrayContaining(['INVITE', 407, 'ACK', 200, 'BYE']));
    expect(a[0]).toMatchObject({ direction: 'in', method: 'INVITE', status: null, transport: 'udp', dst: `127.0.0.1:${gp.sipPort}` });
    expect(a[0].text).toContain(`Call-ID: ${callId}`);
    expect(b.filter((m) => m.status === 503)).toEqual([expect.objectContaining({ direction: 'in', src: `127.0.0.1:${firstPort}`, method: 'INVITE', summary: 'SIP/2.0 503 Service Unavailable' })]);
    expect(b.filter((m) => m.method === 'INVITE' && m.status === null && m.direction === 'out').map((m) => m.dst)).toEqual([`127.0.0.1:${firstPort}`, `127.0.0.1:${secondPort}`]);
    expect(b.some((m) => m.status === 200 && m.src === `127.0.0.1:${secondPort}`)).toBe(true);

    // HEP: the same messages, correlated by the call id, with addresses, ports, time and SIP as protocol type.
    const deadline = Date.now() + 3000;
    let forCall: HepPacket[] = [];
    while (Date.now() < deadline) {
      forCall = hepPackets.map(decodeHep).filter((p): p is HepPacket => p !== undefined && p.chunks.get(17)?.toString() === callId);
      if (forCall.length >= messages.length) break;
      await sleep(100);
    }
    expect(forCall.length).toBeGreaterThanOrEqual(messages.length);
    const invite503 = forCall.find((p) => p.chunks.get(15)!.toString().startsWith('SIP/2.0 503'))!;
    expect(invite503).toBeDefined();
    const c = invite503.chunks;
    expect(c.get(1)!.readUInt8(0)).toBe(2); // IPv4
    expect(c.get(2)!.readUInt8(0)).toBe(17); // UDP
    expect([...c.get(3)!]).toEqual([127, 0, 0, 1]);
    expect([...c.get(4)!]).toEqual([127, 0, 0, 1]);
    expect(c.get(7)!.readUInt16BE(0)).toBe(firstPort);
    expect(c.get(8)!.readUInt16BE(0)).toBe(gp.sipPort);
    expect(Math.abs(c.get(9)!.readUInt32BE(0) - Date.now() / 1000)).toBeLessThan(120);
    expect(c.get(10)!.readUInt32BE(0)).toBeLessThan(1_000_000);
    expect(c.get(11)!.readUInt8(0)).toBe(1); // SIP
    expect(c.get(12)!.readUInt32BE(0)).toBe(4242);
    expect(c.get(15)!.toString()).toContain(`Call-ID: `);
  });

  it('GET /v1/calls/{callId}/sip: 404 problem JSON for a call id nothing was captured for; operator role required', async () => {
    const r = await gw.t.http().get('/v1/calls/no-such-call-id@127.0.0.1/sip').expect(404);
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 404 });
    await gw.t.http(null).get('/v1/calls/x/sip').expect(401);
    // Documented in the OpenAPI with its response schema.
    const doc = (await gw.t.http(null).get('/docs-json').expect(200)).body as { paths: Record<string, { get?: { responses?: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }> } }> };
    const op = doc.paths['/v1/calls/{callId}/sip']?.get;
    expect(Object.keys(op?.responses?.['200']?.content?.['application/json']?.schema?.properties ?? {})).toEqual(['callId', 'messages']);
  });

  it('a 30 kB INVITE is captured cut at SIP_CAPTURE_MAX_MESSAGE_BYTES, answered, and the same process still answers', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((ok) => socket.bind(62320, '127.0.0.1', () => ok()));
    const callId = `huge-${Date.now()}@127.0.0.1`;
    const invite = [
      `INVITE sip:+12015550100@127.0.0.1:${gp.sipPort} SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:62320;branch=z9hG4bK-huge-1;rport',
      'Max-Forwards: 70',
      'From: <sip:scanner@127.0.0.44>;tag=h1',
      'To: <sip:+12015550100@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      'Contact: <sip:scanner@127.0.0.1:62320>',
      `X-Filler: ${'y'.repeat(30_000)}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    // The final answer (the 100 Trying comes first).
    const answer = new Promise<string>((ok) =>
      socket.on('message', (m) => {
        const line = m.toString().split('\r\n')[0];
        if (!/^SIP\/2\.0 1/.test(line)) ok(line);
      }),
    );
    socket.send(invite, gp.sipPort, '127.0.0.1');
    try {
      expect(await Promise.race([answer, sleep(3000).then(() => 'no answer')])).toMatch(/^SIP\/2\.0 [3-6]\d\d /);
    } finally {
      socket.close();
    }
    const ladder = await gw.t.http().get(`/v1/calls/${encodeURIComponent(callId)}/sip`).expect(200);
    const [first] = ladder.body.messages as { text: string; direction: string }[];
    expect(first.direction).toBe('in');
    expect(first.text).toContain('[truncated: ');
    expect(Buffer.byteLength(first.text)).toBeLessThan(4096 + 100);
    await gp.expectAlive();
  });

  it('/metrics: SIP messages, REGISTER outcomes, registrations, auth failures and the CDR queue moved after real traffic', async () => {
    const scrape = async () => (await gw.t.http(null).get('/metrics').expect(200)).text;
    const value = (text: string, series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      return line ? Number(line.slice(series.length + 1)) : 0;
    };
    const before = await scrape();
    const { user } = await userWithAccount();
    await registerDevice(gw, user, await freePort(), 120);
    // A wrong password: a real digest failure.
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '403' }), dialled: '+442079460958', from: user.username, user, rtp: PHONE_RTP }), 'refused call');
    const wrong = { ...user, password: 'not-the-password' };
    await expectSuccess(sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '407' }), dialled: '+442079460958', from: user.username, user: wrong, rtp: PHONE_RTP }), 'wrong password, challenged again');
    const after = await scrape();

    expect(value(after, 'gateway_sip_requests_total{direction="in",method="REGISTER"}')).toBeGreaterThan(value(before, 'gateway_sip_requests_total{direction="in",method="REGISTER"}'));
    expect(value(after, 'gateway_sip_responses_total{direction="out",method="REGISTER",class="2xx",code="200"}')).toBeGreaterThan(value(before, 'gateway_sip_responses_total{direction="out",method="REGISTER",class="2xx",code="200"}'));
    expect(value(after, 'gateway_sip_register_total{code="200"}')).toBeGreaterThan(value(before, 'gateway_sip_register_total{code="200"}'));
    expect(value(after, 'gateway_sip_register_total{code="401"}')).toBeGreaterThan(value(before, 'gateway_sip_register_total{code="401"}'));
    expect(value(after, 'gateway_sip_responses_total{direction="out",method="INVITE",class="4xx",code="403"}')).toBeGreaterThan(value(before, 'gateway_sip_responses_total{direction="out",method="INVITE",class="4xx",code="403"}'));
    expect(value(after, 'gateway_registrations_active')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'gateway_sip_auth_failures_total{reason="wrong-response"}')).toBeGreaterThan(value(before, 'gateway_sip_auth_failures_total{reason="wrong-response"}'));
    expect(after).toMatch(/^gateway_cdr_queue_jobs\{state="waiting"\} \d+/m);
    expect(after).toMatch(/^gateway_cdr_queue_oldest_waiting_seconds \d/m);
    await gp.expectAlive();
  });
});

describe('per-message SIP logs (LOG_LEVEL=debug, SIP_TRACE=true) of a real gateway process', () => {
  let gp: GatewayProcess;
  beforeAll(async () => {
    gp = await startGatewayProcess({ rtpMin: 62400, rtpMax: 62438, env: { LOG_LEVEL: 'debug', SIP_TRACE: 'true' } });
  });
  afterAll(async () => {
    await gp?.stop();
  });

  it('one debug line per message in and out, with the Call-ID, the ends and the text', async () => {
    expect(await optionsProbe(gp.sipPort)).toBe(200);
    const deadline = Date.now() + 3000;
    let lines: Record<string, unknown>[] = [];
    while (Date.now() < deadline) {
      lines = gp.logLines().filter((l) => l.msg === 'sip message' && String(l.sipCallId).startsWith('probe-'));
      if (lines.length >= 2) break;
      await sleep(100);
    }
    const [inbound, outbound] = [lines.find((l) => l.direction === 'in'), lines.find((l) => l.direction === 'out')];
    expect(inbound).toMatchObject({ level: 20, transport: 'UDP', method: 'OPTIONS', dst: `127.0.0.1:${gp.sipPort}`, src: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(String(inbound!.text)).toMatch(/^OPTIONS sip:127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
    expect(outbound).toMatchObject({ level: 20, method: 'OPTIONS', status: 200, callId: inbound!.sipCallId, src: `127.0.0.1:${gp.sipPort}` });
    expect(String(outbound!.text)).toMatch(/^SIP\/2\.0 200 /);
  });
});

