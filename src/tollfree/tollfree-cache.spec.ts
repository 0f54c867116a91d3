import { Cached, TollFreeCache } from './tollfree-cache';
import { compileEntry } from './translate';

const cached = (version: number): Cached => ({
  compiled: compileEntry({ e164: '+18005550100', accountId: 'a', timezone: 'UTC', defaultTarget: `+1212555010${version}`, rules: [] }),
  accountId: 'a',
  version,
});

describe('TollFreeCache', () => {
  it('loads once, then answers from memory, remembering numbers that have no entry too', async () => {
    const cache = new TollFreeCache(10, 60_000);
    let loads = 0;
    const load = async (e164: string) => (loads++, e164 === '+18005550100' ? cached(1) : null);
    expect((await cache.get('+18005550100', load))?.version).toBe(1);
    expect((await cache.get('+18005550100', load))?.version).toBe(1);
    expect(await cache.get('+18005550199', load)).toBeNull();
    expect(await cache.get('+18005550199', load)).toBeNull();
    expect(loads).toBe(2);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 2 });
  });

  it('does not keep a load that an invalidation overtook (a slow read cannot put back what a change dropped)', async () => {
    const cache = new TollFreeCache(10, 60_000);
    let release!: () => void;
    const slow = cache.get('+18005550100', () => new Promise<Cached>((ok) => (release = () => ok(cached(1)))));
    cache.drop('+18005550100'); // a change lands while version 1 is being read
    release();
    expect((await slow)?.version).toBe(1); // the caller still gets what it read
    expect(cache.peek('+18005550100')).toBeUndefined(); // but the next call reads again
    expect((await cache.get('+18005550100', async () => cached(2)))?.version).toBe(2);
  });

  it('evicts the least recently used entry beyond its size', async () => {
    const cache = new TollFreeCache(2, 60_000);
    cache.store('a', cached(1));
    cache.store('b', cached(2));
    cache.peek('a'); // a is now more recent than b
    cache.store('c', cached(3));
    expect(cache.size).toBe(2);
    expect(cache.peek('b')).toBeUndefined();
    expect(cache.peek('a')?.version).toBe(1);
  });

  it('forgets entries older than the maximum age, the backstop for a lost invalidation', () => {
    let now = 0;
    const cache = new TollFreeCache(10, 1000, () => now);
    cache.store('a', cached(1));
    now = 1000;
    expect(cache.peek('a')?.version).toBe(1);
    now = 2001;
    expect(cache.peek('a')).toBeUndefined();
  });

  it('clear drops everything and cancels loads in flight', async () => {
    const cache = new TollFreeCache(10, 60_000);
    cache.store('a', cached(1));
    let release!: () => void;
    const slow = cache.get('b', () => new Promise<Cached>((ok) => (release = () => ok(cached(2)))));
    cache.clear();
    release();
    await slow;
    expect(cache.size).toBe(0);
  });
});
