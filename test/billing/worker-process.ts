/** Runs the compiled billing worker (dist/src/billing/worker-main.js) as a child process for fault tests. */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import IORedis from 'ioredis';
import { bullPrefix } from '../../src/billing/billing-queues';
import { ADMIN_KEY, REDIS_URL, SECRETS_KEY } from '../support/env';

const ENTRY = resolve(__dirname, '../../dist/src/billing/worker-main.js');

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a worker and resolves once it says it is consuming (bounded: 30 s). */
export async function startWorker(): Promise<WorkerProcess> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: build first (npx tsc -p tsconfig.build.json; npm test does it)`);
  const child = spawn(process.execPath, [ENTRY], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      DATABASE_URL: process.env.GW_TEST_DATABASE_URL,
      REDIS_URL,
      REDIS_PREFIX: process.env.GW_TEST_REDIS_PREFIX,
      ADMIN_API_KEY: ADMIN_KEY,
      SECRETS_KEY,
      LOG_LEVEL: 'warn',
      ROLES: 'worker',
      DB_MIGRATE_ON_START: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`billing worker not ready in 30 s:\n${out}`)), 30_000);
    const check = () => {
      if (out.includes('billing worker ready')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`billing worker exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Deletes this run's keys of one BullMQ queue (never FLUSHALL: other runs share this Redis). */
export async function deleteQueueKeys(queue: string): Promise<number> {
  const redis = new IORedis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${bullPrefix({ redisPrefix: process.env.GW_TEST_REDIS_PREFIX ?? '' })}:${queue}:*`, 'COUNT', 1000);
      if (keys.length) n += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return n;
}
