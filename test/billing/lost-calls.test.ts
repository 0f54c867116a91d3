/**
 * Closing a lost node's calls, on the real PostgreSQL and Redis, in-process: the sweep
 * (calls/lost-calls-sweep.ts) closes an instance's open CDRs only when both its PostgreSQL and its
 * Redis heartbeat lapsed, ends each at the last heartbeat, frees the credit hold and the trunk
 * channel, and rates it once; a late completion by the node itself, or a second closer, changes
 * nothing. Here the instances are written as a node would write them (CdrsService.open,
 * LostCallsService.beat, the Redis key), with no SIP: test/calls/crash-recovery.test.ts kills real
 * gateway processes.
 */
import IORedis from 'ioredis';
import { CdrsService } from '../../src/billing/cdrs.service';
import { CreditControlService, type Reservation } from '../../src/billing/credit-control.service';
import { LostCallsService } from '../../src/billing/lost-calls.service';
import { heartbeatKey } from '../../src/calls/call-heartbeat';
import { LostCallsSweep } from '../../src/calls/lost-calls-sweep';
import { TrunkChannels } from '../../src/calls/trunk-channels';
import { newId } from '../../src/platform/ids';
import { startTestApp, type TestApp, unique } from '../support/app';
import { REDIS_URL } from '../support/env';
import { createAccount, createDeck, until } from './support';

describe('closing the calls of a lost node (real PostgreSQL and Redis)', () => {
  let t: TestApp;
  let deckId: string;
  const redis = new IORedis(REDIS_URL);
  const prefix = process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest';
  const channels = new TrunkChannels(redis, prefix);

  beforeAll(async () => {
    // Sweeps only when the test asks (the first one runs at start).
    t = await startTestApp({ CALL_SWEEP_SECONDS: '3600' });
    deckId = await createDeck(t, ['1,USA,0.600000,0.010000,1,1,2020-01-01']);
  });
  afterAll(async () => {
    await t.close();
    redis.disconnect();
  });

  const cdr = async (id: string) => (await t.http().get(`/v1/cdrs/${id}`).expect(200)).body as Record<string, unknown>;

  /** An instance of a node with one answered call (a real credit hold and trunk channel), answered 10 s ago, last heartbeat 5 s ago. */
  async function nodeWithCall(o: { heartbeatAgoMs: number }) {
    const nodeId = unique('lost');
    const instance = `${nodeId}/0a0b0c0d`;
    const accountId = await createAccount(t, { deckId, balance: '10.000000' });
    const auth = await t.app.get(CreditControlService).authorize(accountId, '+12025550123');
    if (!auth.allowed) throw new Error(auth.message);
    const reservation: Reservation = auth;
    const trunkId = newId();
    const leg = newId();
    expect(await channels.acquire(trunkId, leg, 1, 600)).toBe(true);
    const now = Date.now();
    const cdrId = newId();
    const summary = {
      callId: unique('call'), direction: 'outbound' as const, accountId, trunkId, caller: '+12025550100', dialed: '+12025550123', callee: '+12025550123',
      startedAt: new Date(now - 12_000), answeredAt: new Date(now - 10_000), endedAt: new Date(now - 10_000), disposition: 'answered' as const, sipCode: 200, reservation,
    };
    await t.app.get(CdrsService).open({ ...summary, cdrId }, { node: instance, maxSeconds: reservation.maxSeconds, trunkChannel: leg });
    const heartbeatAt = new Date(now - o.heartbeatAgoMs);
    await t.app.get(LostCallsService).beat(instance, nodeId, heartbeatAt, 1);
    return { nodeId, instance, accountId, trunkId, cdrId, summary, heartbeatAt };
  }

  const sweep = () => t.app.get(LostCallsSweep).sweep();

  it('closes a lapsed node\'s call only once its Redis heartbeat is gone too, at its last heartbeat, rated once, hold and channel freed', async () => {
    const n = await nodeWithCall({ heartbeatAgoMs: 5000 });
    const credit = t.app.get(CreditControlService);
    expect(await credit.activeCalls(n.accountId)).toBe(1);
    // PostgreSQL says lapsed, Redis still has the node's key: alive (its PostgreSQL writes may be failing).
    await redis.set(heartbeatKey(prefix, n.instance), String(Date.now()), 'PX', 60_000);
    await sweep();
    expect(await cdr(n.cdrId)).toMatchObject({ status: 'open' });

    await redis.del(heartbeatKey(prefix, n.instance));
    expect(await sweep()).toBeGreaterThanOrEqual(1);
    expect(await credit.activeCalls(n.accountId)).toBe(0);
    expect(await redis.zcount(`${prefix}:calls:trunk:${n.trunkId}`, Date.now(), '+inf')).toBe(0);
    await until(async () => (await cdr(n.cdrId)).status === 'rated', 20_000, 'the closed CDR rated');
    const closed = await cdr(n.cdrId);
    expect(closed).toMatchObject({ hangupBy: 'gateway', sipReason: `node lost: ${n.nodeId}`, endedAt: n.heartbeatAt.toISOString(), durationSeconds: 5, billableSeconds: 5, cost: '0.060000' });
    const ledger = (await t.http().get(`/v1/accounts/${n.accountId}/ledger?limit=100`).expect(200)).body.data as { cdrId: string | null; amount: string }[];
    expect(ledger.filter((e) => e.cdrId === n.cdrId)).toEqual([expect.objectContaining({ amount: '-0.060000' })]);

    // The node was only stalled: its own completion comes late and changes nothing.
    const late = await t.app.get(CdrsService).record({ ...n.summary, endedAt: new Date(), hangupBy: 'caller', sipReason: 'normal clearing', cdrId: n.cdrId, startRecorded: true });
    expect(late.id).toBe(n.cdrId);
    await sweep();
    expect(await cdr(n.cdrId)).toMatchObject({ status: 'rated', sipReason: `node lost: ${n.nodeId}`, durationSeconds: 5 });
    const again = (await t.http().get(`/v1/accounts/${n.accountId}/ledger?limit=100`).expect(200)).body.data as { cdrId: string | null }[];
    expect(again.filter((e) => e.cdrId === n.cdrId)).toHaveLength(1);
  });

  it('leaves a node alone whose Redis key is gone (a flushed Redis) while its PostgreSQL heartbeat is fresh; two closers close a call once', async () => {
    const n = await nodeWithCall({ heartbeatAgoMs: 0 });
    await sweep();
    expect(await cdr(n.cdrId)).toMatchObject({ status: 'open' });
    expect(await t.app.get(CreditControlService).activeCalls(n.accountId)).toBe(1);

    // Two survivors closing the same instance at once: one of them closes the row.
    const lost = t.app.get(LostCallsService);
    const holder = { instance: n.instance, node_id: n.nodeId, heartbeat_at: n.heartbeatAt, interval_seconds: 1 };
    const [a, b] = await Promise.all([lost.close(holder), lost.close(holder)]);
    expect(a.length + b.length).toBe(1);
    await until(async () => (await cdr(n.cdrId)).status === 'rated', 20_000, 'the closed CDR rated');
    expect(await cdr(n.cdrId)).toMatchObject({ durationSeconds: 10, sipReason: `node lost: ${n.nodeId}` });
  });

  it('lists open CDRs only when asked for by status, and refuses an unknown status with the field named', async () => {
    const n = await nodeWithCall({ heartbeatAgoMs: 0 });
    const open = (await t.http().get(`/v1/cdrs?accountId=${n.accountId}&status=open`).expect(200)).body.data as { id: string }[];
    expect(open.map((c) => c.id)).toEqual([n.cdrId]);
    expect((await t.http().get(`/v1/cdrs?accountId=${n.accountId}`).expect(200)).body.data).toEqual([]);
    const bad = await t.http().get('/v1/cdrs?status=opened').expect(400);
    expect(JSON.stringify(bad.body)).toMatch(/status/);
    await t.app.get(LostCallsService).close({ instance: n.instance, node_id: n.nodeId, heartbeat_at: new Date(), interval_seconds: 1 });
  });
});
