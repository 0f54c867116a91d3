/**
 * A process that only rates CDRs and charges rentals: PostgreSQL, Redis and the billing module,
 * without HTTP, SIP or media. Used to scale billing workers on their own, and by the fault tests
 * (a worker to SIGKILL mid-batch). Reads the same environment as main.ts; ROLES must include
 * `worker`. Prints "billing worker ready" on stdout once its workers are consuming.
 */
import 'reflect-metadata';
import { DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { ConfigError, loadConfig } from '../platform/config';
import { PlatformModule } from '../platform/platform.module';
import { AppConfig } from '../platform/config';
import { BillingModule } from './billing.module';

@Module({})
class BillingWorkerModule {
  static register(config: AppConfig): DynamicModule {
    return { module: BillingWorkerModule, imports: [PlatformModule.register(config), BillingModule] };
  }
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) for (const p of e.problems) console.error(`config error: ${p}`);
    process.exit(1);
  }
  if (!config.databaseUrl) throw new Error('the billing worker needs DATABASE_URL');
  config.secretsKey ??= Buffer.alloc(32); // the worker seals nothing; PlatformModule insists on a key
  if (!config.roles.includes('worker')) config.roles = [...config.roles, 'worker'];
  const app = await NestFactory.createApplicationContext(BillingWorkerModule.register(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  await app.init();
  process.stdout.write('billing worker ready\n');
}

void main().catch((e: Error) => {
  console.error(`billing worker failed to start: ${e.message}`);
  process.exit(1);
});
