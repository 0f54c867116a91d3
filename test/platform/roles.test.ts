/**
 * ROLES does what it says (issue 15, part 2; docs/scaling.md "Roles"), checked on real gateway
 * processes (dist/src/main.js) with their own Redis prefixes: an `api` node serves REST and binds no
 * SIP listener (nothing in `ss`, an OPTIONS gets no answer) and runs no rating worker; a `sip,media`
 * node takes SIP but answers REST with 404 while /health and /metrics still answer; a `worker` node
 * runs the rating workers (the check the other two pass is one that can fail); `sip` without a
 * media engine refuses to start with the config line.
 */
import { execFileSync } from 'node:child_process';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { bullPrefix, CDR_QUEUE } from '../../src/billing/billing-queues';
import { loadConfig } from '../../src/platform/config';
import { REDIS_URL } from '../support/env';
import { eventually } from '../support/net';
import { type GatewayProcess, optionsProbe, startGatewayProcess } from '../security/gateway-process';

const prefixOf = (name: string) => `${process.env.GW_TEST_REDIS_PREFIX ?? 'gwtest'}-roles-${name}`;

/** Rating workers registered on this prefix's cdr-rating queue (BullMQ names its worker connections). */
async function ratingWorkers(prefix: string): Promise<number> {
  const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(CDR_QUEUE, { connection, prefix: bullPrefix(loadConfig({ REDIS_PREFIX: prefix })) });
  try {
    return (await queue.getWorkers()).length;
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Whether anything listens on (or, for UDP, is bound to) a port from `port` to `upTo`, on any address, as the kernel says. */
function listens(port: number, upTo = port): boolean {
  const out = execFileSync('ss', ['-H', '-lnut'], { encoding: 'utf8' });
  return out.split('\n').some((l) => {
    const local = l.split(/\s+/)[4] ?? '';
    const p = Number(local.slice(local.lastIndexOf(':') + 1));
    return p >= port && p <= upTo;
  });
}

describe('ROLES', () => {
  const running: GatewayProcess[] = [];
  afterAll(async () => {
    for (const p of running) await p.stop();
  });
  const start = async (roles: string, rtpMin: number, env: Record<string, string> = {}) => {
    const p = await startGatewayProcess({ rtpMin, rtpMax: rtpMin + 98, env: { ROLES: roles, REDIS_PREFIX: prefixOf(roles.replace(/,/g, '-')), ...env } });
    running.push(p);
    return p;
  };

  it('api alone: REST answers; no SIP listener on UDP or TCP, OPTIONS gets nothing, no media port bound; no rating worker', async () => {
    const p = await start('api', 55600);
    await p.t.http().get('/v1/accounts').expect(200);
    expect(p.log()).not.toContain('"SIP listening"');
    expect(listens(p.sipPort)).toBe(false);
    expect(await optionsProbe(p.sipPort, 1000)).toBeUndefined();
    expect(listens(p.rtpMin, p.rtpMax)).toBe(false);
    expect(await ratingWorkers(prefixOf('api'))).toBe(0);
    expect(p.logLines().find((l) => l.msg === 'gateway ready')).toMatchObject({ roles: ['api'] });
  });

  it('sip,media: SIP answers; REST is a 404 problem naming the roles, /health and /metrics still answer; no rating worker', async () => {
    const p = await start('sip,media', 55700);
    expect(listens(p.sipPort)).toBe(true);
    expect(await optionsProbe(p.sipPort)).toBe(200);
    const rest = await p.t.http().get('/v1/accounts').expect(404);
    expect(rest.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(rest.body.detail).toMatch(/ROLES=sip,media: the REST API and web pages are served by nodes with the api role/);
    await p.t.http(null).get('/docs').expect(404);
    await p.t.http(null).get('/health/live').expect(200);
    await p.t.http(null).get('/health/ready').expect(200);
    expect((await p.t.http(null).get('/metrics').expect(200)).text).toContain('process_cpu_user_seconds_total');
    expect(await ratingWorkers(prefixOf('sip-media'))).toBe(0);
  });

  it('worker alone: the rating workers run (what the api and sip nodes were checked for)', async () => {
    const p = await start('worker', 55800);
    expect(listens(p.sipPort)).toBe(false);
    await p.t.http().get('/v1/accounts').expect(404);
    expect(await eventually(async () => ((await ratingWorkers(prefixOf('worker'))) > 0 ? true : undefined), 10_000)).toBe(true);
  });

  it('sip without media and without MEDIA_ENGINE=rtpengine refuses to start with the config line', async () => {
    await expect(start('api,sip', 55900)).rejects.toThrow(/exited with 1 during start-up:[\s\S]*config error: ROLES: expected media beside sip/);
  });
});
