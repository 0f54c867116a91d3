/**
 * `npm run migration:run` / `migration:revert`: applies or reverts migrations against DATABASE_URL,
 * or against the embedded PostgreSQL under DATA_DIR when DATABASE_URL is absent.
 */
import { ConfigError, loadConfig } from './config';
import { revertLastMigration, runMigrations, startEmbeddedPostgres } from './database';

async function main(): Promise<void> {
  const action = process.argv[2];
  if (action !== 'run' && action !== 'revert') {
    console.error('usage: migrate-cli run|revert');
    process.exit(2);
  }
  const config = loadConfig();
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, console.error);
  const url = config.databaseUrl ?? embedded!.url;
  try {
    if (action === 'run') {
      const applied = await runMigrations(url);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'no pending migration');
    } else {
      await revertLastMigration(url);
      console.log('reverted the last migration');
    }
  } finally {
    await embedded?.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof ConfigError ? `config error: ${e.problems.join('; ')}` : `migration failed: ${(e as Error).message}`);
  process.exit(1);
});
