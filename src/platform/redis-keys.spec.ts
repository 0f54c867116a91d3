import { QueueKeys } from 'bullmq';
import { bullPrefix, CDR_QUEUE, RENTAL_QUEUE } from '../billing/billing-queues';
import { hashTagged } from './redis-keys';

// ioredis's own slot function (CRC16/XMODEM of the hash tag, mod 16384), as Redis Cluster computes it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const slotOf = require('cluster-key-slot') as (key: string) => number;
const slots = (keys: string[]) => new Set(keys.map((k) => slotOf(k)));

describe('Redis keys that must share a cluster slot', () => {
  it('computes slots as Redis Cluster does (reference values from the Redis cluster spec)', () => {
    expect(slotOf('123456789')).toBe(12739);
    // Only the first {...} counts, and an empty {} is no tag.
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
    expect(slotOf('foo{}{bar}')).not.toBe(slotOf('bar'));
  });

  it('hashTagged keys hash to the slot of their group, whatever follows', () => {
    const base = hashTagged('gw', 'acct-1');
    expect(base).toBe('gw:{acct-1}');
    expect(slots([`${base}:holds`, `${base}:hexp`, `${base}:epoch`])).toEqual(new Set([slotOf('acct-1')]));
  });

  it.each(['gw', 'gw_test_1a2b', 'tenant:eu-1', ''])('puts every key of both BullMQ queues of prefix %p in one slot', (redisPrefix) => {
    const keys = new QueueKeys(bullPrefix({ redisPrefix }));
    const all = [CDR_QUEUE, RENTAL_QUEUE].flatMap((name) => [...Object.values(keys.getKeys(name)), keys.toKey(name, 'job-id-1'), keys.toKey(name, 'repeat:abc')]);
    expect(all.length).toBeGreaterThan(20);
    expect(slots(all).size).toBe(1);
    // Without the tag they would spread (the check above can fail).
    const untagged = new QueueKeys(`${redisPrefix}:bull`);
    expect(slots(Object.values(untagged.getKeys(CDR_QUEUE))).size).toBeGreaterThan(1);
  });
});
