/**
 * Fault tests on the real PostgreSQL and Redis: whatever happens to workers and Redis, every CDR
 * ends `rated` exactly once and every balance equals its ledger.
 * Workers run as child processes (dist/src/billing/worker-main.js); this test app runs none.
 */
import type { Client } from 'pg';
import { CDR_QUEUE, BillingQueues } from '../../src/billing/billing-queues';
import { CdrsService } from '../../src/billing/cdrs.service';
import { startTestApp, TestApp } from '../support/app';
import { answeredCall, createAccount, createDeck, db, ledgerMismatches, until } from './support';
import { deleteQueueKeys, startWorker, WorkerProcess } from './worker-process';

jest.setTimeout(240_000);

describe('CDR rating under faults', () => {
  let t: TestApp;
  let pg: Client;
  let deckId: string;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    t = await startTestApp({ ROLES: 'api' });
    pg = await db();
    deckId = await createDeck(t, ['1,USA,0.600000,0.010000,60,60,2020-01-01', '1202,USA DC,0.012345,0,30,6,2020-01-01', '44,UK,0.100000,0,1,1,2020-01-01']);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
  });
  afterAll(async () => {
    await pg.end();
    await t.close();
  });

  /** `n` answered calls over `accounts`, to a mix of destinations and durations. */
  async function recordCalls(accounts: string[], n: number): Promise<string[]> {
    const cdrs = t.app.get(CdrsService);
    const callees = ['+12025550123', '+13125550123', '+442071234567'];
    const ids: string[] = [];
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, j) => cdrs.record(answeredCall(accounts[(i + j) % accounts.length], callees[(i + j) % 3], (i + j) % 187))),
      );
      ids.push(...batch.map((b) => b.id));
    }
    return ids;
  }

  async function statusCounts(ids: string[]): Promise<Record<string, number>> {
    const r = await pg.query(`SELECT status, count(*)::int AS n FROM cdrs WHERE id = ANY($1::uuid[]) GROUP BY status`, [ids]);
    return Object.fromEntries(r.rows.map((x: { status: string; n: number }) => [x.status, x.n]));
  }
  const ratedCount = async (ids: string[]) => (await statusCounts(ids)).rated ?? 0;

  /** The invariants every scenario ends with. */
  async function expectExactlyOnce(ids: string[], accounts: string[]): Promise<void> {
    expect(await statusCounts(ids)).toEqual({ rated: ids.length });
    const debits = await pg.query(
      `SELECT count(*)::int AS entries, count(DISTINCT l.cdr_id)::int AS cdrs, coalesce(sum(-l.amount), 0)::numeric(20,6)::text AS debited,
              (SELECT count(*)::int FROM cdrs WHERE id = ANY($1::uuid[]) AND cost > 0) AS costly,
              (SELECT coalesce(sum(cost), 0)::numeric(20,6)::text FROM cdrs WHERE id = ANY($1::uuid[])) AS rated_total
       FROM ledger_entries l WHERE l.cdr_id = ANY($1::uuid[])`,
      [ids],
    );
    const d = debits.rows[0];
    expect(d.entries).toBe(d.cdrs); // one debit per CDR, never two
    expect(d.entries).toBe(d.costly); // every CDR that costs something is debited
    expect(d.debited).toBe(d.rated_total); // the ledger holds exactly what the CDRs say
    expect(await ledgerMismatches(pg, accounts)).toEqual([]);
  }

  it('a worker killed with SIGKILL in the middle of a batch, then restarted, rates every CDR exactly once', async () => {
    const accounts = await Promise.all([1, 2, 3].map(() => createAccount(t, { deckId, balance: '1000' })));
    const ids = await recordCalls(accounts, 3000);
    const first = await startWorker();
    workers.push(first);
    await until(async () => (await ratedCount(ids)) > 0, 60_000, 'the first CDRs rated');
    await first.kill('SIGKILL');
    const atKill = await ratedCount(ids);
    expect(atKill).toBeLessThan(ids.length); // killed mid-batch, not after it
    const second = await startWorker();
    workers.push(second);
    // Jobs the dead worker held come back when BullMQ sees their lock lapse (stalled-job check).
    await until(async () => (await ratedCount(ids)) === ids.length, 180_000, 'all CDRs rated after the restart').catch(async (e: Error) => {
      const jobs = await t.app.get(BillingQueues).cdrs.getJobCounts();
      throw new Error(`${e.message}: ${JSON.stringify(await statusCounts(ids))} jobs ${JSON.stringify(jobs)} ${second.output()}`);
    });
    await expectExactlyOnce(ids, accounts);
  });

  it('re-queues pending CDRs after Redis loses the queue, and rates each once', async () => {
    const accounts = await Promise.all([1, 2].map(() => createAccount(t, { deckId, balance: '500' })));
    const ids = await recordCalls(accounts, 500);
    expect(await deleteQueueKeys(CDR_QUEUE)).toBeGreaterThan(0);
    const counts = await t.app.get(BillingQueues).cdrs.getJobCounts('waiting', 'active', 'delayed', 'completed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect(await statusCounts(ids)).toEqual({ pending: 500 });
    workers.push(await startWorker());
    // The sweep the worker runs every 30 s, run now rather than after the 60 s grace.
    expect(await t.app.get(CdrsService).requeuePending(0)).toBeGreaterThanOrEqual(500);
    await until(async () => (await ratedCount(ids)) === ids.length, 120_000, 'all CDRs rated after the sweep');
    await expectExactlyOnce(ids, accounts);
  });

  it('two workers on one queue, with the sweep adding every job again meanwhile, rate each CDR once', async () => {
    const accounts = await Promise.all([1, 2, 3, 4].map(() => createAccount(t, { deckId, balance: '1000' })));
    const ids = await recordCalls(accounts, 2000);
    workers.push(await startWorker(), await startWorker());
    await t.app.get(CdrsService).requeuePending(0);
    await until(async () => (await ratedCount(ids)) === ids.length, 120_000, 'all CDRs rated by two workers');
    await expectExactlyOnce(ids, accounts);
  });

  it('a job run twice, at once and again later, and a second job for the same CDR, debit once', async () => {
    const accountId = await createAccount(t, { deckId, balance: '10' });
    const [id] = await recordCalls([accountId], 1);
    const cdrs = t.app.get(CdrsService);
    const both = await Promise.all([cdrs.rate(id), cdrs.rate(id), cdrs.rate(id)]);
    expect(both.map((r) => r.status).sort()).toEqual(['already-rated', 'already-rated', 'rated']);
    // The queued job (id = CDR id) and another job carrying the same CDR, through a real worker.
    await t.app.get(BillingQueues).cdrs.add('rate', { cdrId: id }, { jobId: `${id}-again` });
    workers.push(await startWorker());
    const job = await t.app.get(BillingQueues).cdrs.getJob(`${id}-again`);
    await until(async () => (await job!.getState()) === 'completed', 60_000, 'the second job completed');
    expect((await t.app.get(BillingQueues).cdrs.getJob(`${id}-again`))!.returnvalue).toEqual({ status: 'already-rated', cost: both.find((r) => r.status === 'rated')!.cost });
    await expectExactlyOnce([id], [accountId]);
  });
});
