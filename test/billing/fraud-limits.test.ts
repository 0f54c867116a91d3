/**
 * Credit control's fraud limits against the real PostgreSQL and Redis, through two app instances
 * (as two gateway processes): the daily spending limit counts today's rated CDRs (UTC, by start)
 * and every open hold, caps each grant, and holds exactly under concurrent authorizations.
 */
import { CdrsService } from '../../src/billing/cdrs.service';
import { Authorization, CreditControlService } from '../../src/billing/credit-control.service';
import { startTestApp, TestApp } from '../support/app';
import { answeredCall, createAccount, createDeck, until } from './support';
import { db } from './support';
import type { Client } from 'pg';
import type { Redis } from 'ioredis';
import { REDIS } from '../../src/platform/redis';

jest.setTimeout(120_000);

const DEST = '+12025550123';
type Allowed = Extract<Authorization, { allowed: true }>;

describe('fraud limits in credit control', () => {
  let a: TestApp; // runs the rating worker
  let b: TestApp; // a second process (API only)
  let pg: Client;
  let deckId: string;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ ROLES: 'api', DEFAULT_MAX_CONCURRENT_CALLS: 'none' });
    pg = await db();
    // 0.60/min, no connection fee, per-second billing: a second costs exactly 0.01.
    deckId = await createDeck(a, ['1,USA,0.600000,0,1,1,2020-01-01', '44,UK,0.900000,0,1,1,2020-01-01']);
  });
  afterAll(async () => {
    await pg.end();
    await b.close();
    await a.close();
  });

  const credit = (app: TestApp) => app.app.get(CreditControlService);
  const limited = async (limits: Record<string, unknown>, balance = '100') => {
    const id = await createAccount(a, { deckId, balance, maxConcurrentCalls: 1000 });
    await a.http().patch(`/v1/accounts/${id}`).send(limits).expect(200);
    return id;
  };

  it('20 authorizations at once from two processes fill the daily limit exactly and never past it', async () => {
    const accountId = await limited({ dailySpendLimit: '1.000000' });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => credit(i % 2 ? a : b).authorize(accountId, DEST, { maxSeconds: 30 })));
    const ok = results.filter((r): r is Allowed => r.allowed);
    // Three grants of 30 s (0.30 each) and one of the 10 s left (0.10): 1.000000, to the micro-unit.
    expect(ok.map((r) => r.maxSeconds).sort((x, y) => x - y)).toEqual([10, 30, 30, 30]);
    expect(ok.map((r) => r.held).sort()).toEqual(['0.100000', '0.300000', '0.300000', '0.300000']);
    const refused = results.filter((r) => !r.allowed);
    expect(refused).toHaveLength(16);
    for (const r of refused) expect(r).toMatchObject({ reason: 'daily_spend_limit', limit: 'dailySpendLimit' });
    for (const r of ok) await credit(a).release(r);
  });

  it('counts the rated cost of CDRs that started today (UTC), not yesterday\'s, plus open holds', async () => {
    const accountId = await limited({ dailySpendLimit: '1.000000' });
    const cdrs = a.app.get(CdrsService);
    const today = answeredCall(accountId, DEST, 40); // 0.40
    const dayMs = 24 * 3600 * 1000;
    const old = answeredCall(accountId, DEST, 90); // 0.90, but yesterday
    await cdrs.record({ ...old, startedAt: new Date(old.startedAt.getTime() - dayMs), answeredAt: new Date(old.answeredAt.getTime() - dayMs), endedAt: new Date(old.endedAt.getTime() - dayMs) });
    await cdrs.record(today);
    await until(async () => (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE account_id = $1 AND status = 'rated'`, [accountId])).rows[0].n === 2, 60_000, 'CDRs rated');

    const first = await credit(b).authorize(accountId, DEST);
    expect(first).toMatchObject({ allowed: true, maxSeconds: 60, held: '0.600000' });
    // 0.40 rated + 0.60 held: nothing left, not even one second.
    expect(await credit(a).authorize(accountId, DEST)).toMatchObject({ allowed: false, reason: 'daily_spend_limit' });
    // The call ends after 20 s: its hold becomes 0.20, and 0.40 is free again.
    await cdrs.record({ ...answeredCall(accountId, DEST, 20), reservation: first as Allowed });
    // Rated and settled: between the rating's commit and settled() its cost counts twice (rated and
    // held), which only refuses early; wait until the hold is gone so the figure below is exact.
    const holds = `${a.config.redisPrefix}:billing:holds:${accountId}`;
    const redis = a.app.get<Redis>(REDIS);
    await until(async () => (await redis.hvals(holds)).every((v) => !v.startsWith('E|') && !v.startsWith('L|')), 60_000, 'the call\'s hold settled');
    expect((await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE account_id = $1 AND status = 'rated'`, [accountId])).rows[0].n).toBe(3);
    const second = await credit(a).authorize(accountId, DEST);
    expect(second).toMatchObject({ allowed: true, maxSeconds: 40, held: '0.400000' });
    await credit(a).release(second as Allowed);
  });

  it('refuses by country and by rate with the limit named; equal rate passes; the other limits do not touch a call within them', async () => {
    const gbOnly = await limited({ allowedCountries: ['GB'] });
    expect(await credit(a).authorize(gbOnly, DEST)).toMatchObject({ allowed: false, reason: 'country_not_allowed', limit: 'allowedCountries' });
    const uk = await credit(a).authorize(gbOnly, '+442071234567');
    expect(uk).toMatchObject({ allowed: true });
    await credit(a).release(uk as Allowed);

    const cheap = await limited({ maxRatePerMinute: '0.899999' });
    expect(await credit(a).authorize(cheap, '+442071234567')).toMatchObject({ allowed: false, reason: 'rate_above_limit', limit: 'maxRatePerMinute' });
    await a.http().patch(`/v1/accounts/${cheap}`).send({ maxRatePerMinute: '0.9' }).expect(200);
    const equal = await credit(a).authorize(cheap, '+442071234567');
    expect(equal).toMatchObject({ allowed: true });
    await credit(a).release(equal as Allowed);
  });

  it('a null maxConcurrentCalls is the configured default (10 unless set; "none" is unlimited)', async () => {
    const accountId = await createAccount(a, { deckId, balance: '1000' });
    const grants = await Promise.all(Array.from({ length: 12 }, () => credit(a).authorize(accountId, DEST, { maxSeconds: 60 })));
    expect(grants.filter((g) => g.allowed)).toHaveLength(10);
    expect(grants.filter((g) => !g.allowed).every((g) => !g.allowed && g.reason === 'concurrent_limit' && g.limit === 'maxConcurrentCalls')).toBe(true);
    // Process b runs with DEFAULT_MAX_CONCURRENT_CALLS=none: the same account has no limit there.
    const more = await credit(b).authorize(accountId, DEST, { maxSeconds: 60 });
    expect(more).toMatchObject({ allowed: true });
    for (const g of [...grants, more]) if (g.allowed) await credit(a).release(g);
  });
});
