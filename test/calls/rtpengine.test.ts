/**
 * MEDIA_ENGINE=rtpengine end to end: the core call tests (outbound answered with exact CDR money,
 * inbound from a trunk to a registered device, trunk failover) with a real rtpengine in userspace
 * mode relaying the media, and rtpengine's own `query` showing the packets. Then what goes wrong
 * with the engine: an rtpengine that does not answer is skipped for the next one of RTPENGINE_NG;
 * with none answering the caller gets 503 "media engine unavailable" and the gateway keeps
 * answering; garbage sent to the gateway's ng socket is ignored.
 *
 * Ports (this engineer's ranges): rtpengine RTP 58000–59999 (58000–58998 main, 59000–59998 the
 * failover gateway's), ng control 127.0.0.1:22222–22230; SIP and RTP peers on free loopback ports.
 */
import { createSocket } from 'node:dgram';
import type { RtpengineEngine } from '../../src/media';
import { MEDIA_ENGINE } from '../../src/calls/media-relay.provider';
import { UdpPeer } from '../media/udp-peer';
import { freePort } from '../support/net';
import { freeNgPort, startRtpengine, type Rtpengine } from '../support/rtpengine';
import {
  answered,
  CallsGateway,
  disableTrunks,
  exchangeRtp,
  expectedCost,
  expectSuccess,
  firstLines,
  liveCalls,
  micros,
  money,
  outboundCaller,
  newAccount,
  newDid,
  newRoute,
  newTrunk,
  newUser,
  registerDevice,
  scenarioWith,
  settledBalance,
  silentPeer,
  sippClient,
  sippServer,
  startCallsGateway,
  TARIFF,
  TRUNK_IP,
  trunksSettled,
  waitForCdrs,
} from './support';

const TOPUP = '10.000000';
const CALLER = '+14155550123';

/** `query` of one call on the test's rtpengine, read with a raw ng datagram (independent of the gateway's client). */
async function rtpengineQuery(ngPort: number, callId: string): Promise<string> {
  const s = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('rtpengine query unanswered')), 2000);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString('latin1'));
      });
      // A fresh cookie each time: rtpengine answers a known cookie from its reply cache.
      s.send(`q${Date.now()}${Math.random().toString(36).slice(2)} d7:call-id${callId.length}:${callId}7:command5:querye`, ngPort, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** The RTP packet total rtpengine counted for a call (its `totals`). */
const rtpTotal = (reply: string) => Number(/6:totalsd3:RTPd(?:[^]*?)7:packetsi(\d+)e/.exec(reply)?.[1] ?? -1);

describe('MEDIA_ENGINE=rtpengine: calls with a real rtpengine (userspace) relaying the media', () => {
  let gw: CallsGateway;
  const trunks: string[] = [];
  const sockets: UdpPeer[] = [];

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: 58000, rtpMax: 58998, engine: 'rtpengine' });
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    if (gw) {
      await disableTrunks(gw, trunks);
      await gw.close();
    }
  });

  const inRtpengineRange = (m: { ip: string; port: number }) => m.ip === '127.0.0.1' && m.port >= 58000 && m.port <= 58998;

  async function rtpPeers() {
    const [phone, callee] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    sockets.push(phone, callee);
    return { phone, callee };
  }

  const caller = (on: CallsGateway = gw) => outboundCaller(on, trunks, TOPUP);

  it('outbound: both SDPs name rtpengine, RTP flows both ways through it (its query counts the packets), the CDR is rated exactly', async () => {
    const c = await caller();
    await newDid(gw, c.user.id);
    const rtp = await rtpPeers();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 300 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 3000 });

    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
    expect(inRtpengineRange(toPhone)).toBe(true);
    expect(inRtpengineRange(toTrunk)).toBe(true);
    expect(toPhone.port).not.toBe(toTrunk.port);
    const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    // rtpengine itself counted them (the ng call-id is the gateway's call id), and so does GET /v1/calls.
    const [live] = await liveCalls(gw, { accountId: c.accountId });
    expect(rtpTotal(await rtpengineQuery(gw.rtpengine!.ngPort, live.id))).toBeGreaterThanOrEqual(40);
    expect(live.media!.fromCaller.received).toBeGreaterThanOrEqual(20);
    expect(live.media!.fromCallee.received).toBeGreaterThanOrEqual(20);

    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    const [cdr] = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdr).toMatchObject({ direction: 'outbound', trunkId: c.trunkId, disposition: 'answered', sipCode: 200, hangupBy: 'caller', status: 'rated' });
    expect(cdr.durationSeconds).toBeGreaterThanOrEqual(2);
    expect(cdr.durationSeconds).toBeLessThanOrEqual(8);
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
    const expected = money(micros(TOPUP) - micros(cdr.cost));
    expect(await settledBalance(gw, c.accountId, expected)).toBe(expected);
    // The call is deleted on rtpengine at its end.
    expect(await rtpengineQuery(gw.rtpengine!.ngPort, live.id)).toContain('Unknown call-id');
  });

  it('inbound: a trunk call to a DID rings the registered device; media through rtpengine; CDR inbound, free', async () => {
    const inbound = await newTrunk(gw, { host: TRUNK_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IP}/32`] });
    trunks.push(inbound);
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id);
    const devicePort = await freePort();
    await registerDevice(gw, user, devicePort);
    await trunksSettled();
    const rtp = await rtpPeers();
    const device = await sippServer({ scenario: 'uas-answer.xml', port: devicePort, vars: { rtp: rtp.callee.port }, pauseMs: 300 });
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IP, dialled: did, from: CALLER, rtp: rtp.phone.port, pauseMs: 2500 });

    const [toTrunk, toDevice] = await Promise.all([answered(trunk), answered(device)]);
    expect(inRtpengineRange(toTrunk)).toBe(true);
    expect(inRtpengineRange(toDevice)).toBe(true);
    const media = await exchangeRtp(rtp.phone, toTrunk, rtp.callee, toDevice);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(trunk, 'trunk');
    await expectSuccess(device, 'device');
    const cdrs = await waitForCdrs(gw, { userId: user.id }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'inbound', trunkId: inbound, userId: user.id, caller: CALLER, callee: did, disposition: 'answered', sipCode: 200, hangupBy: 'caller', cost: '0.000000' });
  });

  it('trunk failover: the first trunk answers 503, the second answers; media through rtpengine; two CDRs with the caller\'s Call-ID', async () => {
    const c = await caller();
    const firstPort = await freePort();
    const first = await newTrunk(gw, { port: firstPort });
    trunks.push(first);
    await newRoute(gw, c.dest, first, 1);
    await trunksSettled();
    const rtp = await rtpPeers();
    const failing = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: '503 Service Unavailable' }), port: firstPort });
    const trunk = await sippServer({ scenario: 'uas-answer-hangup.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 2500 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port });

    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
    expect(inRtpengineRange(toTrunk)).toBe(true);
    const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(failing, 'first trunk answering 503');
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'second trunk');
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 2);
    expect(cdrs).toHaveLength(2);
    const failed = cdrs.find((x) => x.trunkId === first)!;
    const ok = cdrs.find((x) => x.trunkId === c.trunkId)!;
    expect(failed).toMatchObject({ disposition: 'failed', sipCode: 503, cost: '0.000000', status: 'rated' });
    expect(ok).toMatchObject({ disposition: 'answered', sipCode: 200, hangupBy: 'callee', status: 'rated' });
    expect(failed.callId).toBe(ok.callId);
    expect(ok.cost).toBe(expectedCost(TARIFF.us, ok.billableSeconds));
  });

  describe('hostile and failing engines', () => {
    let spare: Rtpengine;
    /** A gateway whose RTPENGINE_NG lists a silent address first, then a live rtpengine. */
    let failover: CallsGateway;
    /** A gateway whose only rtpengine is a silent address. */
    let down: CallsGateway;
    let silentNg: number;

    beforeAll(async () => {
      spare = await startRtpengine({ ngPort: await freeNgPort(), portMin: 59000, portMax: 59998 });
      silentNg = await freeNgPort();
      const env = { RTPENGINE_TIMEOUT_MS: '300' };
      failover = await startCallsGateway({ rtpMin: 59000, rtpMax: 59998, engine: 'builtin', env: { ...env, MEDIA_ENGINE: 'rtpengine', RTPENGINE_NG: `127.0.0.1:${silentNg},${spare.ng}` } });
      down = await startCallsGateway({ rtpMin: 57000, rtpMax: 57998, engine: 'builtin', env: { ...env, MEDIA_ENGINE: 'rtpengine', RTPENGINE_NG: `127.0.0.1:${silentNg}` } });
    });
    afterAll(async () => {
      await failover?.close();
      await down?.close();
      await spare?.stop();
    });

    it('an rtpengine that does not answer is skipped: the offer goes to the next one of RTPENGINE_NG and the call has media', async () => {
      const c = await caller(failover);
      const rtp = await rtpPeers();
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 300 });
      const phone = sippClient(failover, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 2000 });
      const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
      expect(toTrunk.port).toBeGreaterThanOrEqual(59000);
      expect(toTrunk.port).toBeLessThanOrEqual(59998);
      const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk);
      expect(media.toCallee).toBeGreaterThanOrEqual(20);
      expect(media.toCaller).toBeGreaterThanOrEqual(20);
      await expectSuccess(phone, 'user phone');
      await expectSuccess(trunk, 'trunk');
      const [cdr] = await waitForCdrs(failover, { accountId: c.accountId }, 1);
      expect(cdr).toMatchObject({ disposition: 'answered', sipCode: 200, status: 'rated' });
    });

    it('no rtpengine answers: the caller gets 503 "media engine unavailable", the trunk nothing, a failed CDR; the gateway keeps answering', async () => {
      const c = await caller(down);
      const rtp = await rtpPeers();
      const trunk = await silentPeer(c.trunkPort);
      const phone = sippClient(down, { scenario: scenarioWith('uac-final.xml', { FINAL: '503' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port });
      await expectSuccess(phone, 'user phone refused');
      expect(firstLines(phone.dir)).toContainEqual(expect.stringMatching(/^SIP\/2\.0 503 .*media engine unavailable/));
      const [cdr] = await waitForCdrs(down, { accountId: c.accountId }, 1);
      expect(cdr).toMatchObject({ disposition: 'failed', sipCode: 503, sipReason: 'Service Unavailable (media engine unavailable)', cost: '0.000000' });
      // Same process: HTTP and SIP still answer (a second call gets the same clear refusal).
      await down.t.http().get('/v1/calls').expect(200);
      const again = sippClient(down, { scenario: scenarioWith('uac-final.xml', { FINAL: '503' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port });
      await expectSuccess(again, 'second call refused');
      expect(trunk.received()).toEqual([]);
      await trunk.close();
    });

    it('garbage sent to the gateway\'s ng socket is ignored and counted; calls still get media', async () => {
      const engine = failover.t.app.get<RtpengineEngine>(MEDIA_ENGINE, { strict: false });
      const port = engine.client.localPort!;
      const before = engine.strayReplies;
      const s = createSocket('udp4');
      const junk = [Buffer.from('not bencode at all'), Buffer.from('deadbeef d6:result2:oke'), Buffer.from('x d6:resulti9999999999999999999ee'), Buffer.alloc(1500, 0xff), Buffer.from('c ' + 'l'.repeat(500))];
      for (const d of junk) await new Promise<void>((ok) => s.send(d, port, '127.0.0.1', () => ok()));
      s.close();
      for (let i = 0; i < 50 && engine.strayReplies < before + junk.length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(engine.strayReplies).toBe(before + junk.length);

      const c = await caller(failover);
      const rtp = await rtpPeers();
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 200 });
      const phone = sippClient(failover, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 1500 });
      const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
      const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk, 10);
      expect(media.toCallee).toBeGreaterThanOrEqual(8);
      await expectSuccess(phone, 'user phone');
      await expectSuccess(trunk, 'trunk');
    });
  });
});
