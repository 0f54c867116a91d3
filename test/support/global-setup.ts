/** Creates this run's database and applies every migration once. */
import { Client } from 'pg';
import { runMigrations } from '../../src/platform/database';
import { BASE_DATABASE_URL, databaseUrlFor } from './env';

export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}_${process.pid}`;
  const name = `gw_test_${runId}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(name);
  await runMigrations(url);
  process.env.GW_TEST_DATABASE = name;
  process.env.GW_TEST_DATABASE_URL = url;
  process.env.GW_TEST_REDIS_PREFIX = `gwtest:${runId}`;
}
