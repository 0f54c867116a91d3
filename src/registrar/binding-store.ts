/**
 * Contact bindings in Redis, so every gateway process sees them and they survive a gateway restart.
 * One hash per user (`<prefix>:reg:<userId>`, field = contact URI, value = JSON binding); the key
 * expires with its last binding, and readers drop bindings past their expiry, so an expired
 * binding is gone on time even before Redis deletes it. Writes use WATCH/MULTI: two REGISTERs for
 * one user on two nodes cannot lose each other's change.
 */
import type { Redis } from 'ioredis';
import { Binding, RegisterPlan } from './registration';

type Change = Extract<RegisterPlan, { kind: 'change' }>;

export interface BindingSource {
  readonly callId: string;
  readonly cseq: number;
  readonly source: Binding['source'];
  readonly userAgent?: string;
}

export class BindingStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(userId: string): string {
    return `${this.prefix}:reg:${userId}`;
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
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.redis.watch(key);
      const existing = this.live(await this.redis.hgetall(key), now);
      const decided = plan(existing);
      if (decided.kind !== 'change') {
        await this.redis.unwatch();
        return { plan: decided, bindings: existing };
      }
      const after = this.apply(existing, decided, from, now);
      const tx = this.redis.multi().del(key);
      if (after.length > 0) {
        tx.hset(key, Object.fromEntries(after.map((b) => [b.uri, JSON.stringify(b)])));
        tx.pexpireat(key, Math.max(...after.map((b) => b.expiresAt)));
      }
      if ((await tx.exec()) !== null) return { plan: decided, bindings: after };
    }
    throw new Error(`bindings of user ${userId} kept changing; giving up after 10 attempts`);
  }

  /** Removes every binding of a user (user deleted or disabled). */
  async clear(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }

  private apply(existing: Binding[], change: Change, from: BindingSource, now: number): Binding[] {
    const byUri = new Map(existing.map((b) => [b.uri, b]));
    for (const uri of change.removals) byUri.delete(uri);
    for (const { contact, expires } of change.upserts) {
      byUri.set(contact.uri, {
        uri: contact.uri,
        contact: contact.contact,
        q: contact.q,
        expiresAt: now + expires * 1000,
        callId: from.callId,
        cseq: from.cseq,
        source: from.source,
        userAgent: from.userAgent,
        registeredAt: byUri.get(contact.uri)?.registeredAt ?? now,
      });
    }
    return [...byUri.values()].sort((a, b) => b.q - a.q || a.registeredAt - b.registeredAt);
  }

  private live(raw: Record<string, string>, now: number): Binding[] {
    const out: Binding[] = [];
    for (const value of Object.values(raw)) {
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
