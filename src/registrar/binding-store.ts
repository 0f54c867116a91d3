/**
 * Contact bindings in Redis, so every gateway process sees them and they survive a gateway restart.
 * One hash per user (`<prefix>:reg:<userId>`, field = binding key (registration.ts), value = JSON binding); the key
 * expires with its last binding, and readers drop bindings past their expiry, so an expired
 * binding is gone on time even before Redis deletes it. Writes are compare-and-set on a version
 * field in a Lua script (not WATCH, which is per connection and so unsafe on a shared connection):
 * two REGISTERs for one user on two nodes cannot lose each other's change.
 */
import type { Redis } from 'ioredis';
import { Binding, bindingKey, RegisterPlan } from './registration';

type Change = Extract<RegisterPlan, { kind: 'change' }>;

export interface BindingSource {
  readonly callId: string;
  readonly cseq: number;
  readonly source: Binding['source'];
  readonly userAgent?: string;
  /** WebSocket registrations: the node and connection that own the socket. */
  readonly node?: string;
  readonly connection?: string;
  /** Through a trusted edge: its Path and the device's address as it saw it (Binding.path, Binding.received). */
  readonly path?: readonly string[];
  readonly received?: { readonly address: string; readonly port: number };
}

const VERSION = '_v';

/** KEYS[1] hash; ARGV[1] expected version ('' for none), ARGV[2] expiry ms (0: delete), ARGV[3..] field, value pairs. */
const REPLACE = `
local v = redis.call('HGET', KEYS[1], '${VERSION}') or ''
if v ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], '${VERSION}', tostring((tonumber(v) or 0) + 1), unpack(ARGV, 3))
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1`;

export class BindingStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(userId: string): string {
    return `${this.prefix}:reg:${userId}`;
  }

  /**
   * Bindings stored for every user (each hash's fields but its version): a SCAN over the users'
   * hashes, for the registrations gauge read at scrape time. Counts bindings past their expiry
   * that no REGISTER has removed yet until their hash expires.
   */
  async countAll(): Promise<number> {
    let cursor = '0';
    let total = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:reg:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const p = this.redis.pipeline();
      for (const k of keys) p.hlen(k);
      for (const [err, n] of (await p.exec()) ?? []) if (!err) total += Math.max(0, Number(n) - 1);
    } while (cursor !== '0');
    return total;
  }

  async list(userId: string, now = Date.now()): Promise<Binding[]> {
    return this.live(await this.redis.hgetall(this.key(userId)), now);
  }

  /**
   * Reads the bindings, lets `plan` decide, and applies its change atomically; retries when another
   * node changed the same user's bindings in between. Returns the plan and the bindings after it.
   */
  async update(userId: string, plan: (existing: Binding[]) => RegisterPlan, from: BindingSource, now = Date.now()): Promise<{ plan: RegisterPlan; bindings: Binding[] }> {
    const key = this.key(userId);
    for (let attempt = 0; attempt < 50; attempt++) {
      // Jittered backoff after a lost race, so writers for one user do not collide again in step.
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 4 * Math.min(attempt, 10)));
      const raw = await this.redis.hgetall(key);
      const existing = this.live(raw, now);
      const decided = plan(existing);
      if (decided.kind !== 'change') return { plan: decided, bindings: existing };
      const after = this.apply(existing, decided, from, now);
      const expiry = after.length > 0 ? Math.max(...after.map((b) => b.expiresAt)) : 0;
      const pairs = after.flatMap((b) => [bindingKey(b), JSON.stringify(b)]);
      if ((await this.redis.eval(REPLACE, 1, key, raw[VERSION] ?? '', expiry, ...pairs)) === 1) return { plan: decided, bindings: after };
    }
    throw new Error(`bindings of user ${userId} kept changing; giving up after 50 attempts`);
  }

  /**
   * The live bindings of every user, by user id, for the console's "who is registered" view: walks
   * the keys with SCAN (never KEYS, which blocks Redis) and stops after `maxUsers` users
   * (`truncated` then says so).
   */
  async all(maxUsers: number, now = Date.now()): Promise<{ byUser: Map<string, Binding[]>; truncated: boolean }> {
    const byUser = new Map<string, Binding[]>();
    const head = `${this.prefix}:reg:`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${head}*`, 'COUNT', 500);
      cursor = next;
      const fresh = keys.filter((k) => !byUser.has(k.slice(head.length))).slice(0, maxUsers - byUser.size);
      if (fresh.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const k of fresh) pipeline.hgetall(k);
      const hashes = (await pipeline.exec()) ?? [];
      fresh.forEach((k, i) => {
        const live = this.live((hashes[i]?.[1] as Record<string, string> | undefined) ?? {}, now);
        if (live.length > 0) byUser.set(k.slice(head.length), live);
      });
      if (byUser.size >= maxUsers) return { byUser, truncated: cursor !== '0' };
    } while (cursor !== '0');
    return { byUser, truncated: false };
  }

  /** Removes every binding of a user (its credentials were revoked: disabled, deleted, new password or name). */
  async clear(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }

  private apply(existing: Binding[], change: Change, from: BindingSource, now: number): Binding[] {
    const byKey = new Map(existing.map((b) => [bindingKey(b), b]));
    for (const key of change.removals) byKey.delete(key);
    for (const { contact, expires } of change.upserts) {
      const key = bindingKey(contact);
      byKey.set(key, {
        uri: contact.uri,
        ...(contact.key ? { key: contact.key } : {}),
        contact: contact.contact,
        q: contact.q,
        expiresAt: now + expires * 1000,
        callId: from.callId,
        cseq: from.cseq,
        source: from.source,
        userAgent: from.userAgent,
        ...(from.connection ? { node: from.node, connection: from.connection } : {}),
        ...(from.path && from.path.length > 0 ? { path: from.path } : {}),
        ...(from.received ? { received: from.received } : {}),
        registeredAt: byKey.get(key)?.registeredAt ?? now,
      });
    }
    return [...byKey.values()].sort((a, b) => b.q - a.q || a.registeredAt - b.registeredAt);
  }

  private live(raw: Record<string, string>, now: number): Binding[] {
    const out: Binding[] = [];
    for (const [field, value] of Object.entries(raw)) {
      if (field === VERSION) continue;
      try {
        const b = JSON.parse(value) as Binding;
        if (b.expiresAt > now) out.push(b);
      } catch {
        // An unreadable entry is skipped; the next REGISTER rewrites the hash without it.
      }
    }
    return out.sort((a, b) => b.q - a.q || a.registeredAt - b.registeredAt);
  }
}
