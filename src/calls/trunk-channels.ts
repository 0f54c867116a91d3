/**
 * A trunk's `maxChannels`, the one place it is enforced, shared by every gateway process through
 * Redis: one sorted set per trunk whose members are call legs and whose scores are when the hold
 * lapses. `acquire` is one Lua call that drops lapsed holds, checks `maxChannels` and adds the leg,
 * so two nodes cannot both take the last channel; the call flow takes a trunk's channel just before
 * ringing it and skips a full trunk. `release` frees it when the attempt or call ends.
 *
 * A hold lapses on its own, so a crashed node leaks nothing for long. Nothing refreshes a hold: it
 * is sized when taken to the longest the call may last (an outbound call's grant, or 4 h for an
 * emergency call, plus setup; an inbound call's 4 h plus setup), and a call that outlives it stops
 * counting against the trunk.
 */
import type { Redis } from 'ioredis';

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local max = tonumber(ARGV[4])
if max >= 0 and redis.call('ZCARD', KEYS[1]) >= max and not redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`;

export class TrunkChannels {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(trunkId: string): string {
    return `${this.prefix}:calls:trunk:${trunkId}`;
  }

  /** Takes a channel for `legId` until `holdSeconds` from now; false when the trunk is full. */
  async acquire(trunkId: string, legId: string, maxChannels: number | null, holdSeconds: number, now = Date.now()): Promise<boolean> {
    const r = await this.redis.eval(ACQUIRE, 1, this.key(trunkId), now, now + holdSeconds * 1000, legId, maxChannels ?? -1);
    return r === 1;
  }

  async release(trunkId: string, legId: string): Promise<void> {
    await this.redis.zrem(this.key(trunkId), legId);
  }
}
