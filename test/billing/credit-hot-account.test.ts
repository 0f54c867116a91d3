/**
 * Credit control without the account row lock (issue 13): one Lua script checks and holds in
 * Redis, PostgreSQL stays the ledger. Two gateway processes (API only, so nothing is rated until a
 * test starts a worker) share PostgreSQL and Redis. Each test checks money to the micro-unit:
 * bursts on one account never over-grant, a top-up or an account update in the middle of a burst
 * is seen, Redis losing every billing key while calls are up neither double-spends nor leaks,
 * and one account ends exactly where the same calls spread over many accounts end.
 */
import type { Client } from 'pg';
import type { Redis } from 'ioredis';
import { BillingWorkers } from '../../src/billing/billing-queues';
import { CdrsService } from '../../src/billing/cdrs.service';
import { Authorization, CreditControlService } from '../../src/billing/credit-control.service';
import { deleteKeysWithPrefix, REDIS } from '../../src/platform/redis';
import { startTestApp, TestApp } from '../support/app';
import { answeredCall, createAccount, createDeck, db, ledgerMismatches, until } from './support';

jest.setTimeout(180_000);

const DEST = '+12025550123';
type Allowed = Extract<Authorization, { allowed: true }>;
const allowed = (r: Authorization[]) => r.filter((x): x is Allowed => x.allowed);
/** Exact sum of decimal strings with 6 decimals, in micro-units. */
const micros = (xs: string[]) => xs.reduce((t, x) => t + BigInt(x.replace('.', '')), 0n);

describe('credit control on a hot account', () => {
  let a: TestApp;
  let b: TestApp;
  let pg: Client;
  let deckId: string;
  beforeAll(async () => {
    a = await startTestApp({ ROLES: 'api' });
    b = await startTestApp({ ROLES: 'api' });
    pg = await db();
    // 0.60/min, per-second billing: every second costs exactly 0.01.
    deckId = await createDeck(a, ['1,USA,0.600000,0,1,1,2020-01-01']);
  });
  afterAll(async () => {
    await pg.end();
    await b.close();
    await a.close();
  });

  const credit = (t: TestApp) => t.app.get(CreditControlService);
  /** `n` authorizations at once, alternating between the two processes. */
  const burst = (accountId: string, n: number, maxSeconds = 60) =>
    Promise.all(Array.from({ length: n }, (_, i) => credit(i % 2 ? a : b).authorize(accountId, DEST, { maxSeconds })));
  const balance = async (accountId: string) => (await a.http().get(`/v1/accounts/${accountId}/balance`).expect(200)).body as { balance: string; ledgerSum: string };
  let working = false;
  /** The rating worker, in process a, from the first test that needs it on. */
  const startWorker = async () => {
    if (working) return;
    working = true;
    await a.app.get(BillingWorkers).start({ sweep: false });
  };
  const pendingOf = async (accountIds: string[]) => (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE account_id = ANY($1::uuid[]) AND status <> 'rated'`, [accountIds])).rows[0].n as number;

  it('200 authorizations at once on one account hold exactly the available money, never more', async () => {
    const accountId = await createAccount(a, { deckId, balance: '9.70', creditLimit: '0.30', maxConcurrentCalls: 1000 });
    const results = await burst(accountId, 200);
    const ok = allowed(results);
    // 16 calls of 60 s (0.60 each) and one of the 40 s left: 10.000000 held, to the micro-unit.
    expect(micros(ok.map((r) => r.held))).toBe(10_000_000n);
    expect(ok.map((r) => r.maxSeconds).sort((x, y) => x - y)).toEqual([40, ...Array(16).fill(60)]);
    expect(results.filter((r) => !r.allowed).every((r) => !r.allowed && r.reason === 'insufficient_balance')).toBe(true);
    expect(await credit(a).activeCalls(accountId)).toBe(17);
    await Promise.all(ok.map((r) => credit(a).release(r)));
    expect(await credit(b).activeCalls(accountId)).toBe(0);
    expect(allowed(await burst(accountId, 50)).length).toBe(17);
  });

  it('200 at once never pass maxConcurrentCalls; the slots come back on release', async () => {
    const accountId = await createAccount(a, { deckId, balance: '1000', maxConcurrentCalls: 7 });
    const results = await burst(accountId, 200);
    const ok = allowed(results);
    expect(ok).toHaveLength(7);
    expect(results.filter((r) => !r.allowed).every((r) => !r.allowed && r.reason === 'concurrent_limit')).toBe(true);
    await Promise.all(ok.slice(0, 3).map((r) => credit(a).release(r)));
    expect(allowed(await burst(accountId, 50))).toHaveLength(3);
  });

  it('a top-up in the middle of a burst is seen by the next authorizations of both processes', async () => {
    const accountId = await createAccount(a, { deckId, balance: '1.20', maxConcurrentCalls: 1000 });
    const [first, topUp] = await Promise.all([burst(accountId, 50), b.http().post(`/v1/accounts/${accountId}/topups`).send({ amount: '6.00' }).expect(201)]);
    expect(topUp.body.balance).toBe('7.200000');
    // The burst got at least the 1.20 there was before; what it did not take of the top-up, the next one gets: 7.20 in all, exactly.
    const before = micros(allowed(first).map((r) => r.held));
    expect(before).toBeGreaterThanOrEqual(1_200_000n);
    const second = await burst(accountId, 50);
    expect(before + micros(allowed(second).map((r) => r.held))).toBe(7_200_000n);
  });

  it('an account update in one process is seen by the other at once: suspension, daily limit, max rate', async () => {
    const accountId = await createAccount(a, { deckId, balance: '100', maxConcurrentCalls: 1000 });
    const warm = await credit(b).authorize(accountId, DEST, { maxSeconds: 60 }); // b caches the profile and snapshot
    expect(warm).toMatchObject({ allowed: true, maxSeconds: 60 });
    await a.http().patch(`/v1/accounts/${accountId}`).send({ dailySpendLimit: '1.000000' }).expect(200);
    // 0.60 held by `warm`: 0.40 of the day left.
    expect(await credit(b).authorize(accountId, DEST, { maxSeconds: 60 })).toMatchObject({ allowed: true, maxSeconds: 40, held: '0.400000' });
    expect(await credit(b).authorize(accountId, DEST)).toMatchObject({ allowed: false, reason: 'daily_spend_limit' });
    await a.http().patch(`/v1/accounts/${accountId}`).send({ dailySpendLimit: null, maxRatePerMinute: '0.5' }).expect(200);
    expect(await credit(b).authorize(accountId, DEST)).toMatchObject({ allowed: false, reason: 'rate_above_limit' });
    await a.http().patch(`/v1/accounts/${accountId}`).send({ maxRatePerMinute: null, status: 'suspended' }).expect(200);
    expect(await credit(b).authorize(accountId, DEST)).toMatchObject({ allowed: false, reason: 'suspended' });
  });

  it('Redis losing every billing key during calls: live holds come back from both processes, ended ones from PostgreSQL; no double spend', async () => {
    const accountId = await createAccount(a, { deckId, balance: '6.00', maxConcurrentCalls: 1000 });
    const grant = async (t: TestApp) => (await credit(t).authorize(accountId, DEST, { maxSeconds: 60 })) as Allowed;
    const ofA = await Promise.all(Array.from({ length: 5 }, () => grant(a)));
    const ofB = await Promise.all(Array.from({ length: 5 }, () => grant(b)));
    expect([...ofA, ...ofB].every((r) => r.allowed && r.held === '0.600000')).toBe(true); // 6.00 all held
    // Two calls of each process end (30 s each, 0.30): their holds become E; no worker rates them yet.
    const cdrs = (t: TestApp) => t.app.get(CdrsService);
    await Promise.all([...ofA.slice(0, 2).map((r) => cdrs(a).record({ ...answeredCall(accountId, DEST, 30), reservation: r })), ...ofB.slice(0, 2).map((r) => cdrs(b).record({ ...answeredCall(accountId, DEST, 30), reservation: r }))]);
    const redis = a.app.get<Redis>(REDIS);
    expect(await deleteKeysWithPrefix(redis, `${a.config.redisPrefix}:billing:`)).toBeGreaterThan(0);
    // Only process a authorizes now: b puts its live calls back from its heartbeat, within the recovery window.
    // 6 live (3.60) + 4 ended (1.20, rebuilt from the pending CDRs) = 4.80 of 6.00 held: exactly 1.20 is free, as before the loss.
    const after = allowed(await Promise.all(Array.from({ length: 50 }, () => credit(a).authorize(accountId, DEST, { maxSeconds: 60 }))));
    expect(micros(after.map((r) => r.held))).toBe(1_200_000n);
    expect(await credit(a).activeCalls(accountId)).toBe(6 + after.length);
    // The rest end (10 s each), a worker rates everything: the balance is exact and every hold is gone.
    await Promise.all([...ofA.slice(2), ...after].map((r) => cdrs(a).record({ ...answeredCall(accountId, DEST, 10), reservation: r })));
    await Promise.all(ofB.slice(2).map((r) => cdrs(b).record({ ...answeredCall(accountId, DEST, 10), reservation: r })));
    await startWorker();
    await until(async () => (await pendingOf([accountId])) === 0, 60_000, 'CDRs rated');
    const tenSecondCalls = 6 + after.length;
    const cost = (await pg.query(`SELECT sum(cost)::numeric(20,6)::text AS t FROM cdrs WHERE account_id = $1`, [accountId])).rows[0].t;
    expect(cost).toBe(((4 * 30 + tenSecondCalls * 10) / 100).toFixed(6));
    const left = (await balance(accountId)).balance;
    expect(left).toBe((6 - Number(cost)).toFixed(6));
    expect(await ledgerMismatches(pg, [accountId])).toEqual([]);
    await until(async () => (await credit(b).activeCalls(accountId)) === 0, 10_000, 'no live holds');
    // Nothing is held any more: the remaining balance is grantable to the micro-unit.
    const last = allowed(await burst(accountId, 20, 14_400));
    expect(micros(last.map((r) => r.held))).toBe(micros([left]));
  });

  it('the same calls on one account and spread over 20 accounts end with the same money, exactly', async () => {
    const hot = await createAccount(a, { deckId, balance: '20.00', maxConcurrentCalls: 1000 });
    const spread = await Promise.all(Array.from({ length: 20 }, () => createAccount(a, { deckId, balance: '1.00', maxConcurrentCalls: 1000 })));
    const place = async (accountOf: (i: number) => string) => {
      const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => credit(i % 2 ? a : b).authorize(accountOf(i), DEST, { maxSeconds: 30 })));
      const ok = allowed(grants);
      await Promise.all(ok.map((r, i) => (i % 2 ? a : b).app.get(CdrsService).record({ ...answeredCall(r.accountId, DEST, 1 + ((i * 7) % 30)), reservation: r })));
      return ok;
    };
    await startWorker();
    const hotGrants = await place(() => hot);
    const spreadGrants = await place((i) => spread[i % 20]);
    expect(hotGrants.map((r) => r.maxSeconds)).toEqual(spreadGrants.map((r) => r.maxSeconds));
    await until(async () => (await pendingOf([hot, ...spread])) === 0, 60_000, 'CDRs rated');
    const spent = async (ids: string[]) => (await pg.query(`SELECT sum(cost)::numeric(20,6)::text AS t FROM cdrs WHERE account_id = ANY($1::uuid[])`, [ids])).rows[0].t;
    expect(await spent([hot])).toBe(await spent(spread));
    const left = (await pg.query(`SELECT sum(balance)::numeric(20,6)::text AS t FROM accounts WHERE id = ANY($1::uuid[])`, [spread])).rows[0].t;
    expect((await balance(hot)).balance).toBe(left);
    expect(await ledgerMismatches(pg, [hot, ...spread])).toEqual([]);
  });
});
