/**
 * Cross-process invalidation of the toll-free cache through Redis pub/sub: every write publishes the
 * changed number (or `*` for "everything", after an import or a range change) on
 * `<REDIS_PREFIX>:tollfree:changed`, and every gateway process drops what it cached.
 *
 * A subscriber that reconnects may have missed messages, so it clears everything on each
 * (re)subscription. Owns its subscriber connection; publishes through the shared one.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { createRedis, REDIS } from '../platform/redis';

export const EVERYTHING = '*';

@Injectable()
export class TollFreeChanges implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('tollfree');
  private readonly channel: string;
  private subscriber?: Redis;
  private readonly listeners: ((what: string) => void)[] = [];

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.channel = `${config.redisPrefix}:tollfree:changed`;
  }

  /** `what` is an E.164 number or EVERYTHING. */
  onChange(listener: (what: string) => void): void {
    this.listeners.push(listener);
  }

  async onModuleInit(): Promise<void> {
    const sub = createRedis(this.config.redisUrl, 'tollfree-changes');
    this.subscriber = sub;
    sub.on('error', (e: Error) => this.logger.warn(`toll-free change subscriber: ${e.message}`));
    sub.on('message', (channel: string, what: string) => {
      if (channel === this.channel) this.emit(what);
    });
    // ioredis re-subscribes by itself after a reconnect; what was published meanwhile is lost.
    sub.on('ready', () => this.emit(EVERYTHING));
    await sub.connect();
    await sub.subscribe(this.channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }

  /** Drops `what` here at once, then tells every other process. */
  async publish(what: string): Promise<void> {
    this.emit(what);
    try {
      await this.redis.publish(this.channel, what);
    } catch (e) {
      // The write is committed; other processes catch up when their cached copy ages out.
      this.logger.error(`could not publish a toll-free change of ${what}: ${(e as Error).message}`);
    }
  }

  private emit(what: string): void {
    for (const l of this.listeners) l(what);
  }
}
