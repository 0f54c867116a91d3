/**
 * Two gateway processes sharing PostgreSQL and Redis: a change made through one process's API is
 * applied by the other within one second (cache invalidation through Redis pub/sub).
 * The second process is the real build (`node dist/src/main.js`): `npm test` builds first.
 */
import { Gateway, startGateway } from '../../bench/harness';
import { startTestApp, TestApp, unique } from '../support/app';
import { ADMIN_KEY, REDIS_URL, SECRETS_KEY } from '../support/env';
import { enc, entryBody, uniqueTollFree } from './support';

describe('toll-free changes across gateway processes', () => {
  let a: TestApp;
  let b: Gateway & { url: string };
  let accountId: string;

  beforeAll(async () => {
    a = await startTestApp();
    // The real build as the second process, with this run's database, Redis prefix and keys.
    const gw = await startGateway(process.env.GW_TEST_DATABASE_URL!, {
      REDIS_URL,
      REDIS_PREFIX: process.env.GW_TEST_REDIS_PREFIX!,
      ADMIN_API_KEY: ADMIN_KEY,
      SECRETS_KEY,
      DEFAULT_COUNTRY: 'US',
    });
    b = Object.assign(gw, { url: `http://127.0.0.1:${gw.httpPort}` });
    accountId = (await a.http().post('/v1/accounts').send({ name: unique('tf2'), currency: 'USD' }).expect(201)).body.id;
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
    await a?.close();
  }, 30_000);

  const translateOnB = async (e164: string) => {
    const r = await fetch(`${b.url}/v1/tollfree/${enc(e164)}/translate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ caller: '+13125550123', callId: 'two-processes' }),
    });
    return { status: r.status, body: (await r.json()) as { target?: string; version?: number } };
  };

  /** Polls process B every 50 ms for up to 1 s; answers what it saw last and whether `want` held. */
  const seenOnBWithinOneSecond = async (e164: string, want: (r: { status: number; body: { target?: string } }) => boolean) => {
    const until = Date.now() + 1000;
    let last = await translateOnB(e164);
    while (!want(last) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      last = await translateOnB(e164);
    }
    return { applied: want(last), last };
  };

  it('applies a PUT, a create and a delete made through process A in process B within one second', async () => {
    const e164 = uniqueTollFree();
    // B learns that the number is not toll-free yet (and caches that).
    expect((await translateOnB(e164)).status).toBe(404);
    await a.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(201);
    const created = await seenOnBWithinOneSecond(e164, (r) => r.status === 200 && r.body.target === '+12125550100');
    expect(created).toMatchObject({ applied: true, last: { body: { version: 1 } } });

    // B has version 1 cached now; A changes the default target.
    expect((await translateOnB(e164)).body.target).toBe('+12125550100');
    await a
      .http()
      .put(`/v1/tollfree/${enc(e164)}`)
      .send({ accountId, timezone: 'America/New_York', defaultTarget: '+13125550102' })
      .expect(200);
    const updated = await seenOnBWithinOneSecond(e164, (r) => r.body.target === '+13125550102');
    expect(updated).toMatchObject({ applied: true, last: { status: 200, body: { version: 2 } } });

    await a.http().delete(`/v1/tollfree/${enc(e164)}`).expect(204);
    const deleted = await seenOnBWithinOneSecond(e164, (r) => r.status === 404);
    expect(deleted.applied).toBe(true);
  });

  it('applies a change made through process B in process A within one second', async () => {
    const e164 = uniqueTollFree();
    await a.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(201);
    const viaA = () => a.http().post(`/v1/tollfree/${enc(e164)}/translate`).send({ caller: null });
    expect((await viaA().expect(200)).body.target).toBe('+12125550100'); // cached in A
    const r = await fetch(`${b.url}/v1/tollfree/${enc(e164)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ accountId, timezone: 'UTC', defaultTarget: '+81312345678' }),
    });
    expect(r.status).toBe(200);
    const until = Date.now() + 1000;
    let target = (await viaA()).body.target;
    while (target !== '+81312345678' && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 50));
      target = (await viaA()).body.target;
    }
    expect(target).toBe('+81312345678');
  });
});
