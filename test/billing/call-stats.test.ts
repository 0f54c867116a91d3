/**
 * GET /v1/stats/calls: the dashboard's time-bucket statistics over real CDRs in PostgreSQL
 * (recorded through CdrsService, as the B2BUA records them), its validation, and that the query
 * is answered from the covering index of migration 1764600000000-cdr-stats.
 */
import { randomUUID } from 'node:crypto';
import { CALL_STATS_SQL } from '../../src/billing/call-stats.repository';
import { CdrsService } from '../../src/billing/cdrs.service';
import { startTestApp, TestApp, unique } from '../support/app';
import { db } from './support';

describe('GET /v1/stats/calls', () => {
  let t: TestApp;
  // A trunk id no other test uses: the database is shared by the run, the filter keeps this test's CDRs apart.
  const trunkId = randomUUID();
  const at = (hhmmss: string) => new Date(`2025-03-04T${hhmmss}.000Z`);

  beforeAll(async () => {
    t = await startTestApp();
    const cdrs = t.app.get(CdrsService);
    const base = { trunkId, caller: '+12025550100', dialed: '+12025550111', callee: '+12025550111' };
    const record = (o: Partial<Parameters<CdrsService['record']>[0]>) =>
      cdrs.record({ callId: unique('stats'), direction: 'outbound', disposition: 'answered', startedAt: at('10:00:00'), endedAt: at('10:01:00'), ...base, ...o });
    // 10:00-10:05, outbound: two answered (60 s after 1 s of post-dial delay, 30 s after 3 s) and one busy that never rang.
    await record({ startedAt: at('10:00:10'), ringingAt: at('10:00:11'), answeredAt: at('10:00:15'), endedAt: at('10:01:15'), durationSeconds: 60 });
    await record({ startedAt: at('10:02:00'), ringingAt: at('10:02:03'), answeredAt: at('10:02:10'), endedAt: at('10:02:40'), durationSeconds: 30 });
    await record({ startedAt: at('10:04:59'), endedAt: at('10:05:00'), disposition: 'busy', sipCode: 486 });
    // 10:05-10:10, inbound: not answered, rang after 500 ms.
    await record({ direction: 'inbound', startedAt: at('10:07:00'), ringingAt: new Date(at('10:07:00').getTime() + 500), endedAt: at('10:07:30'), disposition: 'noAnswer', sipCode: 408 });
    // Outside the window asked for below.
    await record({ startedAt: at('10:15:00'), answeredAt: at('10:15:01'), endedAt: at('10:16:01'), durationSeconds: 60 });
  });

  afterAll(() => t?.close());

  it('groups attempts by bucket, trunk and direction with calls per minute, ASR, ACD and post-dial delay', async () => {
    const r = await t.http().get(`/v1/stats/calls?from=2025-03-04T10:00:00Z&to=2025-03-04T10:15:00Z&bucket=5m&trunkId=${trunkId}`).expect(200);
    expect(r.body).toMatchObject({ from: '2025-03-04T10:00:00.000Z', to: '2025-03-04T10:15:00.000Z', bucket: '5m', bucketSeconds: 300 });
    expect(r.body.series).toEqual([
      { trunkId, direction: 'inbound', points: [{ at: '2025-03-04T10:05:00.000Z', attempts: 1, answered: 0, callsPerMinute: 0.2, asr: 0, acdSeconds: null, pddMs: 500 }] },
      { trunkId, direction: 'outbound', points: [{ at: '2025-03-04T10:00:00.000Z', attempts: 3, answered: 2, callsPerMinute: 0.6, asr: 0.6667, acdSeconds: 45, pddMs: 2000 }] },
    ]);
    // Totals over the window: 4 attempts in 15 minutes; PDD over the three that rang or were answered.
    expect(r.body.totals).toEqual({ attempts: 4, answered: 2, callsPerMinute: 0.267, asr: 0.5, acdSeconds: 45, pddMs: Math.round((1000 + 3000 + 500) / 3) });
  });

  it('filters by direction and buckets by the minute', async () => {
    const r = await t.http().get(`/v1/stats/calls?from=2025-03-04T10:00:00Z&to=2025-03-04T10:15:00Z&bucket=1m&trunkId=${trunkId}&direction=outbound`).expect(200);
    expect(r.body.series).toHaveLength(1);
    expect(r.body.series[0].points.map((p: { at: string; attempts: number }) => [p.at.slice(11, 16), p.attempts])).toEqual([
      ['10:00', 1],
      ['10:02', 1],
      ['10:04', 1],
    ]);
  });

  it('names the field of a wrong query', async () => {
    const field = async (query: string) => (await t.http().get(`/v1/stats/calls?${query}`).expect(400)).body.errors.map((e: { field: string }) => e.field);
    expect(await field('from=2025-03-04T11:00:00Z&to=2025-03-04T10:00:00Z')).toEqual(['from']);
    expect(await field('from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z&bucket=1m')).toEqual(['bucket']);
    expect(await field('bucket=7m')).toEqual(['bucket']);
    expect(await field('from=yesterday')).toEqual(['from']);
    expect(await field(`trunk=${trunkId}`)).toEqual(['trunk']);
    // The billing role reads it too; no key, no statistics.
    await t.http(null).get('/v1/stats/calls').expect(401);
  });

  it('is described in the OpenAPI document with its query parameters', async () => {
    const doc = (await t.http(null).get('/docs-json').expect(200)).body as { paths: Record<string, { get?: { parameters?: { name: string }[] } }> };
    expect(doc.paths['/v1/stats/calls'].get!.parameters!.map((p) => p.name).sort()).toEqual(['bucket', 'direction', 'from', 'to', 'trunkId']);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/console/session', '/v1/overview', '/v1/registrations']));
  });

  it('is answered from the covering index on started_at', async () => {
    const c = await db();
    try {
      await c.query('BEGIN');
      // The test table is small enough for a sequential scan to win on cost; what is checked is that the index alone can answer.
      await c.query('SET LOCAL enable_seqscan = off');
      await c.query('SET LOCAL enable_bitmapscan = off');
      const plan = (await c.query(`EXPLAIN ${CALL_STATS_SQL}`, ['2025-03-04T10:00:00Z', '2025-03-04T10:15:00Z', 300, null, null])).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      expect(plan).toContain('Index Only Scan using cdrs_started_at_stats_idx');
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
  });
});
