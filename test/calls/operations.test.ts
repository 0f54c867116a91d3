/**
 * Operating the B2BUA: an operator hangs a call up over REST, Prometheus metrics count it, and a
 * shutdown refuses new calls with 503, drains the call in progress, hangs it up at the deadline and
 * writes its CDR before the database closes. SIPp plays the user and the trunk; real PostgreSQL
 * and Redis; nothing mocked.
 */
import type { Client } from 'pg';
import { db } from '../billing/support';
import { UdpPeer } from '../media/udp-peer';
import { freePort } from '../support/net';
import {
  answered,
  CallsGateway,
  disableTrunks,
  expectSuccess,
  liveCalls,
  messagesOf,
  newAccount,
  newDestination,
  newRoute,
  newTrunk,
  newUser,
  sippClient,
  scenarioWith,
  sippServer,
  startCallsGateway,
  timestamp,
  trunksSettled,
  waitForCdrs,
} from './support';

describe('operating calls: REST hangup, metrics, graceful shutdown', () => {
  let gw: CallsGateway;
  const trunks: string[] = [];
  const sockets: UdpPeer[] = [];
  let pg: Client;

  beforeAll(async () => {
    gw = await startCallsGateway({ rtpMin: 45000, rtpMax: 45198, env: { CALL_DRAIN_SECONDS: '2' } });
    pg = await db();
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await pg?.end();
    if (gw) {
      await disableTrunks(gw, trunks).catch(() => undefined);
      await gw.close().catch(() => undefined);
    }
  });

  async function setup() {
    const accountId = await newAccount(gw, '10.000000');
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const trunkPort = await freePort();
    const trunkId = await newTrunk(gw, { port: trunkPort });
    trunks.push(trunkId);
    await newRoute(gw, dest, trunkId);
    await trunksSettled();
    const [phoneRtp, trunkRtp] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    sockets.push(phoneRtp, trunkRtp);
    return { accountId, user, dest, trunkPort, trunkId, phoneRtp, trunkRtp };
  }

  it('answers 404 for a call it does not have, and 400 naming the id when it is no id', async () => {
    const missing = await gw.t.http().delete('/v1/calls/0190a8a4-0000-7000-8000-000000000000').expect(404);
    expect(missing.body.status).toBe(404);
    const bad = await gw.t.http().delete('/v1/calls/not-a-call').expect(400);
    expect(JSON.stringify(bad.body.errors)).toContain('id');
  });

  it('DELETE /v1/calls/{id}: both sides get BYE, the CDR says gateway, and the metrics count the call', async () => {
    const c = await setup();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: c.trunkRtp.port }, pauseMs: 100 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: c.phoneRtp.port });
    await Promise.all([answered(phone), answered(trunk)]);
    const [live] = await liveCalls(gw, { accountId: c.accountId });
    expect(live).toMatchObject({ direction: 'outbound', state: 'answered' });

    const during = (await gw.t.http(null).get('/metrics').expect(200)).text;
    expect(during).toMatch(/gateway_calls_in_progress\{direction="outbound",trunk="[^"]+"\} 1/);

    await gw.t.http().delete(`/v1/calls/${live.id}`).expect(204);
    await Promise.all([timestamp(phone, 'bye.txt'), timestamp(trunk, 'bye.txt')]);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    expect(await liveCalls(gw, { accountId: c.accountId })).toEqual([]);

    const [cdr] = await waitForCdrs(gw, { accountId: c.accountId }, 1);
    expect(cdr).toMatchObject({ disposition: 'answered', hangupBy: 'gateway', sipReason: 'hung up by operator', trunkId: c.trunkId });

    const after = (await gw.t.http(null).get('/metrics').expect(200)).text;
    const trunkName = /trunk="([^"]+)"/.exec(during.split('\n').find((l) => l.startsWith('gateway_calls_in_progress{'))!)![1];
    expect(after).toContain(`gateway_call_attempts_total{direction="outbound",trunk="${trunkName}"} 1`);
    expect(after).toContain(`gateway_calls_answered_total{direction="outbound",trunk="${trunkName}"} 1`);
    expect(after).toContain(`gateway_call_asr_ratio{direction="outbound",trunk="${trunkName}"} 1`);
    expect(after).toMatch(new RegExp(`gateway_post_dial_delay_seconds_count\\{direction="outbound",trunk="${trunkName}"\\} 1`));
    expect(after).toMatch(new RegExp(`gateway_call_acd_seconds\\{direction="outbound",trunk="${trunkName}"\\} \\d`));
    expect(after).toMatch(new RegExp(`gateway_calls_in_progress\\{direction="outbound",trunk="${trunkName}"\\} 0`));
  });

  it('an offer without audio gets 488 and one without a connection line 400, each with the reason; no trunk is called', async () => {
    const c = await setup();
    const videoOnly = scenarioWith('uac-final.xml', { FINAL: '488', 'm=audio [$rtp] RTP/AVP 0 101': 'm=video [$rtp] RTP/AVP 96' });
    const phone = sippClient(gw, { scenario: videoOnly, dialled: c.dest, from: c.user.username, user: c.user, rtp: c.phoneRtp.port });
    await expectSuccess(phone, 'video-only offer');
    expect(messagesOf(phone.dir)).toMatch(/SIP\/2\.0 488 Not Acceptable Here \(SDP offers no RTP audio stream\)/);
    const noConnection = scenarioWith('uac-final.xml', { FINAL: '400', 'c=IN IP4 127.0.0.1': 'i=no connection line' });
    const phone2 = sippClient(gw, { scenario: noConnection, dialled: c.dest, from: c.user.username, user: c.user, rtp: c.phoneRtp.port });
    await expectSuccess(phone2, 'offer without c=');
    expect(messagesOf(phone2.dir)).toMatch(/SIP\/2\.0 400 Bad Request \(SDP has no c= line/);
    const cdrs = await waitForCdrs(gw, { accountId: c.accountId }, 2);
    expect(cdrs.map((x) => [x.disposition, x.sipCode]).sort()).toEqual([
      ['rejected', 400],
      ['rejected', 488],
    ]);
  });

  it('a user agent naming the gateway by a DNS name of its own (From host = Request-URI host) is challenged; a stranger naming itself is refused', async () => {
    const c = await setup();
    const named = scenarioWith('uac-refused.xml', { FINAL: '407', '@[remote_ip]': '@gw.example.test' });
    const user = sippClient(gw, { scenario: named, dialled: c.dest, from: c.user.username, rtp: c.phoneRtp.port, ip: '127.0.0.3' });
    await expectSuccess(user, 'user agent with its own domain name, expecting 407');
    const stranger = sippClient(gw, { scenario: scenarioWith('uac-refused.xml', { FINAL: '403', 'From: <sip:[$user]@[remote_ip]>': 'From: <sip:[$user]@[local_ip]>' }), dialled: c.dest, from: 'scanner', rtp: c.phoneRtp.port, ip: '127.0.0.3' });
    await expectSuccess(stranger, 'stranger naming itself in From, expecting 403');
    expect(messagesOf(stranger.dir)).toMatch(/SIP\/2\.0 403 Forbidden \(source address not allowed\)/);
  });

  it('shutdown: new INVITEs get 503, the call in progress drains, is hung up at CALL_DRAIN_SECONDS and its CDR is written', async () => {
    const c = await setup();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.trunkPort, vars: { rtp: c.trunkRtp.port }, pauseMs: 100 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: c.dest, from: c.user.username, user: c.user, rtp: c.phoneRtp.port });
    await Promise.all([answered(phone), answered(trunk)]);

    const closing = gw.t.app.close();
    const closeStarted = Date.now();
    // A new call while draining: 503 with the reason (the scenario expects exactly that status).
    const late = sippClient(gw, { scenario: scenarioWith('uac-refused.xml', { FINAL: '503' }), dialled: c.dest, from: c.user.username, rtp: c.phoneRtp.port });
    await expectSuccess(late, 'call placed while draining');

    const [phoneBye, trunkBye] = await Promise.all([timestamp(phone, 'bye.txt'), timestamp(trunk, 'bye.txt')]);
    // Hung up at the drain deadline, not at once (a bound on order, not a speed assertion).
    expect(Math.min(phoneBye, trunkBye) - closeStarted).toBeGreaterThanOrEqual(1500);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    await closing;

    const rows = await pg.query(`SELECT disposition, hangup_by, sip_reason FROM cdrs WHERE account_id = $1`, [c.accountId]);
    expect(rows.rows).toEqual([{ disposition: 'answered', hangup_by: 'gateway', sip_reason: 'gateway shutting down' }]);
  });
});
