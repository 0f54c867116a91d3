import IORedis from 'ioredis';
import { BindingStore } from '../../src/registrar/binding-store';
import { planRegister } from '../../src/registrar/registration';
import { REDIS_URL } from '../support/env';
import { unique } from '../support/app';

describe('BindingStore on the real Redis', () => {
  const redis = new IORedis(REDIS_URL);
  const store = new BindingStore(redis, `${process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest'}:store`);
  afterAll(() => redis.quit());

  const register = (userId: string, uri: string, callId: string, expires = 300) =>
    store.update(
      userId,
      (existing) => planRegister({ wildcard: false, contacts: [{ uri, contact: `<${uri}>`, expires, q: 1 }], callId, cseq: 1, existing, minExpires: 1, maxExpires: 3600 }),
      { callId, cseq: 1, source: { address: '127.0.0.1', port: 5070, transport: 'UDP' } },
    );

  it('keeps every device when 20 of them register at once for one user', async () => {
    const userId = unique('u');
    await Promise.all(Array.from({ length: 20 }, (_, i) => register(userId, `sip:dev${i}@127.0.0.1:${6000 + i}`, `call-${i}`)));
    const bindings = await store.list(userId);
    expect(bindings.map((b) => b.uri).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `sip:dev${i}@127.0.0.1:${6000 + i}`).sort());
  });

  it('lets the key expire with its last binding', async () => {
    const userId = unique('u');
    // 60 s rather than 2 s: the key's TTL is read after the write, and on a loaded 2-core CI 2 s can
    // pass in between. Ten seconds of slack still fails a key without expiry (-1) or with a far later one.
    await register(userId, 'sip:a@127.0.0.1:6100', 'call-a', 60);
    const ttl = await redis.pttl(`${process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest'}:store:reg:${userId}`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const removed = await store.update(
      userId,
      (existing) => planRegister({ wildcard: true, contacts: [], expiresHeader: 0, callId: 'call-b', cseq: 1, existing, minExpires: 1, maxExpires: 3600 }),
      { callId: 'call-b', cseq: 1, source: { address: '127.0.0.1', port: 5070, transport: 'UDP' } },
    );
    expect(removed.bindings).toEqual([]);
    expect(await redis.exists(`${process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest'}:store:reg:${userId}`)).toBe(0);
  });
});
