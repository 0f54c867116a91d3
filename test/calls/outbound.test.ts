/**
 * Outbound calls (user → PSTN) end to end: SIPp plays the user's phone (with the 407 digest
 * handshake) and the trunks, UDP sockets of the test play both RTP endpoints, the gateway runs
 * in-process on 127.0.0.1 against the real PostgreSQL and Redis, and its worker rates the CDRs.
 * Each test has its own account, user, destination number and trunk(s), and a route for exactly
 * that number, so tests never see each other's calls, CDRs or money.
 */
import { UdpPeer } from '../media/udp-peer';
import { freePort } from '../support/net';
import { enc, uniqueTollFree } from '../tollfree/support';
import {
  answered,
  balanceOf,
  CallsGateway,
  disableTrunks,
  exchangeRtp,
  expectedCost,
  expectSuccess,
  firstLines,
  ledgerOf,
  liveCalls,
  micros,
  money,
  newAccount,
  newDestination,
  newDid,
  newRoute,
  newTrunk,
  newUser,
  receivedRequest,
  scenarioWith,
  settledBalance,
  silentPeer,
  sippClient,
  sippServer,
  startCallsGateway,
  TARIFF,
  timestamp,
  trunksSettled,
  waitForCdrs,
} from './support';

const RTP_MIN = 42000;
const RTP_MAX = 42498;
const TOPUP = '10.000000';

describe('outbound calls through the B2BUA (SIPp user and trunks, real PostgreSQL and Redis)', () => {
  let gw: CallsGateway;
  const trunks: string[] = [];
  const sockets: UdpPeer[] = [];

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: RTP_MIN, rtpMax: RTP_MAX });
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    if (gw) {
      await disableTrunks(gw, trunks);
      await gw.close();
    }
  });

  /** An account topped up with `balance`, its user, a destination with a route to one new trunk. */
  async function caller(balance: string | null = TOPUP, trunk: { username?: string; password?: string } = {}) {
    const accountId = await newAccount(gw, balance ?? undefined);
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const trunkPort = await freePort();
    const trunkId = await newTrunk(gw, { port: trunkPort, ...trunk });
    trunks.push(trunkId);
    await newRoute(gw, dest, trunkId);
    await trunksSettled();
    return { accountId, user, dest, trunkPort, trunkId };
  }

  async function rtpPeers() {
    const [phone, callee] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    sockets.push(phone, callee);
    return { phone, callee };
  }

  const inRelayRange = (m: { ip: string; port: number }) => m.ip === '127.0.0.1' && m.port >= RTP_MIN && m.port <= RTP_MAX;

  it('answered: RTP flows both ways through the relay, the CDR is rated and the balance debited exactly', async () => {
    const c = await caller();
    const did = await newDid(gw, c.user.id);
    const rtp = await rtpPeers();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 300 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 3000 });

    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
    // Both SDPs were rewritten to the relay: neither side was given the other's own address.
    expect(inRelayRange(toPhone)).toBe(true);
    expect(inRelayRange(toTrunk)).toBe(true);
    expect(toPhone.port).not.toBe(toTrunk.port);
    const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    const [live] = await liveCalls(gw, { accountId: c.accountId });
    expect(live).toMatchObject({ direction: 'outbound', state: 'answered' });
    expect(live.media!.fromCaller.forwarded).toBeGreaterThanOrEqual(20);
    expect(live.media!.fromCallee.forwarded).toBeGreaterThanOrEqual(20);

    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    // The trunk got the call for the E.164 number, from the gateway, with the user's DID as caller.
    const invite = receivedRequest(trunk.dir, 'INVITE')!;
    expect(invite).toMatch(new RegExp(`^INVITE sip:\\+?${c.dest.slice(1)}@127\\.0\\.0\\.1:${c.trunkPort}[;> ]`, 'm'));
    expect(invite).toMatch(new RegExp(`^From:[^\\r\\n]*sip:\\+?${did.slice(1)}@`, 'm'));
    expect(invite).toMatch(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m);

    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    const cdr = cdrs[0];
    expect(cdr).toMatchObject({
      direction: 'outbound',
      accountId: c.accountId,
      userId: c.user.id,
      trunkId: c.trunkId,
      callee: c.dest,
      disposition: 'answered',
      sipCode: 200,
      hangupBy: 'caller',
      ratePrefix: TARIFF.us.prefix,
      ratePerMinute: TARIFF.us.ratePerMinute,
      currency: 'USD',
      status: 'rated',
    });
    expect(cdr.answeredAt).not.toBeNull();
    // The phone hangs up 3 s after its ACK. Widened from 3 ± 1 s: on a loaded 2-core CI SIPp's pause
    // and its BYE can run late (never early), so the bound above is loose; still fails at 0 or 3×.
    expect(cdr.durationSeconds).toBeGreaterThanOrEqual(2);
    expect(cdr.durationSeconds).toBeLessThanOrEqual(8);
    expect(cdr.billableSeconds).toBe(cdr.durationSeconds); // increments 1/1
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
    const expected = money(micros(TOPUP) - micros(cdr.cost));
    expect(await settledBalance(gw, c.accountId, expected)).toBe(expected);
    const debits = (await ledgerOf(gw, c.accountId)).filter((e) => e.kind === 'call');
    expect(debits).toEqual([expect.objectContaining({ cdrId: cdr.id, amount: money(-micros(cdr.cost)) })]);
  });

  it('toll-free: the dialled 1-800 number is translated, routed and rated to its target', async () => {
    const c = await caller();
    const tollFree = uniqueTollFree();
    const target = `+1212${String(2_000_000 + Math.floor(Math.random() * 7_000_000))}`;
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: c.accountId, timezone: 'America/New_York', defaultTarget: target, rules: [] }).expect(201);
    expect((await gw.t.http().post(`/v1/tollfree/${enc(tollFree)}/translate`).send({ caller: '+12025550100', callId: 'dry-run' }).expect(200)).body.target).toBe(target);
    await newRoute(gw, target, c.trunkId); // the route is the target's: the toll-free number itself has none
    const rtp = await rtpPeers();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 200 });
    const dialled = tollFree.slice(1); // as most phones dial it: no '+'
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 2000 });

    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
    const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk);
    expect(media.toCallee).toBeGreaterThanOrEqual(20);
    expect(media.toCaller).toBeGreaterThanOrEqual(20);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    expect(receivedRequest(trunk.dir, 'INVITE')).toMatch(new RegExp(`^INVITE sip:\\+?${target.slice(1)}@127\\.0\\.0\\.1:${c.trunkPort}[;> ]`, 'm'));

    const [cdr, ...more] = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(more).toEqual([]);
    expect(cdr).toMatchObject({
      direction: 'outbound',
      trunkId: c.trunkId,
      dialed: dialled,
      callee: tollFree,
      translatedTo: target,
      disposition: 'answered',
      sipCode: 200,
      ratePrefix: TARIFF.nyc.prefix,
      ratePerMinute: TARIFF.nyc.ratePerMinute,
      status: 'rated',
    });
    expect(cdr.cost).toBe(expectedCost(TARIFF.nyc, cdr.billableSeconds));
    expect(cdr.billableSeconds).toBeGreaterThanOrEqual(1);
    const expected = money(micros(TOPUP) - micros(cdr.cost));
    expect(await settledBalance(gw, c.accountId, expected)).toBe(expected);
  });

  it('busy: the trunk answers 486, the user gets 486, one CDR "busy" that costs nothing', async () => {
    const c = await caller();
    const trunk = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: '486 Busy Here' }), port: c.trunkPort });
    const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '486' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000 });
    await expectSuccess(phone, 'user phone expecting 486');
    await expectSuccess(trunk, 'trunk answering 486');
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'outbound', trunkId: c.trunkId, disposition: 'busy', sipCode: 486, answeredAt: null, billableSeconds: 0, cost: '0.000000', status: 'rated' });
    expect(await balanceOf(gw, c.accountId)).toBe(TOPUP);
  });

  it('no answer: after CALL_RING_TIMEOUT_SECONDS (3) of ringing the gateway CANCELs the trunk and answers 408', async () => {
    const c = await caller();
    const trunk = await sippServer({ scenario: 'uas-ring-cancel.xml', port: c.trunkPort });
    const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '408' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000 });
    const ringing = await timestamp(trunk, 'ringing.txt');
    const cancelled = await timestamp(trunk, 'cancel.txt');
    // CALL_RING_TIMEOUT_SECONDS is 3. Widened from 3 s ± 1 s: a timer never fires early, but on a
    // loaded 2-core CI it and SIPp's timestamp files (a shell per <exec>) can run seconds late. The
    // lower bound allows for ringing.txt being written late; a timer off by a large factor (at once,
    // or never: SIPp times out) still fails.
    expect(cancelled - ringing).toBeGreaterThanOrEqual(2000);
    expect(cancelled - ringing).toBeLessThanOrEqual(8000);
    await expectSuccess(phone, 'user phone expecting 408');
    await expectSuccess(trunk, 'trunk receiving CANCEL');
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'outbound', trunkId: c.trunkId, disposition: 'noAnswer', answeredAt: null, cost: '0.000000', status: 'rated' });
    expect(cdrs[0].ringingAt).not.toBeNull();
    expect(await balanceOf(gw, c.accountId)).toBe(TOPUP);
  });

  it('CANCEL from the user while ringing: 200 and 487 to the user, CANCEL to the trunk, CDR "cancelled" by the caller', async () => {
    const c = await caller();
    const trunk = await sippServer({ scenario: 'uas-ring-cancel.xml', port: c.trunkPort });
    const phone = sippClient(gw, { scenario: 'uac-cancel.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000, pauseMs: 500 });
    await expectSuccess(phone, 'user phone cancelling');
    await expectSuccess(trunk, 'trunk receiving CANCEL');
    expect(firstLines(trunk.dir)).toEqual([expect.stringMatching(/^INVITE /), expect.stringMatching(/^CANCEL /), expect.stringMatching(/^ACK /)]);
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ direction: 'outbound', trunkId: c.trunkId, disposition: 'cancelled', sipCode: 487, hangupBy: 'caller', answeredAt: null, cost: '0.000000' });
    expect(await balanceOf(gw, c.accountId)).toBe(TOPUP);
  });

  it('failover: the first trunk answers 503, the second answers (and hangs up); two CDRs with the caller\'s Call-ID', async () => {
    const c = await caller(); // c.trunkId (priority 100) is the second choice
    const firstPort = await freePort();
    const first = await newTrunk(gw, { port: firstPort });
    trunks.push(first);
    await newRoute(gw, c.dest, first, 1);
    await trunksSettled();
    const rtp = await rtpPeers();
    const failing = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: '503 Service Unavailable' }), port: firstPort });
    // The second trunk ends the call itself after 2.5 s: the user waits for the BYE.
    const trunk = await sippServer({ scenario: 'uas-answer-hangup.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 2500 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port });

    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
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
    expect(failed).toMatchObject({ direction: 'outbound', disposition: 'failed', sipCode: 503, answeredAt: null, cost: '0.000000', status: 'rated' });
    expect(ok).toMatchObject({ direction: 'outbound', disposition: 'answered', sipCode: 200, hangupBy: 'callee', status: 'rated' });
    expect(failed.callId).toBe(ok.callId);
    expect(ok.cost).toBe(expectedCost(TARIFF.us, ok.billableSeconds));
    const expected = money(micros(TOPUP) - micros(ok.cost));
    expect(await settledBalance(gw, c.accountId, expected)).toBe(expected);
  });

  it('failover when the first trunk does not answer at all: the next trunk after TRUNK_SETUP_TIMEOUT_MS (1.5 s)', async () => {
    const c = await caller();
    const firstPort = await freePort();
    const first = await newTrunk(gw, { port: firstPort });
    trunks.push(first);
    await newRoute(gw, c.dest, first, 1);
    await trunksSettled();
    const mute = await silentPeer(firstPort);
    try {
      const rtp = await rtpPeers();
      const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port }, pauseMs: 0 });
      const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 1000 });
      const toTrunk = await answered(trunk);
      await expectSuccess(phone, 'user phone');
      await expectSuccess(trunk, 'second trunk');
      expect(mute.received()[0]).toMatch(/^INVITE sip:/);
      // The second trunk answered at once: its ACK came about TRUNK_SETUP_TIMEOUT_MS after the first INVITE.
      const waited = toTrunk.at - mute.firstAt()!;
      // Widened from [1.4 s, 2.5 s]: on a loaded 2-core CI the setup timer and SIPp's <exec> timestamp
      // run late, never early. Failover at once (0) or never (SIPp times out) still fails; so does 4×.
      expect(waited).toBeGreaterThanOrEqual(1400);
      expect(waited).toBeLessThanOrEqual(6000);
      const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 2);
      expect(cdrs).toHaveLength(2);
      expect(cdrs.find((x) => x.trunkId === first)).toMatchObject({ disposition: 'failed', answeredAt: null, cost: '0.000000' });
      expect(cdrs.find((x) => x.trunkId === c.trunkId)).toMatchObject({ disposition: 'answered', sipCode: 200 });
    } finally {
      await mute.close();
    }
  });

  it('no failover on 486: the second trunk gets nothing, the user gets 486', async () => {
    const c = await caller(); // c.trunkId (priority 100) would be second: it must see nothing
    const firstPort = await freePort();
    const first = await newTrunk(gw, { port: firstPort });
    trunks.push(first);
    await newRoute(gw, c.dest, first, 1);
    await trunksSettled();
    const second = await silentPeer(c.trunkPort);
    try {
      const busy = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: '486 Busy Here' }), port: firstPort });
      const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '486' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000 });
      await expectSuccess(phone, 'user phone expecting 486');
      await expectSuccess(busy, 'first trunk answering 486');
      const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1, 15_000, 1500);
      expect(cdrs).toHaveLength(1);
      expect(cdrs[0]).toMatchObject({ trunkId: first, disposition: 'busy', sipCode: 486, cost: '0.000000' });
      expect(second.received()).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('a trunk that challenges (401) gets the INVITE again with its credentials, and the call is answered', async () => {
    const creds = { username: 'gw-account-7', password: 'trunk-secret-7' };
    const c = await caller(TOPUP, creds);
    const rtp = await rtpPeers();
    // SIPp's verifyauth checks the digest response against these credentials; a wrong one fails the run.
    const trunk = await sippServer({ scenario: 'uas-challenge.xml', port: c.trunkPort, vars: { rtp: rtp.callee.port, tuser: creds.username, tpass: creds.password }, pauseMs: 200 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: rtp.phone.port, pauseMs: 1500 });
    const [toPhone, toTrunk] = await Promise.all([answered(phone), answered(trunk)]);
    const media = await exchangeRtp(rtp.phone, toPhone, rtp.callee, toTrunk, 15);
    expect(media.toCallee).toBeGreaterThanOrEqual(10);
    expect(media.toCaller).toBeGreaterThanOrEqual(10);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'challenging trunk');
    expect(firstLines(trunk.dir).filter((l) => l.startsWith('INVITE '))).toHaveLength(2);
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ trunkId: c.trunkId, disposition: 'answered', sipCode: 200, hangupBy: 'caller' });
    expect(cdrs[0].cost).toBe(expectedCost(TARIFF.us, cdrs[0].billableSeconds));
  });

  it('402 Payment Required when the balance cannot pay the first increment; no INVITE reaches the trunk', async () => {
    const c = await caller(null); // no top-up: balance 0
    const silent = await silentPeer(c.trunkPort);
    try {
      const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '402' }), dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000 });
      await expectSuccess(phone, 'user phone expecting 402');
      const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
      expect(cdrs).toHaveLength(1);
      expect(cdrs[0]).toMatchObject({ direction: 'outbound', userId: c.user.id, trunkId: null, disposition: 'rejected', sipCode: 402, cost: '0.000000' });
      expect(silent.received()).toEqual([]);
      expect(await balanceOf(gw, c.accountId)).toBe('0.000000');
    } finally {
      await silent.close();
    }
  });

  it('credit exhausted mid-call: BYE to both sides at the granted second (5 s; 4–10 s allowed for SIPp timestamps and a loaded box), CDR hung up by the gateway', async () => {
    // 0.060000 pays the connection fee (0.010000) and 5 s at 0.01/s: the grant is 5 s.
    const c = await caller('0.060000');
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: 40002 }, pauseMs: 200, timeoutSeconds: 25 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: 40000, timeoutSeconds: 25 });
    const [phoneAnswered, trunkAnswered] = await Promise.all([answered(phone), answered(trunk)]);
    const [live] = await liveCalls(gw, { accountId: c.accountId });
    expect(live?.maxSeconds).toBe(5);
    const [phoneBye, trunkBye] = await Promise.all([timestamp(phone, 'bye.txt', 20_000), timestamp(trunk, 'bye.txt', 20_000)]);
    // Widened from 5 s ± 1 s: on a loaded 2-core CI the credit timer and SIPp's <exec> timestamps run
    // late, never early. The lower bound stays (BYE before the grant would cut a paid second); a
    // timer off by a large factor (at once, or 2× late) still fails.
    for (const gap of [phoneBye - phoneAnswered.at, trunkBye - trunkAnswered.at]) {
      expect(gap).toBeGreaterThanOrEqual(4000);
      expect(gap).toBeLessThanOrEqual(10_000);
    }
    await expectSuccess(phone, 'user phone receiving BYE');
    await expectSuccess(trunk, 'trunk receiving BYE');
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdrs).toHaveLength(1);
    expect(cdrs[0]).toMatchObject({ disposition: 'answered', hangupBy: 'gateway', sipReason: 'credit exhausted', trunkId: c.trunkId });
    // Widened from 5 ± 1 (loaded 2-core CI: the timer may fire late); billableSeconds below is the exact check.
    expect(cdrs[0].durationSeconds).toBeGreaterThanOrEqual(4);
    expect(cdrs[0].durationSeconds).toBeLessThanOrEqual(10);
    // Billed no more than the 5 s granted (a duration of 5.003 s must not become 6 billable seconds).
    expect(cdrs[0].billableSeconds).toBeLessThanOrEqual(5);
    expect(cdrs[0].cost).toBe(expectedCost(TARIFF.us, cdrs[0].billableSeconds));
    const expected = money(micros('0.060000') - micros(cdrs[0].cost));
    const balance = await settledBalance(gw, c.accountId, expected);
    expect(balance).toBe(expected);
    // The grant was what the balance could pay: the call must not have cost more.
    expect(micros(balance)).toBeGreaterThanOrEqual(0n);
  });
});
