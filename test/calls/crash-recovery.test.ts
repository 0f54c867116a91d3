/**
 * No CDR lost to a crash (issue 15): real gateway processes (dist/src/main.js) sharing this run's
 * PostgreSQL and Redis, SIPp as the user's phone and the trunks, all on 127.0.0.1. A node holding
 * an answered call is killed with SIGKILL; the call's CDR, written `open` at the answer, is closed
 * by a survivor (or by the node's own restart) at the last heartbeat, rated once, and the
 * account's hold and the trunk channel are freed so the account can call again at once.
 * Heartbeat and sweep run every second here (CALL_HEARTBEAT_SECONDS, CALL_SWEEP_SECONDS).
 * Recovery times are printed (RECOVERY lines); they are measured here, not asserted.
 */
import IORedis from 'ioredis';
import { createAccount } from '../billing/support';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { unique } from '../support/app';
import { REDIS_URL } from '../support/env';
import { freePort } from '../support/net';
import {
  answered,
  type Cdr,
  type CallsGateway,
  disableTrunks,
  expectedCost,
  expectSuccess,
  ledgerOf,
  newDestination,
  newRoute,
  newTrunk,
  newUser,
  scenarioWith,
  type Sipp,
  sippClient,
  sippServer,
  TARIFF,
  waitForCdrs,
} from './support';

// This file's UDP range is 55000-55499: gateways' relays below, SDP ports of the SIPp peers above.
const SURVIVOR_RTP = { rtpMin: 55000, rtpMax: 55099 };
const VICTIM_RTP = { rtpMin: 55100, rtpMax: 55199 };
const RESTART_RTP = { rtpMin: 55200, rtpMax: 55299 };
const PHONE_RTP = 55400;
const TRUNK_RTP = 55402;
const FAST = { CALL_HEARTBEAT_SECONDS: '1', CALL_SWEEP_SECONDS: '1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a node killed with a call up loses no CDR (gateway processes, SIPp, real PostgreSQL and Redis)', () => {
  const redis = new IORedis(REDIS_URL);
  const prefix = process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest';
  let survivor: GatewayProcess;
  let gw: CallsGateway;
  const processes: GatewayProcess[] = [];
  const peers: Sipp[] = [];
  const trunks: string[] = [];

  beforeAll(async () => {
    survivor = await startGatewayProcess({ ...SURVIVOR_RTP, env: { NODE_ID: unique('survivor'), ...FAST } });
    processes.push(survivor);
    gw = survivor.asCallsGateway();
  }, 60_000);

  afterAll(async () => {
    if (gw) await disableTrunks(gw, trunks);
    await Promise.all(processes.map((p) => p.stop()));
    // The peers of a killed node's call wait for a BYE that never comes: they end at their own timeout.
    await Promise.all(peers.map((p) => p.done));
    redis.disconnect();
  }, 90_000);

  /** An account with 1.00 (a call's hold takes all of it), its user, and a destination routed to a new trunk of one channel. */
  async function paidCall() {
    const accountId = await createAccount(gw.t, { deckId: gw.deckId, balance: '1.000000' });
    const user = await newUser(gw, accountId);
    const route = async () => {
      const dest = newDestination();
      const port = await freePort();
      const trunkId = await newTrunk(gw, { port });
      await gw.t.http().patch(`/v1/trunks/${trunkId}`).send({ maxChannels: 1 }).expect(200);
      trunks.push(trunkId);
      await newRoute(gw, dest, trunkId);
      return { dest, port, trunkId };
    };
    return { accountId, user, first: await route(), second: await route() };
  }

  /** Places the call through `node` and waits until it is answered; the phone never hangs up. */
  async function answeredCall(node: GatewayProcess, c: Awaited<ReturnType<typeof paidCall>>) {
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.first.port, vars: { rtp: TRUNK_RTP }, pauseMs: 100, timeoutSeconds: 40 });
    const phone = sippClient(node.asCallsGateway(), { scenario: 'uac-until-bye.xml', dialled: c.first.dest, from: c.user.username, user: c.user, rtp: PHONE_RTP, timeoutSeconds: 40 });
    peers.push(trunk, phone);
    await answered(phone);
  }

  const cdrsOf = async (query: Record<string, string>) => (await gw.t.http().get(`/v1/cdrs?${new URLSearchParams({ ...query, limit: '100' })}`).expect(200)).body.data as Cdr[];

  /** Polls until `check` answers a value; bounded (a failure, not a timing assertion). */
  async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  async function kill(node: GatewayProcess): Promise<number> {
    const exited = new Promise((r) => node.proc.once('exit', r));
    const at = Date.now();
    node.proc.kill('SIGKILL');
    await exited;
    return at;
  }

  /** Kill → close, from the time of the closing node's log line (pino's epoch ms): no polling delay in the figure. */
  function closedAfter(closer: GatewayProcess, nodeId: string, killedAt: number): number {
    const line = closer.logLines().find((l) => l.msg === 'calls of a lost node closed' && l.node === nodeId);
    if (!line) throw new Error(`no 'calls of a lost node closed' line for ${nodeId} in the closing node's log`);
    return (line.time as number) - killedAt;
  }

  const channelsInUse = (trunkId: string) => redis.zcount(`${prefix}:calls:trunk:${trunkId}`, Date.now(), '+inf');

  it('an answered call has one CDR row from the answer on: open while up, completed in place and rated once at the end', async () => {
    const c = await paidCall();
    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: c.first.port, vars: { rtp: TRUNK_RTP }, pauseMs: 100 });
    const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.first.dest, from: c.user.username, user: c.user, rtp: PHONE_RTP, pauseMs: 2500 });
    const open = await until('the open CDR', async () => (await cdrsOf({ number: c.first.dest, status: 'open' }))[0]);
    expect(open).toMatchObject({ status: 'open', disposition: 'answered', hangupBy: null, durationSeconds: 0, endedAt: open.answeredAt });
    await expectSuccess(phone, 'phone');
    await expectSuccess(trunk, 'trunk');
    const [cdr, ...more] = await waitForCdrs(gw, { number: c.first.dest }, 1);
    expect(more).toEqual([]);
    expect(cdr).toMatchObject({ id: open.id, status: 'rated', hangupBy: 'caller', sipReason: 'normal clearing', answeredAt: open.answeredAt });
    expect(cdr.durationSeconds).toBeGreaterThanOrEqual(2);
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
    expect((await ledgerOf(gw, c.accountId)).filter((e) => e.cdrId === cdr.id)).toHaveLength(1);
    expect(await cdrsOf({ number: c.first.dest, status: 'open' })).toEqual([]);
    expect(await channelsInUse(c.first.trunkId)).toBe(0);
  }, 60_000);

  it('a survivor closes the call at its last heartbeat, rates it once, and the account calls again at once', async () => {
    const c = await paidCall();
    const nodeId = unique('victim');
    const victim = await startGatewayProcess({ ...VICTIM_RTP, env: { NODE_ID: nodeId, ...FAST } });
    processes.push(victim);
    await answeredCall(victim, c);

    // The start record exists from the answer on: `open`, listed only when asked for by status.
    const open = await until('the open CDR', async () => (await cdrsOf({ number: c.first.dest, status: 'open' }))[0]);
    expect(open).toMatchObject({ status: 'open', disposition: 'answered', accountId: c.accountId, trunkId: c.first.trunkId, cost: null });
    expect(await cdrsOf({ number: c.first.dest })).toEqual([]);
    expect(await channelsInUse(c.first.trunkId)).toBe(1);
    // The call's hold takes the whole balance: on the other node, a second call of the account is refused.
    const refused = sippClient(gw, { scenario: scenarioWith('uac-final.xml', { FINAL: '402' }), dialled: c.second.dest, from: c.user.username, user: c.user, rtp: PHONE_RTP + 4 });
    await expectSuccess(refused, 'second call while the first holds the balance');

    await sleep(2500);
    const killedAt = await kill(victim);

    // Kill → the account can call: the survivor takes a new call of the same account (answered, no 402).
    const trunk2 = await sippServer({ scenario: 'uas-answer.xml', port: c.second.port, vars: { rtp: TRUNK_RTP + 2 }, pauseMs: 100 });
    const canCall = (async () => {
      for (let attempt = 1; attempt <= 60; attempt++) {
        const startedAt = Date.now();
        const phone = sippClient(gw, { scenario: 'uac-answered.xml', dialled: c.second.dest, from: c.user.username, user: c.user, rtp: PHONE_RTP + 6, pauseMs: 500, timeoutSeconds: 10 });
        if ((await phone.done).code === 0) return { attempt, ms: startedAt - killedAt };
        await sleep(200);
      }
      throw new Error('the account could not call again after the crash');
    })();
    const closing = until('the CDR closed', async () => ((await cdrsOf({ number: c.first.dest })).length ? true : undefined));
    const [again] = await Promise.all([canCall, closing]);
    const closed = closedAfter(survivor, nodeId, killedAt);
    await expectSuccess(trunk2, 'trunk of the call after the crash');
    console.log(`RECOVERY survivor: kill -> CDR closed ${closed} ms; kill -> account called again ${again.ms} ms (attempt ${again.attempt}); heartbeat 1 s, sweep 1 s`);

    const [cdr] = await waitForCdrs(gw, { number: c.first.dest }, 1);
    expect(cdr).toMatchObject({ id: open.id, status: 'rated', disposition: 'answered', hangupBy: 'gateway', sipReason: `node lost: ${nodeId}`, accountId: c.accountId });
    // Ended at the last heartbeat: after the answer, before the kill, at most one interval (plus scheduling slack) before it.
    const endedAt = Date.parse(cdr.endedAt);
    expect(endedAt).toBeLessThanOrEqual(killedAt);
    expect(killedAt - endedAt).toBeLessThan(3000);
    expect(cdr.durationSeconds).toBe(Math.ceil((endedAt - Date.parse(cdr.answeredAt!)) / 1000));
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, cdr.billableSeconds));
    // Debited once, and still once after more sweeps.
    await sleep(3000);
    expect(await cdrsOf({ number: c.first.dest, status: 'open' })).toEqual([]);
    expect(await cdrsOf({ number: c.first.dest })).toHaveLength(1);
    const debits = (await ledgerOf(gw, c.accountId)).filter((e) => e.cdrId === cdr.id);
    expect(debits).toEqual([expect.objectContaining({ kind: 'call', amount: `-${cdr.cost}` })]);
    // The crashed call's trunk channel is free (the second call used the other trunk).
    expect(await channelsInUse(c.first.trunkId)).toBe(0);
  }, 120_000);

  it('a node restarted with the same NODE_ID closes its earlier start\'s calls at boot, without waiting for the lapse', async () => {
    const c = await paidCall();
    const nodeId = unique('restarted');
    // A 30 s heartbeat: the survivor would wait 60 s for the lapse; the restart must not.
    const env = { NODE_ID: nodeId, CALL_HEARTBEAT_SECONDS: '30', CALL_SWEEP_SECONDS: '1' };
    const first = await startGatewayProcess({ ...RESTART_RTP, env });
    processes.push(first);
    await answeredCall(first, c);
    const open = await until('the open CDR', async () => (await cdrsOf({ number: c.first.dest, status: 'open' }))[0]);
    const killedAt = await kill(first);

    const second = await startGatewayProcess({ ...RESTART_RTP, env });
    processes.push(second);
    await until('the CDR closed', async () => ((await cdrsOf({ number: c.first.dest })).length ? true : undefined), 30_000);
    const closed = closedAfter(second, nodeId, killedAt);
    console.log(`RECOVERY restart: kill -> restarted node up and CDR closed ${closed} ms (heartbeat 30 s: no lapse waited for)`);
    const [cdr] = await waitForCdrs(gw, { number: c.first.dest }, 1);
    // Its only heartbeat was at its start, before the answer: the call ends at the answer (the documented bound).
    expect(cdr).toMatchObject({ id: open.id, status: 'rated', hangupBy: 'gateway', sipReason: `node lost: ${nodeId}`, durationSeconds: 0 });
    expect(cdr.cost).toBe(expectedCost(TARIFF.us, 0));
    expect(await channelsInUse(c.first.trunkId)).toBe(0);
    const debits = (await ledgerOf(gw, c.accountId)).filter((e) => e.cdrId === cdr.id);
    expect(debits).toHaveLength(1);
  }, 120_000);
});
