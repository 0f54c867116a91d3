/**
 * Fraud limits per account against a real gateway process, as a toll fraudster with a stolen SIP
 * password would meet them: calls outside the allowed countries, above the highest rate, past the
 * day's spending or the default concurrent-call limit are refused (403 naming the limit)
 * with a rejected CDR that names it, the refusal is counted in
 * gateway_fraud_refusals_total{reason}, and the trunk the route points at hears nothing. The
 * limits and the blocked destinations hold on forwarding legs and toll-free targets too, and a
 * toll-free call translated to one of our DIDs ends at the seconds its payer's balance granted.
 */
import { freePort } from '../support/net';
import { enc, uniqueTollFree } from '../tollfree/support';
import { hangUpCalls } from '../calls/cc-support';
import {
  answered,
  balanceOf,
  CallsGateway,
  Cdr,
  disableTrunks,
  expectSuccess,
  firstLines,
  liveCalls,
  micros,
  money,
  newAccount,
  newDestination,
  newDid,
  newRoute,
  newTrunk,
  newUser,
  registerDevice,
  scenarioWith,
  silentPeer,
  sippClient,
  sippServer,
  timestamp,
  User,
  waitForCdrs,
} from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';
import { join } from 'node:path';

const RTP_MIN = 47800;
const RTP_MAX = 47898;
const TOPUP = '10.000000';
/** Trunks delivering calls send from here (on no other test file's allow-list). */
const INBOUND_IP = '127.0.0.78';
const CALLER = '+13125550199';
const PREMIUM = '+19005550177';
const BLOCKED_LINE = /^SIP\/2\.0 403 Forbidden \(destination \+1900 is blocked\)$/;
const UNTIL_BYE = join(__dirname, 'scenarios', 'trunk-uac-until-bye.xml');

describe('fraud limits per account (real gateway process)', () => {
  let proc: GatewayProcess;
  let gw: CallsGateway;
  let inboundTrunk: string;
  const trunks: string[] = [];

  beforeAll(async () => {
    // A default of 1 concurrent call for accounts whose own limit is null (the shipped default is 10).
    proc = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX, env: { DEFAULT_MAX_CONCURRENT_CALLS: '1' } });
    gw = proc.asCallsGateway();
    inboundTrunk = await newTrunk(gw, { host: INBOUND_IP, port: await freePort(), inboundAddresses: [`${INBOUND_IP}/32`] });
    trunks.push(inboundTrunk);
  }, 60_000);
  afterAll(async () => {
    if (proc) {
      await disableTrunks(gw, trunks);
      await proc.stop();
    }
  }, 30_000);

  const account = async (limits: Record<string, unknown>, balance = TOPUP): Promise<string> => {
    const id = await newAccount(gw, balance);
    await gw.t.http().patch(`/v1/accounts/${id}`).send(limits).expect(200);
    return id;
  };

  /** A new trunk at 127.0.0.1:<free port> and a route for exactly `number` to it. */
  async function routedTrunk(number: string): Promise<{ id: string; port: number }> {
    const port = await freePort();
    const id = await newTrunk(gw, { port });
    trunks.push(id);
    await newRoute(gw, number, id);
    return { id, port };
  }

  /** A trunk routed for `number` that only listens: anything it receives is a leak. */
  async function trapTrunk(number: string) {
    const { id, port } = await routedTrunk(number);
    return { id, port, peer: await silentPeer(port) };
  }

  async function refusals(): Promise<Record<string, number>> {
    const text = (await gw.t.http(null).get('/metrics').expect(200)).text;
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^gateway_fraud_refusals_total\{reason="([^"]+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
    return out;
  }

  /** `user` dials `dialled` and must get exactly `status`; returns the status line the phone received. */
  async function userRefused(user: User, dialled: string, status: number): Promise<string> {
    const phone = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: String(status) }), dialled, from: user.username, user, rtp: 40000 });
    const run = await expectSuccess(phone, `user call to ${dialled} expecting ${status}`);
    return firstLines(run.dir).find((l) => l.startsWith(`SIP/2.0 ${status} `))!;
  }

  /** A trunk (INBOUND_IP) delivers a call to `dialled` that must get exactly `status`. */
  async function trunkRefused(dialled: string, status: number): Promise<string> {
    const trunk = sippClient(gw, { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: String(status) }), ip: INBOUND_IP, dialled, from: CALLER, rtp: 40000 });
    const run = await expectSuccess(trunk, `trunk call to ${dialled} expecting ${status}`);
    return firstLines(run.dir).find((l) => l.startsWith(`SIP/2.0 ${status} `))!;
  }

  /**
   * Runs a call that a limit must refuse, with a trap trunk routed for `trap`: the caller gets exactly
   * `line`, the metric for `metric` goes up by one, the trap hears nothing, and the account `cdrOf`
   * has one rejected CDR (cost 0; its trunk is the one the call came in on, if any: none was tried)
   * whose sipReason names the limit. Returns that CDR.
   */
  async function expectRefusal(o: { trap: string; call: () => Promise<string>; line: string | RegExp; metric: string; cdrOf: string; inbound?: boolean }): Promise<Cdr> {
    const trap = await trapTrunk(o.trap);
    const before = (await refusals())[o.metric] ?? 0;
    try {
      const line = await o.call();
      if (typeof o.line === 'string') expect(line).toBe(o.line);
      else expect(line).toMatch(o.line);
      expect((await refusals())[o.metric]).toBe(before + 1);
      const [cdr, ...more] = await waitForCdrs(gw, { accountId: o.cdrOf }, 1);
      expect(more).toEqual([]);
      expect(cdr).toMatchObject({ disposition: 'rejected', sipCode: 403, trunkId: o.inbound ? inboundTrunk : null, answeredAt: null, cost: '0.000000' });
      expect(cdr.sipReason).toContain(o.metric === 'blockedDestinations' ? 'is blocked' : o.metric);
      expect(trap.peer.received()).toEqual([]);
      await proc.expectAlive();
      return cdr;
    } finally {
      await trap.peer.close();
    }
  }

  it('reads and patches the limits; a bad value is a 400 naming the field', async () => {
    const created = await gw.t.http().post('/v1/accounts').send({ name: 'limits', currency: 'USD', allowedCountries: ['gb', 'GB', 'us'], maxRatePerMinute: '0.25' }).expect(201);
    expect(created.body).toMatchObject({ allowedCountries: ['GB', 'US'], maxRatePerMinute: '0.250000', dailySpendLimit: null, maxConcurrentCalls: null });
    const id = created.body.id as string;

    const bad = await gw.t.http().patch(`/v1/accounts/${id}`).send({ allowedCountries: ['GB', 'XX'], maxRatePerMinute: 0.5, dailySpendLimit: '-1' }).expect(400);
    const fields = (bad.body.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['allowedCountries.1', 'dailySpendLimit', 'maxRatePerMinute']);
    const notList = await gw.t.http().patch(`/v1/accounts/${id}`).send({ allowedCountries: 'GB' }).expect(400);
    expect(notList.body.errors).toEqual([expect.objectContaining({ field: 'allowedCountries' })]);
    const tooPrecise = await gw.t.http().patch(`/v1/accounts/${id}`).send({ dailySpendLimit: '1.0000001' }).expect(400);
    expect(tooPrecise.body.errors).toEqual([expect.objectContaining({ field: 'dailySpendLimit' })]);

    const patched = await gw.t.http().patch(`/v1/accounts/${id}`).send({ allowedCountries: ['JP'], maxRatePerMinute: '1.5', dailySpendLimit: '20' }).expect(200);
    expect(patched.body).toMatchObject({ allowedCountries: ['JP'], maxRatePerMinute: '1.500000', dailySpendLimit: '20.000000' });
    const cleared = await gw.t.http().patch(`/v1/accounts/${id}`).send({ allowedCountries: null, maxRatePerMinute: null, dailySpendLimit: null }).expect(200);
    expect(cleared.body).toMatchObject({ allowedCountries: null, maxRatePerMinute: null, dailySpendLimit: null });
    expect((await gw.t.http().get(`/v1/accounts/${id}`).expect(200)).body).toMatchObject({ allowedCountries: null });
    await proc.expectAlive();
  });

  it('allowedCountries: a US destination for a GB-only account is 403 naming the limit, counted, rejected CDR, trunk untouched', async () => {
    const accountId = await account({ allowedCountries: ['GB'] });
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const cdr = await expectRefusal({
      trap: dest,
      call: () => userRefused(user, dest, 403),
      line: 'SIP/2.0 403 Destination Country Not Allowed (allowedCountries)',
      metric: 'allowedCountries',
      cdrOf: accountId,
    });
    expect(cdr).toMatchObject({ direction: 'outbound', userId: user.id, callee: dest });
    expect(await balanceOf(gw, accountId)).toBe(TOPUP);
  });

  it('maxRatePerMinute: one micro-unit below the destination\'s 0.600000/min is 403 naming the limit; trunk untouched', async () => {
    const accountId = await account({ maxRatePerMinute: '0.599999' });
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    await expectRefusal({ trap: dest, call: () => userRefused(user, dest, 403), line: 'SIP/2.0 403 Destination Rate Above Limit (maxRatePerMinute)', metric: 'maxRatePerMinute', cdrOf: accountId });
  });

  it('limits at their exact boundary let the call through; dailySpendLimit caps the grant, then counts today\'s rated cost', async () => {
    // 0.070000 a day: the connection fee 0.01 and 6 s at 0.01/s, although the balance would pay 4 h.
    const accountId = await account({ allowedCountries: ['US'], maxRatePerMinute: '0.600000', dailySpendLimit: '0.070000' });
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const { port } = await routedTrunk(dest);
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port, vars: { rtp: 40002 }, pauseMs: 100 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: dest, from: user.username, user, rtp: 40000, pauseMs: 1500 });
    await Promise.all([answered(phone), answered(trunk)]);
    expect(await liveCalls(gw, { accountId })).toEqual([expect.objectContaining({ state: 'answered', maxSeconds: 6 })]);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');
    const [first] = await waitForCdrs(gw, { accountId }, 1);
    expect(first).toMatchObject({ disposition: 'answered', status: 'rated' });

    // What is left of the day is one micro-unit short of the next call's first second (0.01 + 0.01).
    const limit = money(micros(first.cost) + 19_999n);
    await gw.t.http().patch(`/v1/accounts/${accountId}`).send({ dailySpendLimit: limit }).expect(200);
    const trap = await silentPeer(port);
    const before = await refusals();
    try {
      expect(await userRefused(user, dest, 403)).toBe('SIP/2.0 403 Daily Spend Limit Reached (dailySpendLimit)');
      expect(trap.received()).toEqual([]);
    } finally {
      await trap.close();
    }
    const cdrs = await waitForCdrs(gw, { accountId }, 2);
    expect(cdrs.find((c) => c.disposition === 'rejected')!.sipReason).toContain('dailySpendLimit');
    expect((await refusals()).dailySpendLimit).toBe((before.dailySpendLimit ?? 0) + 1);
    await proc.expectAlive();
  });

  it('default maxConcurrentCalls (DEFAULT_MAX_CONCURRENT_CALLS=1) for an account whose own limit is null: the second call is 403 naming it', async () => {
    // Enough for two calls at their longest grant (4 h at 0.6/min is 144.01 each): only the limit can refuse.
    const accountId = await newAccount(gw, '1000.000000');
    expect((await gw.t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.maxConcurrentCalls).toBeNull();
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const { port } = await routedTrunk(dest);
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port, vars: { rtp: 40002 }, pauseMs: 100, timeoutSeconds: 30 });
    const held = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: dest, from: user.username, user, rtp: 40000, timeoutSeconds: 30 });
    await Promise.all([answered(held), answered(trunk)]);
    const before = await refusals();

    const line = await userRefused(user, dest, 403);
    expect(line).toMatch(/^SIP\/2\.0 403 Concurrent Call Limit Reached \(maxConcurrentCalls: .*default limit 1/);
    expect((await refusals()).maxConcurrentCalls).toBe((before.maxConcurrentCalls ?? 0) + 1);
    expect(await hangUpCalls(gw, accountId)).toBe(1);
    await expectSuccess(held, 'first call');
    await expectSuccess(trunk, 'trunk (one call only)');
    expect(firstLines(trunk.dir).filter((l) => l.startsWith('INVITE '))).toHaveLength(1);
    const cdrs = await waitForCdrs(gw, { accountId }, 2);
    const rejected = cdrs.find((c) => c.disposition === 'rejected')!;
    expect(rejected).toMatchObject({ sipCode: 403, trunkId: null });
    expect(rejected.sipReason).toContain('maxConcurrentCalls');
    await proc.expectAlive();
  });

  it('forwarding legs: a DID forwarding to a country its account may not call is 403 naming allowedCountries; the target\'s trunk hears nothing', async () => {
    const accountId = await account({ allowedCountries: ['GB'] });
    const user = await newUser(gw, accountId);
    const target = newDestination();
    const did = await newDid(gw, user.id, { mode: 'always', target });
    const cdr = await expectRefusal({ trap: target, call: () => trunkRefused(did, 403), line: 'SIP/2.0 403 Destination Country Not Allowed (allowedCountries)', metric: 'allowedCountries', inbound: true, cdrOf: accountId });
    expect(cdr).toMatchObject({ direction: 'inbound', callee: did, translatedTo: target });
  });

  it('forwarding legs: a DID forwarding to a blocked destination (+1 900) is 403; the trunk routed for it hears nothing', async () => {
    const accountId = await newAccount(gw, TOPUP);
    const user = await newUser(gw, accountId);
    const did = await newDid(gw, user.id, { mode: 'always', target: PREMIUM });
    const cdr = await expectRefusal({ trap: PREMIUM, call: () => trunkRefused(did, 403), line: BLOCKED_LINE, metric: 'blockedDestinations', inbound: true, cdrOf: accountId });
    expect(cdr).toMatchObject({ callee: did, translatedTo: PREMIUM });
    expect(await balanceOf(gw, accountId)).toBe(TOPUP);
  });

  it('toll-free targets: the payer\'s limits apply: 403 allowedCountries, and the target\'s trunk hears nothing', async () => {
    const payer = await account({ allowedCountries: ['GB'] });
    const tollFree = uniqueTollFree();
    const target = `+1212${String(2_000_000 + Math.floor(Math.random() * 7_000_000))}`;
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: target, rules: [] }).expect(201);
    const user = await newUser(gw, await newAccount(gw, TOPUP));
    const cdr = await expectRefusal({ trap: target, call: () => userRefused(user, tollFree.slice(1), 403), line: 'SIP/2.0 403 Destination Country Not Allowed (allowedCountries)', metric: 'allowedCountries', cdrOf: payer });
    expect(cdr).toMatchObject({ callee: tollFree, translatedTo: target });
  });

  it('toll-free targets: an inbound toll-free call whose target is a blocked destination (+1 900) is 403; the trunk routed for it hears nothing', async () => {
    const payer = await newAccount(gw, TOPUP);
    const tollFree = uniqueTollFree('888');
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: PREMIUM, rules: [] }).expect(201);
    expect((await gw.t.http().post(`/v1/tollfree/${enc(tollFree)}/translate`).send({ caller: CALLER, callId: 'dry-run' }).expect(200)).body.target).toBe(PREMIUM);
    const cdr = await expectRefusal({ trap: PREMIUM, call: () => trunkRefused(tollFree, 403), line: BLOCKED_LINE, metric: 'blockedDestinations', inbound: true, cdrOf: payer });
    expect(cdr).toMatchObject({ callee: tollFree, translatedTo: PREMIUM });
    expect(await balanceOf(gw, payer)).toBe(TOPUP);
  });

  it('a toll-free call translated to one of our DIDs ends at the seconds its payer\'s balance granted (BYE from the gateway)', async () => {
    // 0.040000 pays the connection fee 0.01 and 3 s at 0.01/s: the call must end 3 s after the answer.
    const payer = await newAccount(gw, '0.040000');
    const owner = await newUser(gw, await newAccount(gw, TOPUP));
    const did = await newDid(gw, owner.id);
    const tollFree = uniqueTollFree('877');
    await gw.t.http().post('/v1/tollfree').send({ e164: tollFree, accountId: payer, timezone: 'America/New_York', defaultTarget: did, rules: [] }).expect(201);
    const devicePort = await freePort();
    await registerDevice(gw, owner, devicePort);
    const device = await sippServer({ scenario: 'uas-answer.xml', port: devicePort, vars: { rtp: 40002 }, pauseMs: 100, timeoutSeconds: 15 });
    const trunk = sippClient(gw, { scenario: UNTIL_BYE, ip: INBOUND_IP, dialled: tollFree, from: CALLER, rtp: 40000, timeoutSeconds: 15 });

    const [toTrunk] = await Promise.all([answered(trunk), answered(device)]);
    const bye = await timestamp(trunk, 'bye.txt', 12_000);
    // The grant is 3 s from the answer. Widened from 3 s ± 1 s: on a loaded 2-core CI the credit timer
    // and SIPp's <exec> timestamps run late, never early; a BYE at once or 2.5× late still fails.
    expect(bye - toTrunk.at).toBeGreaterThanOrEqual(2000);
    expect(bye - toTrunk.at).toBeLessThanOrEqual(7500);
    await expectSuccess(trunk, 'toll-free caller (hung up by the gateway)');
    await expectSuccess(device, 'DID owner\'s device (hung up by the gateway)');
    const [cdr] = await waitForCdrs(gw, { accountId: payer }, 1);
    expect(cdr).toMatchObject({ direction: 'inbound', callee: tollFree, translatedTo: did, disposition: 'answered', hangupBy: 'gateway', sipReason: 'credit exhausted', durationSeconds: 3, cost: '0.040000' });
    expect(await balanceOf(gw, payer)).toBe('0.000000');
    await proc.expectAlive();
  });
});
