import fc from 'fast-check';
import { type CallStatsRow, callStatsQuery, statsWindow, toCallStats } from './call-stats';

const q = (o: Record<string, string> = {}) => callStatsQuery.parse(o);
const row = (at: string, o: Partial<CallStatsRow> = {}): CallStatsRow => ({ bucket: new Date(at), trunk_id: 't1', direction: 'outbound', attempts: 1, answered: 1, answered_seconds: 60, pdd_ms_sum: 1000, pdd_count: 1, ...o });

describe('call statistics', () => {
  it('defaults to the 6 hours before now in 5-minute buckets', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    expect(statsWindow(q(), now)).toEqual({ from: new Date('2026-01-01T06:00:00Z'), to: now, bucketSeconds: 300 });
  });

  it('refuses an empty window and too many buckets, naming the field', () => {
    expect(() => statsWindow(q({ from: '2026-01-01T12:00:00Z', to: '2026-01-01T12:00:00Z' }), new Date())).toThrow(/from: must be before to/);
    expect(() => statsWindow(q({ from: '2026-01-01T00:00:00Z', to: '2026-01-03T00:00:00Z', bucket: '1m' }), new Date())).toThrow(/bucket: 2880 buckets of 1m/);
    expect(statsWindow(q({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T09:20:00Z', bucket: '1m' }), new Date()).bucketSeconds).toBe(60);
  });

  it('splits series by trunk and direction, oldest point first, with rates rounded and nulls where nothing was measured', () => {
    const window = { from: new Date('2026-01-01T10:00:00Z'), to: new Date('2026-01-01T10:10:00Z'), bucketSeconds: 300 };
    const stats = toCallStats(
      [row('2026-01-01T10:05:00Z', { attempts: 3, answered: 0, answered_seconds: 0, pdd_ms_sum: 0, pdd_count: 0 }), row('2026-01-01T10:00:00Z'), row('2026-01-01T10:00:00Z', { trunk_id: null, direction: 'internal' })],
      q({ bucket: '5m' }),
      window,
    );
    expect(stats.series.map((s) => [s.trunkId, s.direction, s.points.map((p) => p.at.slice(11, 16))])).toEqual([
      [null, 'internal', ['10:00']],
      ['t1', 'outbound', ['10:00', '10:05']],
    ]);
    expect(stats.series[1].points[1]).toEqual({ at: '2026-01-01T10:05:00.000Z', attempts: 3, answered: 0, callsPerMinute: 0.6, asr: 0, acdSeconds: null, pddMs: null });
    expect(stats.totals).toEqual({ attempts: 5, answered: 2, callsPerMinute: 0.5, asr: 0.4, acdSeconds: 60, pddMs: 1000 });
  });

  it('keeps ASR within 0..1 and the totals equal to the sum of the points, whatever the rows', () => {
    const rowArb = fc.record({ minute: fc.integer({ min: 0, max: 59 }), trunk: fc.constantFrom('a', 'b', null), attempts: fc.integer({ min: 1, max: 500 }), answeredShare: fc.double({ min: 0, max: 1, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 40 }), (specs) => {
        const rows = specs.map((s) => {
          const answered = Math.floor(s.attempts * s.answeredShare);
          return row(`2026-01-01T10:${String(s.minute).padStart(2, '0')}:00Z`, { trunk_id: s.trunk, attempts: s.attempts, answered, answered_seconds: answered * 30, pdd_count: s.attempts, pdd_ms_sum: s.attempts * 200 });
        });
        const stats = toCallStats(rows, q({ bucket: '1m' }), { from: new Date('2026-01-01T10:00:00Z'), to: new Date('2026-01-01T11:00:00Z'), bucketSeconds: 60 });
        const points = stats.series.flatMap((s) => s.points);
        for (const p of points) expect(p.asr === null || (p.asr >= 0 && p.asr <= 1)).toBe(true);
        expect(stats.totals.attempts).toBe(points.reduce((n, p) => n + p.attempts, 0));
        expect(stats.totals.answered).toBe(points.reduce((n, p) => n + p.answered, 0));
      }),
    );
  });
});
