/** Helpers for the billing tests: accounts with a rate deck and a balance, CDR summaries, polling. */
import { Client } from 'pg';
import type { TestApp } from '../support/app';
import { unique } from '../support/app';

export const RATE_HEADER = 'prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom';

export async function createDeck(t: TestApp, csvRows: string[], currency = 'USD'): Promise<string> {
  const deck = await t.http().post('/v1/rate-decks').send({ name: unique('deck'), currency }).expect(201);
  await t.http().post(`/v1/rate-decks/${deck.body.id}/rates`).set('Content-Type', 'text/csv').send([RATE_HEADER, ...csvRows].join('\n')).expect(201);
  return deck.body.id as string;
}

export async function createAccount(t: TestApp, opts: { deckId?: string; balance?: string; creditLimit?: string; maxConcurrentCalls?: number | null } = {}): Promise<string> {
  const acc = await t
    .http()
    .post('/v1/accounts')
    .send({ name: unique('acct'), currency: 'USD', rateDeckId: opts.deckId ?? null, creditLimit: opts.creditLimit ?? '0', maxConcurrentCalls: opts.maxConcurrentCalls ?? null })
    .expect(201);
  if (opts.balance) await t.http().post(`/v1/accounts/${acc.body.id}/topups`).send({ amount: opts.balance }).expect(201);
  return acc.body.id as string;
}

/** An answered outbound call of `seconds`, ended now. */
export function answeredCall(accountId: string, callee: string, seconds: number) {
  const endedAt = new Date();
  const answeredAt = new Date(endedAt.getTime() - seconds * 1000);
  return {
    callId: unique('call'),
    direction: 'outbound' as const,
    accountId,
    caller: '+12025550100',
    dialed: callee,
    callee,
    startedAt: new Date(answeredAt.getTime() - 3000),
    answeredAt,
    endedAt,
    durationSeconds: seconds,
    disposition: 'answered' as const,
    sipCode: 200,
    hangupBy: 'caller' as const,
  };
}

export async function db(): Promise<Client> {
  const c = new Client({ connectionString: process.env.GW_TEST_DATABASE_URL });
  await c.connect();
  return c;
}

/** Polls until `check` is true; fails after `ms` (a bound, not a timing assertion). */
export async function until(check: () => Promise<boolean>, ms = 30_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Every account's balance equals the sum of its ledger, its entries are numbered 1..n without a
 * gap, and each entry's balanceAfter is the running sum in that order. Returns what disagrees.
 */
export async function ledgerMismatches(c: Client, accountIds: string[]): Promise<unknown[]> {
  const balances = await c.query(
    `SELECT a.id, a.balance, a.ledger_seq, coalesce(sum(l.amount), 0) AS ledger, count(l.id) AS entries FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
     WHERE a.id = ANY($1::uuid[]) GROUP BY a.id HAVING a.balance <> coalesce(sum(l.amount), 0) OR a.ledger_seq <> count(l.id)`,
    [accountIds],
  );
  const entries = await c.query(
    `SELECT * FROM (
       SELECT id, account_id, seq, balance_after, row_number() OVER w AS n, sum(amount) OVER w AS running
       FROM ledger_entries WHERE account_id = ANY($1::uuid[]) WINDOW w AS (PARTITION BY account_id ORDER BY seq)) x
     WHERE seq <> n OR balance_after <> running`,
    [accountIds],
  );
  return [...balances.rows, ...entries.rows];
}
