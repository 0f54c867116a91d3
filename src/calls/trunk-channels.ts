/**
 * Live channel counts per trunk, shared by every gateway process through Redis: one sorted set per
 * trunk whose members are call legs and whose scores are when the hold lapses. `acquire` is one Lua
 * call that drops lapsed holds, checks `maxChannels` and adds the leg, so two nodes cannot both take
 * the last channel. A hold lapses on its own (a crashed node leaks nothing for long); calls longer
 * than the hold refresh it.
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

  /** Channels in use on each trunk, as every node sees them. */
  async inUse(trunkIds: readonly string[], now = Date.now()): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (trunkIds.length === 0) return out;
    const pipe = this.redis.pipeline();
    for (const id of trunkIds) pipe.zcount(this.key(id), now, '+inf');
    const results = (await pipe.exec()) ?? [];
    trunkIds.forEach((id, i) => out.set(id, Number(results[i]?.[1] ?? 0)));
    return out;
  }
}
