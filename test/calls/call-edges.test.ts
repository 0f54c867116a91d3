/**
 * Edges of call handling that no other file covers (issue 12, item 12): calls and registrations
 * over TCP, the media port range running out during a call, a device whose Contact is not its
 * source address (NAT), RTCP from another host than the latched RTP, and a rate change between
 * two calls (each CDR rated at the rate in force at its startedAt).
 *
 * The in-process gateway against the real PostgreSQL and Redis, SIPp as phones, devices and
 * trunks (over TCP where the test says so), UDP sockets of the test as RTP endpoints.
 * Ports: the gateways' relay ranges are 48800–48899 and 48900–48903 (two pairs: exactly one
 * call); the test's own RTP sockets take ports the kernel gives, or (for an RTP/RTCP pair) a free
 * even/odd pair in 49100–49899; the NAT test's Contact port is 49190 on 127.0.0.9. Trunks that send calls in use TRUNK_IN_IP, on no other file's list.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccount, createDeck } from '../billing/support';
import { rtpPacket, UdpPeer } from '../media/udp-peer';
import { unique } from '../support/app';
import { freePort } from '../support/net';
import { runPeer } from '../support/sip-peers';
import { hangUpCalls, hangUpEverything, header, newTrunkWith, requestsReceived } from './cc-support';
import {
  answered,
  CallsGateway,
  describeRun,
  disableTrunks,
  exchangeRtp,
  expectedCost,
  expectSuccess,
  firstLines,
  micros,
  money,
  newAccount,
  newDestination,
  newDid,
  newRoute,
  newUser,
  SCENARIOS,
  scenarioWith,
  silentPeer,
  Sipp,
  sippClient,
  sippServer,
  sleep,
  startCallsGateway,
  TARIFF,
  trunksSettled,
  User,
  waitForCdrs,
} from './support';

const TOPUP = '10.000000';
const TRUNK_IN_IP = '127.0.0.66';
const CALLER = '+13125550166';
const REGISTER = join(__dirname, '..', 'registrar', 'scenarios', 'register.xml');

// ---------------------------------------------------------------- SIPp over TCP

/** TCP ports in LISTEN state on this host, from /proc/net/tcp. */
function listeningTcpPorts(): Set<number> {
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && f[1]) ports.add(parseInt(f[1].split(':')[1], 16));
  }
  return ports;
}

const baseArgs = (timeoutSeconds: number, vars: Record<string, string | number>, pauseMs?: number) => {
  const args = ['-t', 't1', '-m', '1', '-timeout', `${timeoutSeconds}s`, '-timeout_error', '-nostdin', '-trace_msg', '-trace_err'];
  if (pauseMs !== undefined) args.push('-d', String(pauseMs));
  for (const [k, v] of Object.entries(vars)) args.push('-set', k, String(v));
  return args;
};

/** SIPp as a TCP server on 127.0.0.1:port; resolves once it listens. */
async function sippTcpServer(o: { scenario: string; port: number; vars: Record<string, string | number>; pauseMs?: number; timeoutSeconds?: number }): Promise<Sipp> {
  const timeout = o.timeoutSeconds ?? 20;
  const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
  const args = ['-sf', join(SCENARIOS, o.scenario), '-i', '127.0.0.1', '-p', String(o.port), ...baseArgs(timeout, o.vars, o.pauseMs)];
  const done = runPeer('sipp', args, (timeout + 10) * 1000, dir);
  let exited = false;
  void done.then(() => (exited = true));
  const deadline = Date.now() + 5000;
  while (!listeningTcpPorts().has(o.port)) {
    if (exited) throw new Error(`SIPp exited before listening on TCP ${o.port}:\n${describeRun(await done)}`);
    if (Date.now() > deadline) throw new Error(`SIPp did not listen on TCP ${o.port} within 5 s`);
    await sleep(20);
  }
  return { done, dir };
}

/** SIPp as a TCP client of the gateway (a user with digest, or a trunk from `ip`). */
function sippTcpClient(gw: CallsGateway, o: { scenario: string; dialled: string; from: string; rtp: number; user?: User; ip?: string; pauseMs?: number }): Sipp {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
  const args = [`127.0.0.1:${gw.sipPort}`, '-sf', join(SCENARIOS, o.scenario), '-i', o.ip ?? '127.0.0.1', '-p', '0', '-s', o.dialled, ...baseArgs(20, { user: o.from, rtp: o.rtp }, o.pauseMs)];
  if (o.user) args.push('-au', o.user.username, '-ap', o.user.password, '-auth_uri', `${o.dialled}@127.0.0.1:${gw.sipPort}`);
  return { done: runPeer('sipp', args, 30_000, dir), dir };
}

/** REGISTER of `user` from 127.0.0.1:localPort over `transport`; `scenario` may replace the Contact. */
async function register(gw: CallsGateway, user: User, localPort: number, transport: 'u1' | 't1', scenario = REGISTER): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sipp-'));
  const args = [`127.0.0.1:${gw.sipPort}`, '-sf', scenario, '-i', '127.0.0.1', '-bind_local', '-p', String(localPort), '-t', transport, '-s', user.username, '-au', user.username, '-ap', user.password];
  args.push('-m', '1', '-timeout', '10s', '-timeout_error', '-nostdin', '-trace_msg', '-trace_err', '-set', 'expires', '300');
  const run = await runPeer('sipp', args, 20_000, dir);
  if (run.code !== 0) throw new Error(`REGISTER of ${user.username} (${transport}) failed:\n${describeRun(run)}`);
}

// ---------------------------------------------------------------- RTP/RTCP pairs

/** A test endpoint with its RTP socket on `port` and its RTCP socket on port + 1 (both 127.0.0.1). */
/**
 * An RTP socket on an even port and its RTCP socket on the next, both free. The ports are in the
 * kernel's ephemeral range, where another program's socket may sit at any time (a benchmark beside
 * the suite holds thousands): try other pairs rather than fail on one taken port.
 */
async function rtpPair(): Promise<{ rtp: UdpPeer; rtcp: UdpPeer; close(): Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const port = 49100 + 2 * Math.floor(Math.random() * 400);
    const rtp = await UdpPeer.open(port).catch((e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' && attempt < 50 ? undefined : Promise.reject(e)));
    if (!rtp) continue;
    const rtcp = await UdpPeer.open(port + 1).catch((e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' && attempt < 50 ? undefined : Promise.reject(e)));
    if (rtcp) return { rtp, rtcp, close: async () => void (await Promise.all([rtp.close(), rtcp.close()])) };
    await rtp.close();
  }
}

/** A receiver report with no report blocks (RFC 3550 §6.4.2): 8 bytes, the sender's SSRC. */
function rtcpRr(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  return b;
}

const bind = (ip: string, port: number): Promise<Socket> =>
  new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(port, ip, () => ok(s));
  });
const sendFrom = (s: Socket, data: Buffer, port: number): Promise<void> => new Promise((ok, fail) => s.send(data, port, '127.0.0.1', (e) => (e ? fail(e) : ok())));

const registrations = async (gw: CallsGateway, userId: string) =>
  (await gw.t.http().get(`/v1/users/${userId}/registrations`).expect(200)).body.data as { contact: string; sourceAddress: string; sourcePort: number; transport: string }[];

async function tcpTrunk(gw: CallsGateway, port: number): Promise<string> {
  const r = await gw.t.http().post('/v1/trunks').send({ name: unique('tcp-trunk'), host: '127.0.0.1', port, transport: 'tcp', username: null, password: null, inboundAddresses: [] }).expect(201);
  expect(r.body.transport).toBe('tcp');
  return r.body.id as string;
}

describe('call edges: TCP, NAT contact, RTCP from another host, rate change between calls', () => {
  let gw: CallsGateway;
  let inboundTrunk: string;
  const trunks: string[] = [];

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: 48800, rtpMax: 48899, env: { CALL_DRAIN_SECONDS: '1' } });
    inboundTrunk = await newTrunkWith(gw, { host: TRUNK_IN_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IN_IP}/32`] });
    trunks.push(inboundTrunk);
    await trunksSettled();
  });
  afterEach(async () => {
    if (gw) await hangUpEverything(gw);
  });
  afterAll(async () => {
    if (gw) {
      await disableTrunks(gw, trunks);
      await gw.close();
    }
  });

  it('over TCP: a user registers (binding transport tcp) and takes a trunk\'s TCP call; a TCP user calls out through a TCP trunk', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id);
    const devicePort = await freePort();
    await register(gw, user, devicePort, 't1');
    const bindings = await registrations(gw, user.id);
    expect(bindings).toEqual([expect.objectContaining({ sourceAddress: '127.0.0.1', sourcePort: devicePort, transport: 'tcp' })]);

    const [trunkRtp, deviceRtp] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    try {
      // Inbound: the trunk's INVITE over TCP; the gateway reaches the device over TCP at its source.
      const device = await sippTcpServer({ scenario: 'uas-answer.xml', port: devicePort, vars: { rtp: deviceRtp.port }, pauseMs: 200 });
      const trunk = sippTcpClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 1500 });
      const [toTrunk, toDevice] = await Promise.all([answered(trunk), answered(device)]);
      const media = await exchangeRtp(trunkRtp, toTrunk, deviceRtp, toDevice, 20);
      expect(media.toCallee).toBeGreaterThanOrEqual(15);
      expect(media.toCaller).toBeGreaterThanOrEqual(15);
      await expectSuccess(trunk, 'trunk over TCP');
      await expectSuccess(device, 'device over TCP');
      expect(requestsReceived(device.dir, 'INVITE')[0]).toMatch(/^Via: SIP\/2\.0\/TCP /m);
      expect(requestsReceived(device.dir, 'BYE')[0]).toMatch(/^Via: SIP\/2\.0\/TCP /m);
      const inbound = await waitForCdrs(gw, { userId: user.id }, 1);
      expect(inbound).toEqual([expect.objectContaining({ direction: 'inbound', trunkId: inboundTrunk, callee: did, disposition: 'answered', sipCode: 200, hangupBy: 'caller' })]);

      // Outbound: the user over TCP (digest included), the trunk over TCP.
      const dest = newDestination();
      const outPort = await freePort();
      const outTrunk = await tcpTrunk(gw, outPort);
      trunks.push(outTrunk);
      await newRoute(gw, dest, outTrunk);
      await trunksSettled();
      const far = await sippTcpServer({ scenario: 'uas-answer.xml', port: outPort, vars: { rtp: trunkRtp.port }, pauseMs: 200 });
      const phone = sippTcpClient(gw, { scenario: 'uac-answered.xml', dialled: dest, from: user.username, user, rtp: deviceRtp.port, pauseMs: 1500 });
      const [toPhone, toFar] = await Promise.all([answered(phone), answered(far)]);
      const out = await exchangeRtp(deviceRtp, toPhone, trunkRtp, toFar, 20);
      expect(out.toCallee).toBeGreaterThanOrEqual(15);
      expect(out.toCaller).toBeGreaterThanOrEqual(15);
      await expectSuccess(phone, 'user phone over TCP');
      await expectSuccess(far, 'trunk over TCP');
      const invite = requestsReceived(far.dir, 'INVITE')[0];
      expect(invite).toMatch(/^Via: SIP\/2\.0\/TCP /m);
      expect(invite).toMatch(new RegExp(`^INVITE sip:\\+?${dest.slice(1)}@127\\.0\\.0\\.1:${outPort};transport=tcp `, 'm'));
      // The inbound CDR has the user and no account (a free call): the account's only CDR is this one.
      const cdrs = await waitForCdrs(gw, { accountId }, 1);
      expect(cdrs).toHaveLength(1);
      const outCdr = cdrs[0];
      expect(outCdr).toMatchObject({ direction: 'outbound' });
      expect(outCdr).toMatchObject({ trunkId: outTrunk, callee: dest, disposition: 'answered', sipCode: 200, hangupBy: 'caller', status: 'rated' });
      expect(outCdr.cost).toBe(expectedCost(TARIFF.us, outCdr.billableSeconds));
    } finally {
      await Promise.all([trunkRtp.close(), deviceRtp.close()]);
    }
  });

  it('a device whose Contact (127.0.0.9:49190) is not its source: the INVITE goes to the source address, with the Contact as Request-URI', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id);
    const sourcePort = await freePort();
    await register(gw, user, sourcePort, 'u1', natRegister());
    expect(await registrations(gw, user.id)).toEqual([
      expect.objectContaining({ contact: `<sip:${user.username}@127.0.0.9:49190>`, sourceAddress: '127.0.0.1', sourcePort, transport: 'udp' }),
    ]);

    const contactHost = await silentPeer(49190, '127.0.0.9');
    const [trunkRtp, deviceRtp] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    try {
      const device = await sippServer({ scenario: 'uas-answer.xml', port: sourcePort, vars: { rtp: deviceRtp.port }, pauseMs: 200 });
      const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 1000 });
      const [toTrunk, toDevice] = await Promise.all([answered(trunk), answered(device)]);
      const media = await exchangeRtp(trunkRtp, toTrunk, deviceRtp, toDevice, 20);
      expect(media.toCallee).toBeGreaterThanOrEqual(15);
      expect(media.toCaller).toBeGreaterThanOrEqual(15);
      await expectSuccess(trunk, 'trunk');
      await expectSuccess(device, 'device at its source address');
      const invite = requestsReceived(device.dir, 'INVITE')[0];
      expect(invite.split('\r\n')[0].split('\n')[0]).toBe(`INVITE sip:${user.username}@127.0.0.9:49190 SIP/2.0`);
      expect(contactHost.received()).toEqual([]);
      expect(await waitForCdrs(gw, { userId: user.id }, 1)).toEqual([expect.objectContaining({ direction: 'inbound', callee: did, disposition: 'answered', sipCode: 200 })]);
    } finally {
      await Promise.all([contactHost.close(), trunkRtp.close(), deviceRtp.close()]);
    }
  });

  it('RTCP from another host than the latched RTP is dropped; RTCP from the RTP host is forwarded', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const trunkPort = await freePort();
    const trunkId = await newTrunkWith(gw, { port: trunkPort });
    trunks.push(trunkId);
    await newRoute(gw, dest, trunkId);
    await trunksSettled();
    const phoneEnd = await rtpPair();
    const trunkEnd = await rtpPair();
    const other = await bind('127.0.0.9', 0);
    try {
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: trunkEnd.rtp.port }, pauseMs: 100, timeoutSeconds: 30 });
      const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: dest, from: user.username, user, rtp: phoneEnd.rtp.port, timeoutSeconds: 30 });
      const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
      // RTP latches both sides (each from its SDP's exact endpoint).
      const media = await exchangeRtp(phoneEnd.rtp, toPhone, trunkEnd.rtp, toTrunk, 10);
      expect(media.toCallee).toBeGreaterThanOrEqual(8);
      expect(media.toCaller).toBeGreaterThanOrEqual(8);
      const relayRtcp = toPhone.port + 1;
      const rtcpAtTrunk = () => trunkEnd.rtcp.received.map((r) => r.data.readUInt32BE(4).toString(16));
      trunkEnd.rtcp.received.length = 0;

      // From the RTP host (another port of 127.0.0.1: a NAT maps RTCP on its own): forwarded.
      await phoneEnd.rtcp.send(rtcpRr(0xaaaa0001), relayRtcp);
      await sleep(300);
      expect(rtcpAtTrunk()).toEqual(['aaaa0001']);
      // From another host (127.0.0.9), to the same relay port: dropped, however often.
      for (let i = 0; i < 5; i++) await sendFrom(other, rtcpRr(0xbbbb0002), relayRtcp);
      await sleep(300);
      // And the RTP host's RTCP still passes (the stranger moved nothing).
      await phoneEnd.rtcp.send(rtcpRr(0xaaaa0003), relayRtcp);
      await sleep(300);
      expect(rtcpAtTrunk()).toEqual(['aaaa0001', 'aaaa0003']);

      expect(await hangUpCalls(gw, accountId)).toBe(1);
      await expectSuccess(phone, 'user phone');
      await expectSuccess(trunk, 'trunk');
    } finally {
      await Promise.all([phoneEnd.close(), trunkEnd.close(), new Promise<void>((ok) => other.close(() => ok()))]);
    }
  });

  it('a rate change between two calls: each CDR is rated at the rate in force at its startedAt', async () => {
    // A deck of its own, so that its change touches no other test. Prefix 1: 0.600000/min + 0.010000 until now.
    const OLD = { prefix: '1', ratePerMinute: '0.600000', perMinuteMicros: 600_000n, feeMicros: 10_000n };
    const NEW = { prefix: '1', ratePerMinute: '1.800000', perMinuteMicros: 1_800_000n, feeMicros: 30_000n };
    const deckId = await createDeck(gw.t, [`1,United States,${OLD.ratePerMinute},0.010000,1,1,2020-01-01T00:00:00Z`]);
    const accountId = await createAccount(gw.t, { deckId, balance: TOPUP });
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const trunkPort = await freePort();
    const trunkId = await newTrunkWith(gw, { port: trunkPort });
    trunks.push(trunkId);
    await newRoute(gw, dest, trunkId);
    await trunksSettled();

    const call = async (whileUp?: () => Promise<void>) => {
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: 49040 }, pauseMs: 100 });
      const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: dest, from: user.username, user, rtp: 49042, pauseMs: 2200 });
      await Promise.all([answered(phone), answered(trunk)]);
      if (whileUp) await whileUp();
      await expectSuccess(phone, 'user phone');
      await expectSuccess(trunk, 'trunk');
    };

    // The new rate takes effect while the first call is up: that call started before it, and is
    // rated after it, so only its startedAt can tell the old rate from the new one.
    let changedAt = '';
    await call(async () => {
      changedAt = new Date().toISOString();
      await gw.t.http().post(`/v1/rate-decks/${deckId}/rates`).set('Content-Type', 'text/csv')
        .send(['prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom', `1,United States,${NEW.ratePerMinute},0.030000,1,1,${changedAt}`].join('\n'))
        .expect(201);
    });
    await sleep(50);
    await call();

    const cdrs = await waitForCdrs(gw, { accountId }, 2);
    expect(cdrs).toHaveLength(2);
    const [first, second] = cdrs;
    expect(first.startedAt < changedAt).toBe(true);
    expect(second.startedAt > changedAt).toBe(true);
    for (const c of cdrs) expect(c).toMatchObject({ disposition: 'answered', status: 'rated', ratePrefix: '1' });
    expect(first.billableSeconds).toBeGreaterThanOrEqual(1);
    expect(second.billableSeconds).toBeGreaterThanOrEqual(1);
    expect(first.ratePerMinute).toBe(OLD.ratePerMinute);
    expect(first.cost).toBe(expectedCost(OLD, first.billableSeconds));
    expect(second.ratePerMinute).toBe(NEW.ratePerMinute);
    expect(second.cost).toBe(expectedCost(NEW, second.billableSeconds));
    const balance = (await gw.t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance as string;
    expect(balance).toBe(money(micros(TOPUP) - micros(first.cost) - micros(second.cost)));
  });
});

describe('media port exhaustion during a call (a relay range of two pairs: one call)', () => {
  let gw: CallsGateway;
  const trunks: string[] = [];

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: 48900, rtpMax: 48903, env: { CALL_DRAIN_SECONDS: '1' } });
  });
  afterEach(async () => {
    if (gw) await hangUpEverything(gw);
  });
  afterAll(async () => {
    if (gw) {
      await disableTrunks(gw, trunks);
      await gw.close();
    }
  });

  it('a second call gets 503 (no media ports) while the first call keeps flowing RTP', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const otherAccount = await newAccount(gw, TOPUP);
    const other = await newUser(gw, otherAccount);
    const dest = newDestination();
    const trunkPort = await freePort();
    const trunkId = await newTrunkWith(gw, { port: trunkPort });
    trunks.push(trunkId);
    await newRoute(gw, dest, trunkId);
    await trunksSettled();
    const [phoneRtp, trunkRtp] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    try {
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: trunkRtp.port }, pauseMs: 100, timeoutSeconds: 30 });
      const first = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: dest, from: user.username, user, rtp: phoneRtp.port, timeoutSeconds: 30 });
      const [toPhone, toTrunk] = await Promise.all([answered(first), answered(trunk)]);
      for (const m of [toPhone, toTrunk]) expect(m.port >= 48900 && m.port <= 48903).toBe(true);
      const before = await exchangeRtp(phoneRtp, toPhone, trunkRtp, toTrunk, 10);
      expect(before.toCallee).toBeGreaterThanOrEqual(8);

      const second = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '503' }), dialled: dest, from: other.username, user: other, rtp: 49054 });
      const run = await expectSuccess(second, 'second call expecting 503');
      expect(firstLines(run.dir)).toContain('SIP/2.0 503 Service Unavailable (no media ports)');

      // The first call is untouched: media still flows both ways through the same relay ports.
      const after = await exchangeRtp(phoneRtp, toPhone, trunkRtp, toTrunk, 20);
      expect(after.toCallee).toBeGreaterThanOrEqual(15);
      expect(after.toCaller).toBeGreaterThanOrEqual(15);
      expect(await hangUpCalls(gw, accountId)).toBe(1);
      await expectSuccess(first, 'first call');
      await expectSuccess(trunk, 'trunk');
      // The trunk saw one call only: the refused one never left the gateway.
      expect(new Set(requestsReceived(trunk.dir, 'INVITE').map((m) => header(m, 'Call-ID'))).size).toBe(1);
      const refused = await waitForCdrs(gw, { accountId: otherAccount }, 1);
      expect(refused).toEqual([expect.objectContaining({ trunkId: null, sipCode: 503, answeredAt: null, cost: '0.000000' })]);
      expect(await waitForCdrs(gw, { accountId }, 1)).toEqual([expect.objectContaining({ trunkId, disposition: 'answered', hangupBy: 'gateway' })]);
    } finally {
      await Promise.all([phoneRtp.close(), trunkRtp.close()]);
    }
  });
});

/** register.xml with the Contact at 127.0.0.9:49190 (what a device behind NAT writes), sent from 127.0.0.1. */
function natRegister(): string {
  const xml = readFileSync(REGISTER, 'utf8');
  const contact = 'Contact: <sip:[service]@[local_ip]:[local_port]>';
  if (!xml.includes(contact)) throw new Error('register.xml has no Contact line to replace');
  const file = join(mkdtempSync(join(tmpdir(), 'gw-scn-')), 'register-nat.xml');
  writeFileSync(file, xml.split(contact).join('Contact: <sip:[service]@127.0.0.9:49190>'));
  return file;
}
