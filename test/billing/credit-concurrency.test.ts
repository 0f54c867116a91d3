/**
 * Concurrent authorizations for one prepaid account, from two gateway processes sharing PostgreSQL
 * and Redis: the rated total never exceeds balance + credit limit.
 */
import type { Client } from 'pg';
import { CdrsService } from '../../src/billing/cdrs.service';
import { Authorization, CreditControlService } from '../../src/billing/credit-control.service';
import { startTestApp, TestApp } from '../support/app';
import { answeredCall, createAccount, createDeck, db, ledgerMismatches, until } from './support';

jest.setTimeout(120_000);

describe('credit control under concurrency', () => {
  let a: TestApp; // runs the rating worker, so rating races the authorizations
  let b: TestApp; // a second gateway process (API only)
  let pg: Client;
  let deckId: string;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ ROLES: 'api' });
    pg = await db();
    deckId = await createDeck(a, ['1,USA,0.600000,0,60,60,2020-01-01']);
  });
  afterAll(async () => {
    await pg.end();
    await b.close();
    await a.close();
  });

  /** 50 authorizations at once, alternating between the two processes. */
  const burst = (accountId: string, maxSeconds?: number) =>
    Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).app.get(CreditControlService).authorize(accountId, '+12025550123', { maxSeconds })));
  const allowed = (r: Authorization[]) => r.filter((x): x is Extract<Authorization, { allowed: true }> => x.allowed);

  async function ratedTotal(accountId: string): Promise<string> {
    await until(async () => (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE account_id = $1 AND status <> 'rated'`, [accountId])).rows[0].n === 0, 60_000, 'CDRs rated');
    return (await pg.query(`SELECT coalesce(sum(cost), 0)::numeric(20,6)::text AS t FROM cdrs WHERE account_id = $1`, [accountId])).rows[0].t;
  }

  it('50 calls at once on a balance for 10 minutes: one call gets the 10 minutes, the rest 402', async () => {
    const accountId = await createAccount(a, { deckId, balance: '5.40', creditLimit: '0.60' });
    const results = await burst(accountId);
    const ok = allowed(results);
    expect(ok.map((r) => r.maxSeconds)).toEqual([600]);
    expect(results.filter((r) => !r.allowed).every((r) => !r.allowed && r.reason === 'insufficient_balance')).toBe(true);
    // The call talks until it is cut off at maxSeconds.
    await a.app.get(CdrsService).record({ ...answeredCall(accountId, '+12025550123', ok[0].maxSeconds), reservation: ok[0] });
    expect(await ratedTotal(accountId)).toBe('6.000000');
    expect((await a.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('-0.600000');
    expect(await ledgerMismatches(pg, [accountId])).toEqual([]);
  });

  it('grants capped at 2 minutes share the balance; calls ending early give back the rest, while rating runs', async () => {
    const accountId = await createAccount(a, { deckId, balance: '5.40', creditLimit: '0.60' });
    const first = allowed(await burst(accountId, 120));
    expect(first.map((r) => r.maxSeconds)).toEqual([120, 120, 120, 120, 120]);
    expect(await a.app.get(CreditControlService).activeCalls(accountId)).toBe(5);
    // Each of the five talks 30 s (0.60): 3.00 of the 6.00 is left, whether rated yet or not.
    await Promise.all(first.map((r, i) => (i % 2 ? a : b).app.get(CdrsService).record({ ...answeredCall(accountId, '+12025550123', 30), reservation: r })));
    const second = allowed(await burst(accountId, 120));
    expect(second.map((r) => r.maxSeconds).sort((x, y) => x - y)).toEqual([60, 120, 120]);
    // These talk to the last second they were granted (the B2BUA hangs up at maxSeconds).
    await Promise.all(second.map((r) => b.app.get(CdrsService).record({ ...answeredCall(accountId, '+12025550123', r.maxSeconds), reservation: r })));
    const total = await ratedTotal(accountId);
    expect(total).toBe('6.000000');
    const bal = (await a.http().get(`/v1/accounts/${accountId}/balance`).expect(200)).body;
    expect(bal).toMatchObject({ balance: '-0.600000', ledgerSum: '-0.600000' });
    expect(await a.app.get(CreditControlService).activeCalls(accountId)).toBe(0);
    expect(allowed(await burst(accountId)).length).toBe(0);
  });
});
