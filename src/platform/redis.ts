/**
 * The Redis connection shared by the registrar, call counters, caches and BullMQ.
 * `connectRedis` checks reachability at start so a wrong REDIS_URL fails with one clear line;
 * `inspectRedis` and `redisVerdict` check what production needs of it (no eviction of holds and
 * bindings, persistence) and tell main.ts what to log or refuse.
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

/** What start-up reads of Redis's settings; a field is absent when Redis would not say (managed Redis often disables CONFIG). */
export interface RedisSettings {
  version?: string;
  maxmemoryPolicy?: string;
  maxmemory?: string;
  /** The RDB snapshot schedule (`save`), '' when snapshots are off. */
  save?: string;
  aofEnabled?: boolean;
  /** rdb_last_save_time, as ISO-8601. */
  rdbLastSave?: string;
  rdbLastBgsaveStatus?: string;
  /** Why CONFIG GET failed (e.g. the command is renamed or not permitted). */
  configError?: string;
  infoError?: string;
}

/** Reads the eviction policy and persistence: CONFIG GET where allowed, INFO persistence/server otherwise. Never throws. */
export async function inspectRedis(redis: Redis): Promise<RedisSettings> {
  const out: RedisSettings = {};
  try {
    const pairs = (await redis.call('CONFIG', 'GET', 'maxmemory*')) as string[];
    const saved = (await redis.call('CONFIG', 'GET', 'save')) as string[];
    const map = new Map<string, string>();
    for (const list of [pairs, saved]) for (let i = 0; i + 1 < list.length; i += 2) map.set(list[i], list[i + 1]);
    out.maxmemoryPolicy = map.get('maxmemory-policy');
    out.maxmemory = map.get('maxmemory');
    out.save = map.get('save');
  } catch (e) {
    out.configError = (e as Error).message;
  }
  try {
    const info = parseInfo(`${await redis.info('persistence')}\n${await redis.info('server')}`);
    out.version = info.get('redis_version');
    if (info.has('aof_enabled')) out.aofEnabled = info.get('aof_enabled') === '1';
    const last = Number(info.get('rdb_last_save_time'));
    if (last > 0) out.rdbLastSave = new Date(last * 1000).toISOString();
    out.rdbLastBgsaveStatus = info.get('rdb_last_bgsave_status');
  } catch (e) {
    out.infoError = (e as Error).message;
  }
  return out;
}

function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

/** What a persistence loss costs the gateway: said in the warning so an operator can weigh it. */
const LOSS =
  'a Redis restart loses registrations (phones are unreachable until they register again), credit holds (nodes re-assert their live calls\' holds; authorisations wait for the recovery window), trunk channel counts and queued rating jobs (the sweep re-queues pending CDRs from PostgreSQL within minutes)';

/**
 * The start-up decision on Redis's settings: a refusal (one line, main.ts exits with it) for an
 * `allkeys-*` eviction policy, which may evict credit holds and registrations under memory
 * pressure; warnings for `volatile-*` (those keys carry TTLs, so they are the ones evicted), for no
 * persistence, and for settings that could not be read (managed Redis: not a refusal).
 */
export function redisVerdict(s: RedisSettings): { refusal?: string; warnings: string[] } {
  const warnings: string[] = [];
  const policy = s.maxmemoryPolicy;
  if (policy?.startsWith('allkeys-')) {
    return {
      refusal: `Redis maxmemory-policy is ${policy}: it may evict credit holds, registrations and queued CDR jobs under memory pressure; set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)`,
      warnings,
    };
  }
  if (policy?.startsWith('volatile-')) warnings.push(`Redis maxmemory-policy is ${policy}: under memory pressure it evicts keys with a TTL, which are the gateway's credit holds, registrations and nonces; noeviction is recommended`);
  if (policy === undefined) warnings.push(`Redis maxmemory-policy could not be read${s.configError ? ` (CONFIG GET: ${s.configError})` : ''}: make sure it is noeviction (managed Redis: the provider's eviction setting); allkeys-* would evict credit holds and registrations`);
  const rdb = s.save === undefined ? undefined : s.save.trim() !== '';
  if (s.aofEnabled === false && rdb === false) warnings.push(`Redis keeps no persistence (appendonly no, save ""): ${LOSS}`);
  else if (s.aofEnabled === undefined || (s.aofEnabled === false && rdb === undefined)) warnings.push(`Redis persistence could not be confirmed (AOF ${s.aofEnabled === undefined ? 'unknown' : 'off'}, RDB schedule unknown): without it, ${LOSS}`);
  else if (s.aofEnabled === false) warnings.push(`Redis persists by RDB snapshots only (save "${s.save}"): a crash loses what changed since the last snapshot${s.rdbLastSave ? ` (last ${s.rdbLastSave})` : ''}: ${LOSS}`);
  return { warnings };
}
