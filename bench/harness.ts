/**
 * Shared benchmark plumbing: a fresh database per bench, a real gateway child process, machine
 * facts, peak RSS from /proc, and the results file. Benchmarks talk only to 127.0.0.1.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { resolve } from 'node:path';
import { Client } from 'pg';
import IORedis from 'ioredis';
import { runMigrations } from '../src/platform/database';
import { deleteKeysWithPrefix } from '../src/platform/redis';
import { repoRoot, resultsDir } from './results-dir';

export const BASE_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef0123456789';
const SECRETS_KEY = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';

export function machine() {
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: `${os.type()} ${os.release()}` };
}

export async function freshDatabase(tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gw_bench_${tag}_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(BASE_DATABASE_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  await runMigrations(url);
  return {
    url,
    drop: async () => {
      const c = new Client({ connectionString: BASE_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export interface Gateway {
  proc: ChildProcess;
  httpPort: number;
  sipPort: number;
  /** Peak resident set size of the gateway process so far, from /proc (VmHWM), in MiB. */
  peakRssMiB(): number;
  stop(): Promise<void>;
}

/** Starts `node dist/src/main.js` (the real gateway) against `databaseUrl`; resolves when ready. */
export async function startGateway(databaseUrl: string, env: Record<string, string> = {}): Promise<Gateway> {
  // A prefix of the harness's own is deleted when the gateway stops (benches leave no keys behind).
  const ownPrefix = env.REDIS_PREFIX === undefined ? `gwbench:${process.pid}:${Date.now().toString(36)}` : undefined;
  const httpPort = await freePort();
  const sipPort = await freePort();
  // BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the gateway under load.
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, resolve(repoRoot(), 'dist/src/main.js')], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_PREFIX: ownPrefix ?? '',
      ADMIN_API_KEY: ADMIN_KEY,
      SECRETS_KEY,
      HTTP_PORT: String(httpPort),
      HTTP_HOST: '127.0.0.1',
      SIP_LISTEN: `127.0.0.1:${sipPort}`,
      // Not the default 0.0.0.0:5066: gateways started side by side would collide on it.
      SIP_WS_LISTEN: '127.0.0.1:0',
      DB_MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'warn',
      // The benchmark's peers are on 127.0.0.1; production refuses loopback media.
      MEDIA_ALLOW_LOOPBACK: 'true',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/health/ready`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('gateway did not become ready within 30 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    httpPort,
    sipPort,
    peakRssMiB: () => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : NaN;
    },
    stop: async () => {
      await new Promise<void>((ok) => {
        if (proc.exitCode !== null) return ok();
        proc.once('exit', () => ok());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      });
      if (ownPrefix) {
        const redis = new IORedis(REDIS_URL);
        await deleteKeysWithPrefix(redis, ownPrefix).finally(() => redis.disconnect());
      }
    },
  };
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  const path = resolve(resultsDir(), `${name}.json`);
  writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...result }, null, 2) + '\n');
  return path;
}
