/**
 * Boots the real gateway application against this run's PostgreSQL database and Redis, for
 * black-box HTTP tests with supertest. Nothing is mocked.
 */
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp } from '../../src/app';
import { AppConfig, loadConfig } from '../../src/platform/config';
import { ADMIN_KEY, REDIS_URL, SECRETS_KEY } from './env';

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  /** supertest against the app, with the admin key unless another is given. */
  http(key?: string | null): ReturnType<typeof authorised>;
  close(): Promise<void>;
}

/** supertest against an in-process app's server or a URL, with `key` as bearer (none when null). */
export function authorised(target: INestApplication | string, key: string | null) {
  const agent = request(typeof target === 'string' ? target : target.getHttpServer());
  const wrap =
    (method: 'get' | 'post' | 'put' | 'patch' | 'delete') =>
    (path: string): request.Test => {
      const t = agent[method](path);
      return key === null ? t : t.set('Authorization', `Bearer ${key}`);
    };
  return { get: wrap('get'), post: wrap('post'), put: wrap('put'), patch: wrap('patch'), delete: wrap('delete') };
}

export function testConfig(env: Record<string, string> = {}): AppConfig {
  const url = process.env.GW_TEST_DATABASE_URL;
  if (!url) throw new Error('GW_TEST_DATABASE_URL is not set: run the integration tests through jest (global-setup creates the database)');
  return loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    REDIS_URL,
    REDIS_PREFIX: process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest',
    ADMIN_API_KEY: ADMIN_KEY,
    SECRETS_KEY,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DB_MIGRATE_ON_START: 'false',
    SIP_LISTEN: '127.0.0.1:0',
    // Not the default 0.0.0.0:5066: test apps run side by side.
    SIP_WS_LISTEN: '127.0.0.1:0',
    SIP_REALM: 'gateway.test',
    DEFAULT_COUNTRY: 'US',
    // Every peer of the tests is on 127.0.0.0/8; production refuses loopback media.
    MEDIA_ALLOW_LOOPBACK: 'true',
    ...env,
  });
}

export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = testConfig(env);
  const app = await createApp(config);
  await app.init();
  // Fastify answers only once its plugins are loaded; supertest talks to app.getHttpServer().
  await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return {
    app,
    config,
    http: (key: string | null = ADMIN_KEY) => authorised(app, key),
    close: () => app.close(),
  };
}

let counter = 0;
/** A value no other test of this run uses (usernames, names, numbers). */
export function unique(prefix: string): string {
  counter++;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}${counter}`;
}

const numberBase = Math.floor(Math.random() * 8_000_000);
/** A fresh valid US geographic E.164 number in area 201 (exchange codes 200-999). */
export function uniqueUsNumber(): string {
  counter++;
  return `+1201${2_000_000 + ((numberBase + counter) % 8_000_000)}`;
}
