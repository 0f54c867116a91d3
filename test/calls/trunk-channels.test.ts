import IORedis from 'ioredis';
import { TrunkChannels } from '../../src/calls/trunk-channels';
import { deleteKeysWithPrefix } from '../../src/platform/redis';
import { REDIS_URL } from '../support/env';

describe('trunk channel counts in Redis', () => {
  const redis = new IORedis(REDIS_URL);
  const prefix = `${process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest'}:channels`;
  const channels = new TrunkChannels(redis, prefix);

  /** Live holds on a trunk, read from the sorted set itself (the gateway never needs the count: acquire checks it). */
  const inUse = async (trunkId: string) => redis.zcount(`${prefix}:calls:trunk:${trunkId}`, Date.now(), '+inf');

  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  });

  it('refuses the channel beyond maxChannels, even when many nodes ask at once', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => channels.acquire('t-limit', `leg${i}`, 5, 60)));
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await inUse('t-limit')).toBe(5);
  });

  it('frees a channel on release, and a hold that lapsed counts for nothing', async () => {
    const now = Date.now();
    expect(await channels.acquire('t-lapse', 'a', 1, 60, now)).toBe(true);
    expect(await channels.acquire('t-lapse', 'b', 1, 60, now)).toBe(false);
    await channels.release('t-lapse', 'a');
    expect(await channels.acquire('t-lapse', 'b', 1, 1, now)).toBe(true);
    // Two seconds later b's one-second hold has lapsed (a node that crashed leaks nothing for long).
    expect(await channels.acquire('t-lapse', 'c', 1, 60, now + 2000)).toBe(true);
  });

  it('keeps the key as long as its longest hold (a short hold does not expire the others)', async () => {
    expect(await channels.acquire('t-ttl', 'long', null, 3600)).toBe(true);
    expect(await channels.acquire('t-ttl', 'short', null, 1)).toBe(true);
    expect(await redis.pttl(`${prefix}:calls:trunk:t-ttl`)).toBeGreaterThan(3_000_000);
  });

  it('counts without limit when the trunk has no maxChannels', async () => {
    for (let i = 0; i < 50; i++) expect(await channels.acquire('t-free', `leg${i}`, null, 60)).toBe(true);
    expect(await inUse('t-free')).toBe(50);
    expect(await inUse('t-none')).toBe(0);
  });
});
