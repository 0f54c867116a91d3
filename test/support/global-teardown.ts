/** Drops this run's database and Redis keys, unless KEEP_TEST_DB=1 (for a post-mortem). */
import IORedis from 'ioredis';
import { Client } from 'pg';
import { deleteKeysWithPrefix } from '../../src/platform/redis';
import { BASE_DATABASE_URL, REDIS_URL } from './env';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.GW_TEST_DATABASE;
  if (!name || process.env.KEEP_TEST_DB === '1') return;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const prefix = process.env.GW_TEST_REDIS_PREFIX;
  if (!prefix) return;
  const redis = new IORedis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    await deleteKeysWithPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
