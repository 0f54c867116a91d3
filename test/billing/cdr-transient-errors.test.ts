/**
 * Only a rating error (no rate, no account) makes a CDR `failed`. A database that refuses for a
 * while is transient: the job fails and is retried with backoff, and after its last attempt the CDR
 * stays `pending`, so the periodic sweep queues it again and it is rated once the database is back.
 *
 * The refusal is real PostgreSQL behaviour: a trigger answers the rating UPDATE of this test's CDR
 * with SQLSTATE 57P03 (cannot_connect_now), as a database in recovery does (marking it failed is
 * let through, so that the old behaviour shows). This app has its own Redis
 * prefix, so no other test's worker takes its jobs.
 */
import type { Client } from 'pg';
import IORedis from 'ioredis';
import { BillingQueues, BillingWorkers } from '../../src/billing/billing-queues';
import { CdrsService } from '../../src/billing/cdrs.service';
import { deleteKeysWithPrefix } from '../../src/platform/redis';
import { REDIS_URL } from '../support/env';
import { startTestApp, TestApp, unique } from '../support/app';
import { answeredCall, createAccount, createDeck, db, ledgerMismatches, until } from './support';

const MARK = 'db-refuses-';

describe('CDR rating when the database refuses for a while', () => {
  let t: TestApp;
  let pg: Client;
  let deckId: string;
  const prefix = unique('gwtransient');

  beforeAll(async () => {
    t = await startTestApp({ ROLES: 'api', REDIS_PREFIX: prefix });
    pg = await db();
    deckId = await createDeck(t, ['1,USA,0.600000,0.010000,1,1,2020-01-01']);
    await pg.query(`CREATE OR REPLACE FUNCTION test_refuse_cdr_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the database system is in recovery mode (test)' USING ERRCODE = '57P03'; END $$`);
  });
  afterAll(async () => {
    await pg.query('DROP TRIGGER IF EXISTS test_refuse_cdr_update ON cdrs');
    await pg.query('DROP FUNCTION IF EXISTS test_refuse_cdr_update()');
    await pg.end();
    await t.close();
    // This test's own queue keys: nobody else uses the prefix.
    const redis = new IORedis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    await deleteKeysWithPrefix(redis, `${prefix}:`);
    await redis.quit();
  });

  const refuse = () =>
    pg.query(`CREATE TRIGGER test_refuse_cdr_update BEFORE UPDATE ON cdrs FOR EACH ROW WHEN (NEW.call_id LIKE '${MARK}%' AND NEW.status = 'rated') EXECUTE FUNCTION test_refuse_cdr_update()`);
  const recover = () => pg.query('DROP TRIGGER IF EXISTS test_refuse_cdr_update ON cdrs');
  const cdrOf = async (id: string) => (await pg.query('SELECT status, failure_reason, cost FROM cdrs WHERE id = $1', [id])).rows[0] as { status: string; failure_reason: string | null; cost: string | null };

  it('keeps the CDR pending through every failed attempt, and the sweep gets it rated once the database answers', async () => {
    const accountId = await createAccount(t, { deckId, balance: '10' });
    const noRate = await createAccount(t, { deckId, balance: '10' });
    const cdrs = t.app.get(CdrsService);
    const queues = t.app.get(BillingQueues);
    await refuse();
    const { id } = await cdrs.record({ ...answeredCall(accountId, '+12025550123', 30), callId: `${MARK}${unique('c')}` });
    // The job record() queued, replaced by one with three quick attempts (the default is 8 with exponential backoff from 1 s).
    const quickJob = async (cdrId: string) => {
      await queues.cdrs.remove(cdrId);
      await queues.cdrs.add('rate', { cdrId }, { jobId: cdrId, attempts: 3, backoff: { type: 'fixed', delay: 100 } });
    };
    await quickJob(id);
    await t.app.get(BillingWorkers).start({ sweep: false });

    await until(async () => (await queues.cdrs.getJobState(id)) === 'failed', 30_000, 'the job of the refused CDR out of attempts');
    const job = await queues.cdrs.getJob(id);
    expect(job!.attemptsMade).toBe(3);
    expect(job!.failedReason).toMatch(/recovery mode/);
    expect(await cdrOf(id)).toMatchObject({ status: 'pending', failure_reason: null });

    // The database answers again; the sweep (run now instead of in 30 s) retries the failed job.
    await recover();
    expect(await cdrs.requeuePending(0)).toBeGreaterThanOrEqual(1);
    await until(async () => (await cdrOf(id)).status === 'rated', 30_000, 'the CDR rated after the database recovered');
    expect((await cdrOf(id)).cost).toBe('0.310000');
    const debits = await pg.query('SELECT amount FROM ledger_entries WHERE cdr_id = $1', [id]);
    expect(debits.rows).toEqual([{ amount: '-0.310000' }]);
    expect(await ledgerMismatches(pg, [accountId])).toEqual([]);

    // A CDR no rate exists for is a rating error: failed at its first attempt, with the reason.
    const { id: unrated } = await cdrs.record(answeredCall(noRate, '+81312345678', 30));
    await quickJob(unrated);
    await until(async () => (await cdrOf(unrated)).status === 'failed', 30_000, 'the CDR without a rate failed');
    expect((await cdrOf(unrated)).failure_reason).toMatch(/no rate for \+81312345678/);
    await until(async () => (await queues.cdrs.getJobState(unrated)) === 'failed', 10_000, 'its job failed');
    expect((await queues.cdrs.getJob(unrated))!.attemptsMade).toBe(1);
  });
});
