import { WriteCoalescer } from './write-coalescer';

describe('WriteCoalescer', () => {
  it('writes the items added in one turn as one batch, and each caller hears of its own item', async () => {
    const batches: number[][] = [];
    const c = new WriteCoalescer<number>(async (items) => void batches.push(items));
    await Promise.all([1, 2, 3, 4].map((i) => c.add(i)));
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('after a failed batch tries each item alone: only the bad item fails', async () => {
    const batches: number[][] = [];
    const c = new WriteCoalescer<number>(async (items) => {
      batches.push(items);
      if (items.includes(13)) throw new Error('bad row 13');
    });
    const results = await Promise.allSettled([11, 12, 13, 14].map((i) => c.add(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('bad row 13');
    expect(batches).toEqual([[11, 12, 13, 14], [11], [12], [13], [14]]);
  });

  it('caps a batch at maxBatch and keeps at most maxInFlight batches running', async () => {
    let running = 0;
    let most = 0;
    const sizes: number[] = [];
    const c = new WriteCoalescer<number>(
      async (items) => {
        running++;
        most = Math.max(most, running);
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      3,
      2,
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.add(i)));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(most).toBeLessThanOrEqual(2);
  });
});
