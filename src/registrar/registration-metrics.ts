/** Feeds gateway_registrations_active (platform/metrics.ts) from the bindings in Redis, read at scrape time. */
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { GatewayMetrics } from '../platform/metrics';
import { REDIS } from '../platform/redis';
import { BindingStore } from './binding-store';

@Injectable()
export class RegistrationMetrics {
  constructor(@Inject(REDIS) redis: Redis, @Inject(APP_CONFIG) config: AppConfig, metrics: GatewayMetrics) {
    const store = new BindingStore(redis, config.redisPrefix);
    metrics.readRegistrationsFrom(() => store.countAll());
  }
}
