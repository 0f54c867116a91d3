/**
 * The gateway's HTTP application on @nestjs/platform-fastify, for bench/http.bench.ts's `fastify`
 * target only: main.ts serves on Express (src/app.ts says why). Reads the same environment as
 * main.ts but needs DATABASE_URL, ADMIN_API_KEY and SECRETS_KEY set (no embedded PostgreSQL, no
 * migrations, no generated secrets). Imports only src/app and src/platform/config.
 */
import 'reflect-metadata';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/platform/config';

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl || !config.adminApiKey || !config.secretsKey) throw new Error('set DATABASE_URL, ADMIN_API_KEY and SECRETS_KEY');
  const app = await createApp(config);
  await app.listen(config.httpPort, config.httpHost);
  const stop = () => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
