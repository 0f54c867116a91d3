/**
 * Where captured SIP messages live: Redis, shared by every node, so any node's API serves the
 * ladder of a call another node handled (PostgreSQL would do too, but each message would be a row
 * write on the call path, and retention would need a sweep; Redis gives TTLs and capped lists).
 *
 * Keys under the gateway's prefix: `<prefix>:sipcap:<callId>`, a list of JSON messages (the API's
 * shape) kept for SIP_CAPTURE_RETENTION_HOURS from the call's last message and cut at
 * SIP_CAPTURE_MAX_MESSAGES_PER_CALL (the first ones are kept: the set-up is what explains a call);
 * `<prefix>:sipcap:calls`, a sorted set of call ids by first capture time, trimmed to
 * SIP_CAPTURE_MAX_CALLS by deleting the oldest calls' lists. Memory is therefore bounded by
 * calls × messages × SIP_CAPTURE_MAX_MESSAGE_BYTES whatever a peer sends.
 */
import type { Redis } from 'ioredis';

export interface CapturedMessage {
  at: string;
  direction: 'in' | 'out';
  leg: 'a' | 'b' | null;
  transport: 'udp' | 'tcp' | 'ws' | 'wss' | 'tls';
  src: string;
  dst: string;
  method: string | null;
  status: number | null;
  summary: string;
  text: string;
}

export interface CaptureLimits {
  retentionSeconds: number;
  maxCalls: number;
  maxMessagesPerCall: number;
}

/** Drops the calls beyond the cap (oldest first), and the index entries of calls whose list expired. */
const TRIM = `
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, id in ipairs(old) do redis.call('DEL', ARGV[2] .. id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
return over`;

export class SipCaptureStore {
  private readonly index: string;
  private readonly listPrefix: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly limits: CaptureLimits,
  ) {
    this.listPrefix = `${prefix}:sipcap:m:`;
    this.index = `${prefix}:sipcap:calls`;
  }

  /** Appends a batch (call id → messages in order) in one round trip. */
  async append(batch: ReadonlyMap<string, readonly CapturedMessage[]>): Promise<void> {
    if (batch.size === 0) return;
    const now = Date.now();
    const p = this.redis.pipeline();
    for (const [callId, messages] of batch) {
      const key = this.listPrefix + callId;
      p.zadd(this.index, 'NX', now, callId);
      p.rpush(key, ...messages.map((m) => JSON.stringify(m)));
      p.ltrim(key, 0, this.limits.maxMessagesPerCall - 1);
      p.expire(key, this.limits.retentionSeconds);
    }
    p.eval(TRIM, 1, this.index, this.limits.maxCalls, this.listPrefix, now - this.limits.retentionSeconds * 1000);
    const results = await p.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0]!;
  }

  /** The messages captured for a call, oldest first (empty when none or expired). */
  async messages(callId: string): Promise<CapturedMessage[]> {
    const raw = await this.redis.lrange(this.listPrefix + callId, 0, -1);
    const list = raw.map((r) => JSON.parse(r) as CapturedMessage);
    // Stable: the order of capture for messages of the same millisecond.
    return list.map((m, i) => ({ m, i })).sort((a, b) => a.m.at.localeCompare(b.m.at) || a.i - b.i).map(({ m }) => m);
  }
}
