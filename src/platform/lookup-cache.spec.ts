import { LookupCache } from './lookup-cache';

describe('LookupCache', () => {
  let now = 0;
  const cache = () => new LookupCache<string, string | undefined>(3, 1000, () => now);

  beforeEach(() => (now = 0));

  it('serves a value, a miss included, until it is older than maxAgeMs, then loads again', async () => {
    const c = cache();
    const loads: string[] = [];
    const load = async (k: string) => (loads.push(k), k === 'none' ? undefined : `v-${k}`);
    expect(await c.get('a', load)).toBe('v-a');
    expect(await c.get('none', load)).toBeUndefined();
    now = 1000;
    expect(await c.get('a', load)).toBe('v-a');
    expect(await c.get('none', load)).toBeUndefined();
    expect(loads).toEqual(['a', 'none']);
    now = 1001;
    await c.get('a', load);
    expect(loads).toEqual(['a', 'none', 'a']);
  });

  it('shares one load between concurrent misses of a key', async () => {
    const c = cache();
    let loads = 0;
    let release!: (v: string) => void;
    const load = () => (loads++, new Promise<string>((ok) => (release = ok)));
    const both = Promise.all([c.get('k', load), c.get('k', load)]);
    release('v');
    expect(await both).toEqual(['v', 'v']);
    expect(loads).toBe(1);
  });

  it('forgets everything on clear, including a load still in flight', async () => {
    const c = cache();
    let release!: (v: string) => void;
    const slow = c.get('k', () => new Promise<string>((ok) => (release = ok)));
    c.clear();
    release('old');
    expect(await slow).toBe('old');
    expect(await c.get('k', async () => 'new')).toBe('new');
  });

  it('keeps no failed load: the next read tries again', async () => {
    const c = cache();
    await expect(c.get('k', async () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await c.get('k', async () => 'back')).toBe('back');
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const c = cache();
    for (const k of ['a', 'b', 'c', 'd']) await c.get(k, async () => k);
    expect(c.size).toBe(3);
    let reloaded = false;
    await c.get('a', async () => ((reloaded = true), 'a'));
    expect(reloaded).toBe(true);
  });
});
