/**
 * Emergency numbers against a real gateway process: an authenticated user dials 911 with nothing
 * in their favour (no money, a suspended account, every fraud limit set against the call, a
 * blocked-destinations list that covers 9…) and the call still reaches the trunk of the route whose
 * prefix is 911, unchanged, with the user's DID as caller ID, at no cost. With no such route the
 * user hears 503 and the operator gets an error in the log.
 */
import { freePort } from '../support/net';
import {
  answered,
  balanceOf,
  CallsGateway,
  disableTrunks,
  expectSuccess,
  firstLines,
  ledgerOf,
  newAccount,
  newDid,
  newTrunk,
  newUser,
  receivedRequest,
  scenarioWith,
  silentPeer,
  sippClient,
  sippServer,
  User,
  waitForCdrs,
} from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

const RTP_MIN = 47900;
const RTP_MAX = 47998;

describe('emergency calls always go through (real gateway process)', () => {
  let proc: GatewayProcess;
  let gw: CallsGateway;
  let trunkPort: number;
  let trunkId: string;

  beforeAll(async () => {
    // The blocked list covers every number starting with 9, and so 911: emergency calls ignore it.
    proc = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX, env: { BLOCKED_DESTINATIONS: '+1900,+9' } });
    gw = proc.asCallsGateway();
    trunkPort = await freePort();
    trunkId = await newTrunk(gw, { port: trunkPort });
    await gw.t.http().post('/v1/routes').send({ prefix: '911', trunkId, priority: 100 }).expect(201);
  }, 60_000);
  afterAll(async () => {
    if (proc) {
      await disableTrunks(gw, [trunkId]);
      await proc.stop();
    }
  }, 30_000);

  /** Dials 911 as `user`; the trunk answers, the user hangs up after ~1.5 s. Returns the trunk's INVITE. */
  async function call911(user: User): Promise<string> {
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: 40002 }, pauseMs: 200 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: '911', from: user.username, user, rtp: 40000, pauseMs: 1500 });
    await Promise.all([answered(phone), answered(trunk)]);
    await expectSuccess(phone, 'user phone calling 911');
    await expectSuccess(trunk, 'emergency trunk');
    return receivedRequest(trunk.dir, 'INVITE')!;
  }

  it('with a zero balance: routed by the 911 route, Request-URI 911 unchanged, From the user\'s DID, CDR cost 0, logged at warn', async () => {
    const accountId = await newAccount(gw); // never topped up: balance 0, credit limit 0
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id);

    const invite = await call911(user);
    expect(invite).toMatch(new RegExp(`^INVITE sip:911@127\\.0\\.0\\.1:${trunkPort}[;> ]`, 'm'));
    expect(invite).toMatch(new RegExp(`^From:[^\\r\\n]*sip:\\+?${did.slice(1)}@`, 'm'));
    expect(invite).toMatch(/^To:[^\r\n]*sip:911@/m);

    const [cdr, ...more] = await waitForCdrs(gw, { accountId }, 1);
    expect(more).toEqual([]);
    expect(cdr).toMatchObject({ direction: 'outbound', userId: user.id, trunkId, dialed: '911', callee: null, caller: did, disposition: 'answered', sipCode: 200, cost: '0.000000', status: 'rated' });
    expect(await balanceOf(gw, accountId)).toBe('0.000000');
    expect(await ledgerOf(gw, accountId)).toEqual([]);
    const warn = proc.logLines().find((l) => l.msg === 'emergency call' && l.dialled === '911' && l.userId === user.id);
    expect(warn).toMatchObject({ level: 40, callerId: did });
    await proc.expectAlive();
  });

  it('with a suspended account, every fraud limit set against it and the blocked list covering 9: still reaches the trunk', async () => {
    const accountId = await newAccount(gw);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id);
    await gw.t
      .http()
      .patch(`/v1/accounts/${accountId}`)
      .send({ status: 'suspended', allowedCountries: ['GB'], maxRatePerMinute: '0.000000', dailySpendLimit: '0.000000', maxConcurrentCalls: 0 })
      .expect(200);

    const invite = await call911(user);
    expect(invite).toMatch(new RegExp(`^INVITE sip:911@127\\.0\\.0\\.1:${trunkPort}[;> ]`, 'm'));
    expect(invite).toMatch(new RegExp(`^From:[^\\r\\n]*sip:\\+?${did.slice(1)}@`, 'm'));
    const [cdr] = await waitForCdrs(gw, { accountId }, 1);
    expect(cdr).toMatchObject({ dialed: '911', disposition: 'answered', cost: '0.000000', status: 'rated' });
    expect(await ledgerOf(gw, accountId)).toEqual([]);

    // The same account is refused an ordinary call: the limits are in force, emergency calls pass them.
    const ordinary = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '403' }), dialled: '+12015550123', from: user.username, user, rtp: 40000 });
    await expectSuccess(ordinary, 'ordinary call of a suspended account');
    await proc.expectAlive();
  });

  it('no route for the emergency number (933): 503 to the user, an error in the log, and no trunk is tried', async () => {
    const accountId = await newAccount(gw, '10.000000');
    const user = await newUser(gw, accountId);
    const silent = await silentPeer(trunkPort);
    try {
      const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '503' }), dialled: '933', from: user.username, user, rtp: 40000 });
      const run = await expectSuccess(phone, 'user phone calling 933 expecting 503');
      expect(firstLines(run.dir)).toContainEqual(expect.stringMatching(/^SIP\/2\.0 503 .*emergency/i));
      expect(silent.received()).toEqual([]);
    } finally {
      await silent.close();
    }
    const error = proc.logLines().find((l) => l.level === 50 && l.dialled === '933' && l.userId === user.id);
    expect(error).toBeDefined();
    const [cdr] = await waitForCdrs(gw, { accountId }, 1);
    expect(cdr).toMatchObject({ dialed: '933', sipCode: 503, cost: '0.000000' });
    await proc.expectAlive();
  });
});
