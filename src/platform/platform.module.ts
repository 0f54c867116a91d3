/**
 * Platform wiring shared by every domain module: the validated config, PostgreSQL (TypeORM),
 * Redis, structured logging, the problem-details filter, health probes, Prometheus metrics and
 * the node's draining flag (NodeLifecycle).
 */
import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, AppConfig } from './config';
import { dataSourceOptions } from './database';
import { HealthController } from './health.controller';
import { createMetricsRegistry, METRICS, MetricsController } from './metrics';
import { httpLoggingParams } from './logging';
import { NodeLifecycle } from './node-lifecycle';
import { ProblemFilter } from './problem';
import { createRedis, REDIS } from './redis';
import { SecretBox } from './secret-box';

class RedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({})
export class PlatformModule {
  static register(config: AppConfig): DynamicModule {
    if (!config.databaseUrl) throw new Error('PlatformModule needs a database URL (main.ts starts the embedded one first)');
    if (!config.secretsKey) throw new Error('PlatformModule needs SECRETS_KEY (main.ts creates one under DATA_DIR)');
    const secretsKey = config.secretsKey;
    return {
      module: PlatformModule,
      imports: [
        LoggerModule.forRoot(httpLoggingParams(config.logLevel)),
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.databaseUrl, config.dbPoolSize), autoLoadEntities: true, migrationsRun: false }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        {
          provide: REDIS,
          useFactory: async () => {
            const r = createRedis(config.redisUrl, 'gateway');
            await r.connect();
            return r;
          },
        },
        { provide: SecretBox, useFactory: () => new SecretBox(secretsKey) },
        { provide: APP_FILTER, useClass: ProblemFilter },
        RedisLifecycle,
        NodeLifecycle,
        { provide: METRICS, useFactory: createMetricsRegistry },
      ],
      exports: [APP_CONFIG, REDIS, SecretBox, METRICS, NodeLifecycle],
    };
  }
}
