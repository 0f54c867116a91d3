/**
 * Call behaviours of docs/calls.md that had no end-to-end test (issue 12, item 12): forwarding
 * `always` and `noAnswer` (with its timer), forwarding to a SIP URI, INFO and UPDATE inside an
 * established dialog, two devices of one user answering at once, and inbound trunk calls to a
 * toll-free number (translated to one of our DIDs, or refused by a `block` rule).
 *
 * The gateway runs in-process (startCallsGateway) against the real PostgreSQL and Redis; SIPp plays
 * the trunks, the users' phones and devices; UDP sockets of the test are the RTP endpoints.
 *
 * Addresses: users and the gateway on 127.0.0.1; the trunk that delivers calls in sends from
 * TRUNK_IN_IP (on no other test file's allow-list); outbound trunks and SIP URI targets listen on
 * 127.0.0.1. RTP: the gateway relays on 48400–48699, the test's own sockets use 48700–48799.
 * Cleanup: every trunk of this file is disabled, its routes and toll-free entries deleted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { rtpPacket, UdpPeer } from '../media/udp-peer';
import { freePort } from '../support/net';
import { enc, uniqueTollFree } from '../tollfree/support';
import { audioOf, cseqOf, hangUpEverything, header, receivedMessages, requestsReceived } from './cc-support';
import {
  answered,
  balanceOf,
  CallsGateway,
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
  newTrunk,
  newUser,
  registerDevice,
  scenarioFile,
  scenarioWith,
  settledBalance,
  silentPeer,
  Sipp,
  sippClient,
  sippServer,
  sleep,
  startCallsGateway,
  TARIFF,
  timestamp,
  trunksSettled,
  User,
  waitForCdrs,
} from './support';

const RTP_MIN = 48400;
const RTP_MAX = 48699;
/** The test's own RTP sockets: inside the team member's range, outside the gateway's relay range. */
const TEST_RTP_MIN = 48700;
const TEST_RTP_MAX = 48799;
/** An RTP port written into SDP of a peer whose media this test never sends nor reads. */
const UNUSED_RTP = TEST_RTP_MAX;
const TOPUP = '10.000000';
const TRUNK_IN_IP = '127.0.0.121';
const CALLER = '+13125550163';

/** "METHOD" or "SIP/2.0 nnn" of each message a SIPp peer received, consecutive duplicates (retransmissions) folded. */
function flow(dir: string): string[] {
  const out: string[] = [];
  for (const line of firstLines(dir)) {
    const step = line.startsWith('SIP/2.0') ? line.split(' ').slice(0, 2).join(' ') : line.split(' ')[0];
    if (out[out.length - 1] !== step) out.push(step);
  }
  return out;
}

/** update.txt of the dialog- scenarios: the SDP address in the UPDATE (or its 200) that peer received. */
async function updateOf(s: Sipp): Promise<{ ip: string; port: number; at: number }> {
  const [ip, port, at] = (await scenarioFile(s, 'update.txt')).split(/\s+/);
  return { ip, port: Number(port), at: Number(at) };
}

describe('call behaviours: forwarding always / noAnswer / SIP URI, INFO and UPDATE, devices answering at once, inbound toll-free', () => {
  let gw: CallsGateway;
  let inboundTrunk: string;
  const trunks: string[] = [];
  const routes: string[] = [];
  const tollFrees: string[] = [];
  const sockets: UdpPeer[] = [];
  let nextRtp = TEST_RTP_MIN;

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: RTP_MIN, rtpMax: RTP_MAX, env: { CALL_DRAIN_SECONDS: '1' } });
    inboundTrunk = await newTrunk(gw, { host: TRUNK_IN_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IN_IP}/32`] });
    trunks.push(inboundTrunk);
    await trunksSettled();
  });
  // A test that failed half-way must not leave a call up for the next one (or for the shutdown).
  afterEach(async () => {
    if (gw) await hangUpEverything(gw);
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    if (gw) {
      // The database is shared by every test file of the run: leave no enabled trunk, route or entry behind.
      for (const id of routes) await gw.t.http().delete(`/v1/routes/${id}`).expect(204);
      for (const e164 of tollFrees) await gw.t.http().delete(`/v1/tollfree/${enc(e164)}`).expect(204);
      await disableTrunks(gw, trunks);
      await gw.close();
    }
  });

  /** A UDP socket of the test on the next free port of TEST_RTP_MIN..TEST_RTP_MAX-1. */
  async function rtpSocket(): Promise<UdpPeer> {
    for (;;) {
      if (nextRtp >= TEST_RTP_MAX) throw new Error('test RTP port range exhausted');
      const port = nextRtp++;
      try {
        const s = await UdpPeer.open(port);
        sockets.push(s);
        return s;
      } catch (e) {
        if (!/EADDRINUSE/.test(String(e))) throw e;
      }
    }
  }

  /** A trunk at 127.0.0.1:<free port> and a route to it for exactly `e164` (deleted after the file). */
  async function trunkFor(e164: string): Promise<{ trunkId: string; port: number }> {
    const port = await freePort();
    const trunkId = await newTrunk(gw, { port });
    trunks.push(trunkId);
    const r = await gw.t.http().post('/v1/routes').send({ prefix: e164.replace(/^\+/, ''), trunkId, priority: 100 }).expect(201);
    routes.push(r.body.id as string);
    await trunksSettled();
    return { trunkId, port };
  }

  async function userWithDid(forwarding?: Record<string, unknown>): Promise<{ user: User; did: string }> {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id, forwarding);
    return { user, did };
  }

  /** A registered device of `user`: REGISTER from 127.0.0.1:port, then the port is free for its SIPp server. */
  async function device(user: User): Promise<number> {
    const port = await freePort();
    await registerDevice(gw, user, port);
    return port;
  }

  const registrations = async (userId: string) => (await gw.t.http().get(`/v1/users/${userId}/registrations`).expect(200)).body.data as { sourcePort: number }[];
  const inRelayRange = (m: { ip: string | undefined; port: number }) => m.ip === '127.0.0.1' && m.port >= RTP_MIN && m.port <= RTP_MAX;

  // ------------------------------------------------------------------ forwarding

  it('forwarding always: the registered device gets nothing, the call goes straight out through the target\'s trunk, billed to the user\'s account', async () => {
    const target = newDestination();
    const { user, did } = await userWithDid({ mode: 'always', target });
    const out = await trunkFor(target);
    const devicePort = await device(user);
    expect((await registrations(user.id)).map((r) => r.sourcePort)).toEqual([devicePort]);
    const phone = await silentPeer(devicePort);
    try {
      const [trunkRtp, farRtp] = [await rtpSocket(), await rtpSocket()];
      const far = await sippServer({ scenario: 'uas-answer.xml', port: out.port, vars: { rtp: farRtp.port }, pauseMs: 200 });
      const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 2000 });

      const [toTrunk, toFar] = await Promise.all([answered(trunk), answered(far)]);
      expect(inRelayRange(toTrunk) && inRelayRange(toFar)).toBe(true);
      const media = await exchangeRtp(trunkRtp, toTrunk, farRtp, toFar);
      expect(media.toCallee).toBeGreaterThanOrEqual(20);
      expect(media.toCaller).toBeGreaterThanOrEqual(20);
      await expectSuccess(trunk, 'inbound trunk');
      await expectSuccess(far, 'forwarding target behind the outbound trunk');
      const invite = requestsReceived(far.dir, 'INVITE')[0];
      expect(invite).toMatch(new RegExp(`^INVITE sip:\\+?${target.slice(1)}@127\\.0\\.0\\.1:${out.port}[;> ]`));
      expect(header(invite, 'From')).toMatch(new RegExp(`sip:\\+?${CALLER.slice(1)}@`));
      expect(flow(trunk.dir)).toEqual(expect.arrayContaining(['SIP/2.0 200']));
      // "always" rings no device: the registered one never heard of the call.
      expect(phone.received()).toEqual([]);

      const cdrs = await waitForCdrs(gw, { accountId: user.accountId }, 1);
      expect(cdrs).toHaveLength(1);
      const cdr = cdrs[0];
      expect(cdr).toMatchObject({
        direction: 'inbound',
        accountId: user.accountId,
        userId: user.id,
        trunkId: out.trunkId,
        caller: CALLER,
        callee: did,
        translatedTo: target,
        disposition: 'answered',
        sipCode: 200,
        hangupBy: 'caller',
        ratePrefix: TARIFF.us.prefix,
        status: 'rated',
      });
      expect(cdr.billableSeconds).toBeGreaterThanOrEqual(1);
      expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
      const expected = money(micros(TOPUP) - micros(cdr.cost));
      expect(await settledBalance(gw, user.accountId, expected)).toBe(expected);
    } finally {
      await phone.close();
    }
  });

  it('forwarding on no answer (noAnswerSeconds 5): the device rings, gets CANCEL after 5 s, then the call goes out to the target, billed to the user', async () => {
    const target = newDestination();
    const { user, did } = await userWithDid({ mode: 'noAnswer', target, noAnswerSeconds: 5 });
    const out = await trunkFor(target);
    const devicePort = await device(user);
    const [trunkRtp, farRtp] = [await rtpSocket(), await rtpSocket()];
    const ringing = await sippServer({ scenario: 'uas-ring-cancel.xml', port: devicePort, timeoutSeconds: 30 });
    const far = await sippServer({ scenario: 'uas-answer.xml', port: out.port, vars: { rtp: farRtp.port }, pauseMs: 200, timeoutSeconds: 30 });
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 2000, timeoutSeconds: 30 });

    const ringAt = await timestamp(ringing, 'ringing.txt');
    const cancelAt = await timestamp(ringing, 'cancel.txt', 20_000);
    // The no-answer timer is 5 s from the INVITE to the device. The window is wide on purpose: a
    // loaded 2-core CI delays SIPp's own timestamps; the lower bound is what proves the timer ran.
    expect(cancelAt - ringAt).toBeGreaterThanOrEqual(4500);
    expect(cancelAt - ringAt).toBeLessThanOrEqual(9000);
    const [toTrunk, toFar] = await Promise.all([answered(trunk), answered(far)]);
    // The forward starts only once the device has been cancelled.
    expect(toFar.at).toBeGreaterThan(cancelAt);
    const media = await exchangeRtp(trunkRtp, toTrunk, farRtp, toFar);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(ringing, 'device that rings and is cancelled');
    await expectSuccess(trunk, 'inbound trunk');
    await expectSuccess(far, 'forwarding target behind the outbound trunk');
    expect(flow(ringing.dir)).toEqual(['INVITE', 'CANCEL', 'ACK']);
    // The caller heard the device ring, then the answer of the forward.
    expect(flow(trunk.dir)).toEqual(expect.arrayContaining(['SIP/2.0 180', 'SIP/2.0 200']));
    expect(requestsReceived(far.dir, 'INVITE')[0]).toMatch(new RegExp(`^INVITE sip:\\+?${target.slice(1)}@127\\.0\\.0\\.1:${out.port}[;> ]`));

    const cdrs = await waitForCdrs(gw, { accountId: user.accountId }, 2);
    expect(cdrs).toHaveLength(2);
    const fwd = cdrs.find((c) => c.trunkId === out.trunkId);
    const rang = cdrs.find((c) => c !== fwd);
    expect(rang).toMatchObject({ direction: 'inbound', userId: user.id, trunkId: inboundTrunk, callee: did, disposition: 'noAnswer', sipCode: 408, answeredAt: null, cost: '0.000000' });
    expect(fwd).toMatchObject({ direction: 'inbound', accountId: user.accountId, callee: did, translatedTo: target, disposition: 'answered', sipCode: 200, ratePrefix: TARIFF.us.prefix, status: 'rated' });
    expect(fwd!.cost).toBe(expectedCost(TARIFF.us, fwd!.billableSeconds));
    const expected = money(micros(TOPUP) - micros(fwd!.cost));
    expect(await settledBalance(gw, user.accountId, expected)).toBe(expected);
  });

  it('forwarding to a SIP URI: an offline user\'s call is sent to that URI (no trunk, no charge), media relayed', async () => {
    const uriPort = await freePort();
    const target = `sip:fwd-desk@127.0.0.1:${uriPort}`;
    const { user, did } = await userWithDid({ mode: 'offline', target });
    expect(await registrations(user.id)).toEqual([]);
    const [trunkRtp, deskRtp] = [await rtpSocket(), await rtpSocket()];
    const desk = await sippServer({ scenario: 'uas-answer.xml', port: uriPort, vars: { rtp: deskRtp.port }, pauseMs: 200 });
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 2000 });

    const [toTrunk, toDesk] = await Promise.all([answered(trunk), answered(desk)]);
    expect(inRelayRange(toTrunk) && inRelayRange(toDesk)).toBe(true);
    const media = await exchangeRtp(trunkRtp, toTrunk, deskRtp, toDesk);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(trunk, 'inbound trunk');
    await expectSuccess(desk, 'SIP URI target');
    const invite = requestsReceived(desk.dir, 'INVITE')[0];
    // Sent to the URI itself: its Request-URI and To are the target, From is the PSTN caller.
    expect(invite.split(/\r?\n/)[0]).toBe(`INVITE ${target} SIP/2.0`);
    expect(header(invite, 'To')).toBe(`<${target}>`);
    expect(header(invite, 'From')).toMatch(new RegExp(`^<sip:\\+?${CALLER.slice(1)}@127\\.0\\.0\\.1>;tag=`));
    expect(audioOf(invite).port).toBe(toDesk.port);

    const cdrs = await waitForCdrs(gw, { userId: user.id }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'inbound', userId: user.id, trunkId: inboundTrunk, callee: did, translatedTo: target, disposition: 'answered', sipCode: 200, hangupBy: 'caller', cost: '0.000000' });
    expect(cdrs[0].durationSeconds).toBeGreaterThanOrEqual(1);
    expect(await balanceOf(gw, user.accountId)).toBe(TOPUP);
  });

  // ------------------------------------------------------------------ in the dialog

  it('INFO from the caller and UPDATE from the callee inside the dialog: each relayed to the other side and answered; media follows the UPDATE', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const out = await trunkFor(dest);
    const [phoneRtp, trunkRtp, trunkRtp2] = [await rtpSocket(), await rtpSocket(), await rtpSocket()];
    const far = await sippServer({ scenario: 'dialog-uas-update.xml', port: out.port, vars: { rtp: trunkRtp.port, rtp2: trunkRtp2.port } });
    const phone = sippClient(gw, { scenario: 'dialog-uac-info.xml', dialled: dest, from: user.username, user, rtp: phoneRtp.port, pauseMs: 500 });

    const [toPhone, toFar] = await Promise.all([answered(phone), answered(far)]);
    const [phoneUpdate, farUpdate] = await Promise.all([updateOf(phone), updateOf(far)]);
    // The UPDATE's offer and its answer were rewritten by the relay, not passed through raw.
    expect(inRelayRange(phoneUpdate)).toBe(true);
    expect(inRelayRange(farUpdate)).toBe(true);
    // After the UPDATE the callee's media is at its new port: the relay sends there, before the
    // callee has sent anything from it (so no latching on its source could explain it), not to the old port.
    trunkRtp.received.length = 0;
    trunkRtp2.received.length = 0;
    for (let i = 0; i < 5; i++) {
      await phoneRtp.send(rtpPacket(900 + i, { ssrc: 0x33333333, payload: Buffer.alloc(160, 0x3c) }), phoneUpdate.port);
      await sleep(20);
    }
    await sleep(300);
    expect(trunkRtp2.received.filter((r) => r.data.length === 172).length).toBeGreaterThanOrEqual(4);
    expect(trunkRtp.received).toEqual([]);
    const media = await exchangeRtp(phoneRtp, phoneUpdate, trunkRtp2, farUpdate);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    expect(toPhone.port).toBe(phoneUpdate.port);
    expect(toFar.port).toBe(farUpdate.port);
    await expectSuccess(phone, 'user phone sending INFO, answering UPDATE');
    await expectSuccess(far, 'trunk answering INFO, sending UPDATE');

    // INFO: relayed to the trunk in its dialog with its body and content type, and its 200 came back.
    const info = requestsReceived(far.dir, 'INFO');
    expect(info.length).toBeGreaterThanOrEqual(1);
    const invite = requestsReceived(far.dir, 'INVITE')[0];
    expect(header(info[0], 'Call-ID')).toBe(header(invite, 'Call-ID'));
    expect(cseqOf(info[0])).toBeGreaterThan(cseqOf(invite));
    expect(info[0].split(/\r?\n/).filter((l) => /^Content-Type\s*:/i.test(l))).toEqual(['Content-Type: application/dtmf-relay']);
    expect(info[0]).toMatch(/\r?\n\r?\nSignal=5\r?\nDuration=160/);
    const phoneGot = receivedMessages(phone.dir);
    const infoAnswer = phoneGot.findIndex((m) => m.startsWith('SIP/2.0') && /^CSeq\s*:\s*3 INFO/im.test(m));
    expect(infoAnswer).toBeGreaterThanOrEqual(0);
    expect(phoneGot[infoAnswer]).toMatch(/^SIP\/2\.0 200 /);
    expect(phoneGot.findIndex((m) => m.startsWith('UPDATE '))).toBeGreaterThan(infoAnswer);
    // UPDATE: the user's phone got it in its own dialog (the gateway's tag), with the relay's SDP.
    const update = requestsReceived(phone.dir, 'UPDATE')[0];
    expect(update).toBeDefined();
    expect(header(update, 'Call-ID')).toBe(header(phoneGot.find((m) => /^SIP\/2\.0 200 /.test(m) && /^CSeq\s*:\s*2 INVITE/im.test(m))!, 'Call-ID'));
    expect(audioOf(update).port).not.toBe(trunkRtp2.port);
    const updateAnswer = receivedMessages(far.dir).find((m) => m.startsWith('SIP/2.0') && /^CSeq\s*:\s*101 UPDATE/im.test(m));
    expect(updateAnswer).toMatch(/^SIP\/2\.0 200 /);
    expect(audioOf(updateAnswer!).port).not.toBe(phoneRtp.port);

    const cdrs = await waitForCdrs(gw, { accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'outbound', userId: user.id, trunkId: out.trunkId, callee: dest, disposition: 'answered', sipCode: 200, hangupBy: 'caller', status: 'rated' });
    expect(cdrs[0].cost).toBe(expectedCost(TARIFF.us, cdrs[0].billableSeconds));
  });

  // ------------------------------------------------------------------ forking

  it('two devices of one user answer at once (both send 200): one is bridged, the other gets ACK then BYE; one answered CDR', async () => {
    const { user, did } = await userWithDid();
    const [portA, portB] = [await device(user), await device(user)];
    expect((await registrations(user.id)).map((r) => r.sourcePort).sort()).toEqual([portA, portB].sort());
    const [trunkRtp, rtpA, rtpB] = [await rtpSocket(), await rtpSocket(), await rtpSocket()];
    const devA = await sippServer({ scenario: 'uas-answer-at-once.xml', port: portA, vars: { rtp: rtpA.port } });
    const devB = await sippServer({ scenario: 'uas-answer-at-once.xml', port: portB, vars: { rtp: rtpB.port } });
    // The trunk keeps the call 4 s: the loser's BYE must come while the call is still up.
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 4000 });

    const [toTrunk] = await Promise.all([answered(trunk), answered(devA), answered(devB)]);
    // Whichever device gets BYE first lost the race; the winner's BYE only comes when the trunk hangs up.
    const loserIndex = await Promise.race([timestamp(devA, 'bye.txt').then(() => 0), timestamp(devB, 'bye.txt').then(() => 1)]);
    const [winner, loser] = loserIndex === 0 ? [devB, devA] : [devA, devB];
    const [winnerRtp, loserRtp] = loserIndex === 0 ? [rtpB, rtpA] : [rtpA, rtpB];
    // SIPp's message log is read once it has exited; meanwhile its files say where each device is.
    expect(existsSync(join(winner.dir, 'bye.txt'))).toBe(false);
    const toWinner = await answered(winner);
    const media = await exchangeRtp(trunkRtp, toTrunk, winnerRtp, toWinner);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    expect(loserRtp.received).toEqual([]);
    await expectSuccess(trunk, 'inbound trunk');
    await expectSuccess(winner, 'device that won');
    await expectSuccess(loser, 'device that lost');
    expect(flow(winner.dir)).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(flow(loser.dir)).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(await timestamp(loser, 'bye.txt')).toBeLessThan(await timestamp(winner, 'bye.txt'));
    // The caller saw one answer only (one To tag, retransmissions aside).
    expect(new Set(receivedMessages(trunk.dir).filter((m) => /^SIP\/2\.0 200 /.test(m) && /INVITE/.test(header(m, 'CSeq') ?? '')).map((m) => header(m, 'To'))).size).toBe(1);

    const cdrs = await waitForCdrs(gw, { userId: user.id }, 1);
    expect(cdrs.filter((c) => c.disposition === 'answered')).toHaveLength(1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'inbound', trunkId: inboundTrunk, userId: user.id, caller: CALLER, callee: did, disposition: 'answered', sipCode: 200, hangupBy: 'caller', cost: '0.000000' });
    expect(await balanceOf(gw, user.accountId)).toBe(TOPUP);
  });

  // ------------------------------------------------------------------ inbound toll-free

  it('inbound trunk call to a toll-free number translated to one of our DIDs: the device answers, the entry\'s account pays the DID\'s rate', async () => {
    const { user, did } = await userWithDid();
    const payer = await newAccount(gw, TOPUP);
    const tollFree = uniqueTollFree();
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: did, rules: [] }).expect(201);
    tollFrees.push(tollFree);
    const devicePort = await device(user);
    const [trunkRtp, deviceRtp] = [await rtpSocket(), await rtpSocket()];
    const phone = await sippServer({ scenario: 'uas-answer.xml', port: devicePort, vars: { rtp: deviceRtp.port }, pauseMs: 300 });
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: tollFree, from: CALLER, rtp: trunkRtp.port, pauseMs: 2000 });

    const [toTrunk, toDevice] = await Promise.all([answered(trunk), answered(phone)]);
    const media = await exchangeRtp(trunkRtp, toTrunk, deviceRtp, toDevice);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(trunk, 'inbound trunk');
    await expectSuccess(phone, 'the DID user\'s device');
    expect(header(requestsReceived(phone.dir, 'INVITE')[0], 'From')).toMatch(new RegExp(`sip:\\+?${CALLER.slice(1)}@`));

    const cdrs = await waitForCdrs(gw, { number: tollFree }, 1);
    expect(cdrs).toHaveLength(1);
    const cdr = cdrs[0];
    expect(cdr).toMatchObject({
      direction: 'inbound',
      accountId: payer,
      userId: user.id,
      trunkId: inboundTrunk,
      caller: CALLER,
      callee: tollFree,
      translatedTo: did,
      disposition: 'answered',
      sipCode: 200,
      hangupBy: 'caller',
      ratePrefix: TARIFF.us.prefix,
      status: 'rated',
    });
    expect(cdr.billableSeconds).toBeGreaterThanOrEqual(1);
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
    const expected = money(micros(TOPUP) - micros(cdr.cost));
    expect(await settledBalance(gw, payer, expected)).toBe(expected);
    // The DID's owner pays nothing for a call someone's toll-free number brought in.
    expect(await balanceOf(gw, user.accountId)).toBe(TOPUP);
  });

  it('inbound trunk call to a toll-free number translated to a PSTN number: out through the target\'s trunk, the entry\'s account pays the target\'s rate', async () => {
    const payer = await newAccount(gw, TOPUP);
    const tollFree = uniqueTollFree();
    const target = `+1212${String(2_000_000 + Math.floor(Math.random() * 7_000_000))}`;
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: target, rules: [] }).expect(201);
    tollFrees.push(tollFree);
    const out = await trunkFor(target);
    const [trunkRtp, farRtp] = [await rtpSocket(), await rtpSocket()];
    const far = await sippServer({ scenario: 'uas-answer.xml', port: out.port, vars: { rtp: farRtp.port }, pauseMs: 200 });
    const trunk = sippClient(gw, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: tollFree, from: CALLER, rtp: trunkRtp.port, pauseMs: 2000 });

    const [toTrunk, toFar] = await Promise.all([answered(trunk), answered(far)]);
    const media = await exchangeRtp(trunkRtp, toTrunk, farRtp, toFar);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(trunk, 'inbound trunk');
    await expectSuccess(far, 'toll-free target behind the outbound trunk');
    expect(requestsReceived(far.dir, 'INVITE')[0]).toMatch(new RegExp(`^INVITE sip:\\+?${target.slice(1)}@127\\.0\\.0\\.1:${out.port}[;> ]`));

    const cdrs = await waitForCdrs(gw, { number: tollFree }, 1);
    expect(cdrs).toHaveLength(1);
    const cdr = cdrs[0];
    expect(cdr).toMatchObject({ direction: 'inbound', accountId: payer, userId: null, trunkId: out.trunkId, caller: CALLER, callee: tollFree, translatedTo: target, disposition: 'answered', sipCode: 200, ratePrefix: TARIFF.nyc.prefix, status: 'rated' });
    expect(cdr.billableSeconds).toBeGreaterThanOrEqual(1);
    expect(cdr.cost).toBe(expectedCost(TARIFF.nyc, cdr.billableSeconds));
    const expected = money(micros(TOPUP) - micros(cdr.cost));
    expect(await settledBalance(gw, payer, expected)).toBe(expected);
  });

  it('inbound trunk call to a toll-free number whose block rule matches: the rule\'s SIP code and reason; the target device gets nothing, nobody pays', async () => {
    const { user, did } = await userWithDid();
    const payer = await newAccount(gw, TOPUP);
    const tollFree = uniqueTollFree();
    const rule = { name: 'no calls from Chicago', when: { callerPrefixes: ['+1312'] }, action: { block: 'Chicago callers are not served', sipCode: 603 } };
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: did, rules: [rule] }).expect(201);
    tollFrees.push(tollFree);
    const devicePort = await device(user);
    const phone = await silentPeer(devicePort);
    try {
      const trunk = sippClient(gw, { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: '603' }), ip: TRUNK_IN_IP, dialled: tollFree, from: CALLER, rtp: UNUSED_RTP });
      const run = await expectSuccess(trunk, 'trunk expecting 603');
      const refusal = receivedMessages(run.dir).find((m) => /^SIP\/2\.0 603 /.test(m));
      expect(refusal).toBeDefined();
      // 603's phrase is Decline (RFC 3261 §21.6.2), followed by the rule's reason.
      expect(refusal!.split(/\r?\n/)[0]).toBe('SIP/2.0 603 Decline (Chicago callers are not served)');
      expect(phone.received()).toEqual([]);

      const cdrs = await waitForCdrs(gw, { number: tollFree }, 1);
      expect(cdrs).toHaveLength(1);
      expect(cdrs[0]).toMatchObject({ direction: 'inbound', trunkId: inboundTrunk, caller: CALLER, callee: tollFree, disposition: 'rejected', sipCode: 603, answeredAt: null, cost: '0.000000' });
      expect(await balanceOf(gw, payer)).toBe(TOPUP);
      expect(await balanceOf(gw, user.accountId)).toBe(TOPUP);
    } finally {
      await phone.close();
    }
  });
});
