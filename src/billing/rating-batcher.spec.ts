import { RatingBatcher } from './billing-queues';
import { RateOutcome, RatingError } from './cdrs.service';

describe('RatingBatcher', () => {
  it('rates the CDRs of jobs running at once together, and answers each job alone', async () => {
    const batches: string[][] = [];
    const batcher = new RatingBatcher(async (ids) => {
      batches.push(ids);
      return new Map<string, RateOutcome | RatingError>(ids.map((id) => [id, id === 'bad' ? new RatingError('no rate') : { status: 'rated', cost: '1.000000' }]));
    }, 3);
    const results = await Promise.allSettled(['a', 'b', 'bad', 'c', 'a'].map((id) => batcher.rate(id)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(RatingError);
    expect(batches.flat().sort()).toEqual(['a', 'b', 'bad', 'c']); // the same CDR twice is rated once
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(3);
  });

  it('fails every job of a batch whose transaction failed, so each is retried', async () => {
    const batcher = new RatingBatcher(async () => {
      throw new Error('deadlock detected');
    });
    const results = await Promise.allSettled(['x', 'y'].map((id) => batcher.rate(id)));
    expect(results.every((r) => r.status === 'rejected' && /deadlock/.test(String(r.reason)))).toBe(true);
  });
});
