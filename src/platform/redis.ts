/**
 * The Redis connection shared by the registrar, call counters, caches and BullMQ.
 * `connectRedis` checks reachability at start so a wrong REDIS_URL fails with one clear line.
 */
import IORedis, { Redis } from 'ioredis';

export const REDIS = Symbol('REDIS');

export function createRedis(url: string, name: string): Redis {
  return new IORedis(url, { connectionName: name, maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: true });
}

/** Connects and PINGs within `timeoutMs`; throws an Error whose message says what to fix. */
export async function connectRedis(url: string, name: string, timeoutMs = 5000): Promise<Redis> {
  const redis = createRedis(url, name);
  const safeUrl = url.replace(/\/\/[^@]*@/, '//***@');
  let lastError = '';
  redis.on('error', (e: Error) => (lastError = e.message));
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`Redis at ${safeUrl} cannot be reached within ${timeoutMs} ms${lastError ? `: ${lastError}` : ''} (set REDIS_URL)`)), timeoutMs).unref(),
  );
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), timer]);
  } catch (e) {
    redis.disconnect();
    throw e instanceof Error && e.message.startsWith('Redis at') ? e : new Error(`Redis at ${safeUrl} cannot be reached: ${(e as Error).message} (set REDIS_URL)`);
  }
  return redis;
}

/** Deletes every key under `prefix` (SCAN, never KEYS): for tests and benches that own a prefix. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}
