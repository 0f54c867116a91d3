/**
 * What a gateway process checks before it serves, each with a real counterpart: a Redis of its own
 * (redis-server on a free loopback port, started here, no persistence, killed afterwards) whose
 * eviction policy is allkeys-lru makes it exit 1 naming maxmemory-policy; one whose CONFIG command
 * is disabled, as managed Redis often does, only gets a warning; a taken HTTP port or SIP port
 * makes it exit 1 naming HTTP_PORT or SIP_LISTEN (issue 16: EADDRINUSE did not name the variable).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import IORedis from 'ioredis';
import { freePort } from '../support/net';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';

/** A throw-away redis-server on 127.0.0.1 (no RDB, no AOF), ready when it answers PING. */
async function redisServer(args: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory', '64mb', ...args], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (e) {
      if (i > 50 || proc.exitCode !== null) throw new Error(`redis-server did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.disconnect();
  return {
    url,
    stop: () =>
      new Promise<void>((ok) => {
        if (proc.exitCode !== null) return ok();
        proc.once('exit', () => ok());
        proc.kill('SIGTERM');
      }),
  };
}

describe('start-up checks', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });
  const start = async (rtpMin: number, env: Record<string, string>): Promise<GatewayProcess> => {
    const p = await startGatewayProcess({ rtpMin, rtpMax: rtpMin + 48, env: { ROLES: 'api', ...env } });
    stops.push(() => p.stop());
    return p;
  };

  it('refuses a Redis whose maxmemory-policy is allkeys-lru, with the line naming it', async () => {
    const redis = await redisServer(['--maxmemory-policy', 'allkeys-lru']);
    stops.push(redis.stop);
    await expect(start(55600, { REDIS_URL: redis.url })).rejects.toThrow(/exited with 1 during start-up:[\s\S]*start-up failed: Redis maxmemory-policy is allkeys-lru: it may evict credit holds, registrations/);
  });

  it('starts on a Redis whose CONFIG command is disabled (managed Redis), warning that the policy could not be read and that nothing persists', async () => {
    const redis = await redisServer(['--maxmemory-policy', 'noeviction', '--rename-command', 'CONFIG', '']);
    stops.push(redis.stop);
    const p = await start(55650, { REDIS_URL: redis.url });
    await p.t.http().get('/v1/accounts').expect(200);
    const warnings = p.logLines().filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^Redis maxmemory-policy could not be read \(CONFIG GET: ERR unknown command/), expect.stringMatching(/^Redis persistence could not be confirmed/)]));
    expect(p.logLines().find((l) => l.msg === 'Redis settings')).toMatchObject({ redis: { aofEnabled: false } });
  });

  it('logs the policy and warns of no persistence on a Redis with neither RDB nor AOF', async () => {
    const redis = await redisServer(['--maxmemory-policy', 'volatile-lru']);
    stops.push(redis.stop);
    const p = await start(55700, { REDIS_URL: redis.url });
    expect(p.logLines().find((l) => l.msg === 'Redis settings')).toMatchObject({ redis: { maxmemoryPolicy: 'volatile-lru', save: '', aofEnabled: false } });
    const warnings = p.logLines().filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^Redis maxmemory-policy is volatile-lru/), expect.stringMatching(/^Redis keeps no persistence \(appendonly no, save ""\): a Redis restart loses registrations/)]));
  });

  it('a taken HTTP port: exit 1 naming HTTP_PORT/HTTP_HOST', async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((ok) => holder.listen(port, '127.0.0.1', ok));
    stops.push(() => new Promise<void>((ok) => holder.close(() => ok())));
    await expect(start(55750, { HTTP_PORT: String(port) })).rejects.toThrow(
      new RegExp(`start-up failed: HTTP_PORT/HTTP_HOST: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use .*\\(EADDRINUSE\\); set HTTP_PORT or HTTP_HOST`),
    );
  });

  it('a taken SIP port: exit 1 naming SIP_LISTEN', async () => {
    const port = await freePort();
    const holder: Socket = createSocket('udp4');
    await new Promise<void>((ok) => holder.bind(port, '127.0.0.1', ok));
    stops.push(() => new Promise<void>((ok) => holder.close(() => ok())));
    await expect(start(55800, { ROLES: 'sip,media', SIP_LISTEN: `127.0.0.1:${port}` })).rejects.toThrow(
      new RegExp(`start-up failed: SIP_LISTEN: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use .*\\(EADDRINUSE\\); set SIP_LISTEN`),
    );
  });
});
