/**
 * The sweep that closes the calls of gateway nodes that died (docs/scaling.md "When a node dies"):
 * every CALL_SWEEP_SECONDS, on nodes whose ROLES has `sip` or `worker`, one node at a time (a Redis
 * lock), it finds instances whose heartbeat lapsed in PostgreSQL (call_nodes) and whose Redis
 * heartbeat key is gone too (both must say so: a node that only lost PostgreSQL for a while, or a
 * Redis that was flushed, is not taken for dead), and closes their open CDRs through
 * LostCallsService: ended at the last heartbeat, `hangupBy: gateway`, `node lost: <NODE_ID>`,
 * queued for rating once, credit holds released. Then it frees the trunk channels those calls
 * held, so the account and the trunk can take new calls at once.
 *
 * A node started with NODE_ID set also closes, without the lock and without waiting for a lapse,
 * the open CDRs of its own earlier starts (same NODE_ID, another instance): it knows they are dead.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LostCallsService, type OpenCallsHolder } from '../billing/lost-calls.service';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { REDIS } from '../platform/redis';
import { CallHeartbeat, heartbeatKey } from './call-heartbeat';
import { TrunkChannels } from './trunk-channels';

/** How often a process forgets long-dead instances that hold nothing (an idempotent DELETE: no lock). */
const PRUNE_EVERY_MS = 600_000;
/** Deletes the lock only if this instance still holds it. */
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

@Injectable()
export class LostCallsSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('lost-calls');
  private readonly channels: TrunkChannels;
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private prunedAt = 0;

  constructor(
    private readonly lost: LostCallsService,
    private readonly heartbeat: CallHeartbeat,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.channels = new TrunkChannels(redis, config.redisPrefix);
  }

  onApplicationBootstrap(): void {
    if (!this.config.roles.some((r) => r === 'sip' || r === 'worker')) return;
    this.timer = setInterval(() => void this.sweep(), this.config.node.sweepSeconds * 1000);
    this.timer.unref();
    void this.sweep();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One sweep (not two at once in this process); answers the number of calls it closed. */
  sweep(now = new Date()): Promise<number> {
    this.running ??= this.sweepNow(now)
      .catch((e: Error) => {
        this.log.warn({ err: e.message }, 'lost-calls sweep failed; the next one tries again');
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepNow(now: Date): Promise<number> {
    const self = this.heartbeat.instance;
    const sameNode = this.config.node.fixed ? this.config.node.id : null;
    const candidates = await this.lost.lostHolders(self, now, sameNode);
    let closed = 0;
    // This node's earlier starts: dead for sure, no lock needed (closing is idempotent per row).
    for (const c of candidates.filter((x) => x.earlierStart)) closed += await this.close(c.holder);
    if (now.getTime() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now.getTime();
      await this.lost.prune(now);
    }
    const lapsed = candidates.filter((x) => !x.earlierStart).map((x) => x.holder);
    if (!lapsed.length) return closed;
    const lock = `${this.config.redisPrefix}:calls:lost-sweep`;
    const took = await this.redis.set(lock, self, 'PX', Math.max(5000, this.config.node.sweepSeconds * 2000), 'NX');
    if (took !== 'OK') return closed;
    try {
      for (const holder of lapsed) {
        // PostgreSQL says lapsed; the Redis heartbeat must have lapsed too.
        if (await this.redis.exists(heartbeatKey(this.config.redisPrefix, holder.instance))) continue;
        closed += await this.close(holder);
      }
    } finally {
      await this.redis.eval(UNLOCK, 1, lock, self).catch(() => undefined);
    }
    return closed;
  }

  private async close(holder: OpenCallsHolder): Promise<number> {
    const closed = await this.lost.close(holder);
    await Promise.all(
      closed.map((c) =>
        c.trunk_id && c.trunk_channel
          ? this.channels.release(c.trunk_id, c.trunk_channel).catch((e: Error) => this.log.warn({ err: e.message, cdrId: c.id }, 'trunk channel of a lost call not released; its hold lapses on its own'))
          : undefined,
      ),
    );
    return closed.length;
  }
}
