/**
 * The console's login session over HTTP (in-process gateway, real PostgreSQL and Redis): the cookie
 * is an opaque id (never the key), HttpOnly and SameSite=Strict, Secure only over TLS or from a
 * trusted proxy; it stands for the key's role on /v1; changes need the CSRF header and a same-host
 * Origin; logout and key revocation end it; a forged or foreign cookie is refused.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { startTestApp, TestApp, unique } from '../support/app';
import { ADMIN_KEY, REDIS_URL } from '../support/env';

describe('console sessions', () => {
  let t: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    t = await startTestApp();
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.close();
  });

  const login = (apiKey: string, headers: Record<string, string> = { 'X-Console-Request': '1' }) => t.http(null).post('/console/session').set(headers).send({ apiKey });
  const cookieOf = (res: { headers: Record<string, unknown> }) => String((res.headers['set-cookie'] as string[])[0]);
  const idOf = (setCookie: string) => /^gw_console=([^;]*)/.exec(setCookie)![1];

  async function operatorKey(): Promise<{ id: string; secret: string }> {
    const r = await t.http().post('/v1/api-keys').send({ name: unique('console'), role: 'operator' }).expect(201);
    return { id: r.body.id as string, secret: r.body.secret as string };
  }

  it('logs in into an opaque HttpOnly SameSite=Strict cookie that stands for the key and its role', async () => {
    const key = await operatorKey();
    const res = await login(key.secret).expect(201);
    expect(res.body).toMatchObject({ role: 'operator', keyId: key.id });
    const setCookie = cookieOf(res);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Secure/);
    const id = idOf(setCookie);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(setCookie).not.toContain(key.secret);
    // Redis keeps neither the id nor the key: the id's hash names the entry, the key's hash is inside.
    const stored = await redis.get(`${t.config.redisPrefix}:console:session:${createHash('sha256').update(id).digest('hex')}`);
    expect(stored).toContain(createHash('sha256').update(key.secret).digest('hex'));
    expect(stored).not.toContain(key.secret);
    expect(await redis.ttl(`${t.config.redisPrefix}:console:session:${createHash('sha256').update(id).digest('hex')}`)).toBeGreaterThan(28000);

    const cookie = `gw_console=${id}`;
    await t.http(null).get('/v1/overview').set('Cookie', cookie).expect(200);
    expect((await t.http(null).get('/console/session').set('Cookie', cookie).expect(200)).body).toEqual({ role: 'operator', keyId: key.id });
    // Roles apply as with the key: the operator may not list API keys (admin only).
    const refused = await t.http(null).get('/v1/api-keys').set('Cookie', cookie).expect(403);
    expect(refused.body.detail).toMatch(/the operator role may not do this/);
  });

  it('refuses a wrong key at its field, and a login without the CSRF header', async () => {
    const wrong = await login('gwk_wrong').expect(401);
    expect(wrong.body.errors).toEqual([{ field: 'apiKey', message: 'unknown or revoked API key' }]);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const empty = await login('').expect(400);
    expect(empty.body.errors).toEqual([{ field: 'apiKey', message: 'expected an API key' }]);
    const key = await operatorKey();
    const noHeader = await login(key.secret, {}).expect(403);
    expect(noHeader.body.detail).toMatch(/x-console-request: 1/);
  });

  it('needs the CSRF header and a same-host Origin on changes made with the cookie', async () => {
    const key = await operatorKey();
    const cookie = `gw_console=${idOf(cookieOf(await login(key.secret).expect(201)))}`;
    const deck = { name: unique('deck'), currency: 'USD' };
    const bare = await t.http(null).post('/v1/rate-decks').set('Cookie', cookie).send(deck).expect(403);
    expect(bare.body.detail).toMatch(/x-console-request: 1/);
    const host = '127.0.0.1:3999';
    const cross = await t.http(null).post('/v1/rate-decks').set({ Cookie: cookie, 'X-Console-Request': '1', Host: host, Origin: 'https://evil.example' }).send(deck).expect(403);
    expect(cross.body.detail).toMatch(/cross-origin request refused \(Origin https:\/\/evil\.example\)/);
    await t.http(null).post('/v1/rate-decks').set({ Cookie: cookie, 'X-Console-Request': '1', Host: host, Origin: `http://${host}` }).send(deck).expect(201);
    // Reads need neither.
    await t.http(null).get('/v1/rate-decks').set('Cookie', cookie).expect(200);
  });

  it('ends at logout, and when its key is revoked', async () => {
    const key = await operatorKey();
    const cookie = `gw_console=${idOf(cookieOf(await login(key.secret).expect(201)))}`;
    const out = await t.http(null).delete('/console/session').set({ Cookie: cookie, 'X-Console-Request': '1' }).expect(204);
    expect(cookieOf(out)).toMatch(/^gw_console=; Max-Age=0/);
    const ended = await t.http(null).get('/v1/overview').set('Cookie', cookie).expect(401);
    expect(ended.body.detail).toBe('the console session has ended; log in again');

    const other = await operatorKey();
    const second = `gw_console=${idOf(cookieOf(await login(other.secret).expect(201)))}`;
    await t.http(null).get('/v1/overview').set('Cookie', second).expect(200);
    await t.http().delete(`/v1/api-keys/${other.id}`).expect(204);
    await t.http(null).get('/v1/overview').set('Cookie', second).expect(401);
  });

  it('ignores a forged or malformed cookie, and a Bearer key still wins over a cookie', async () => {
    await t.http(null).get('/v1/overview').set('Cookie', `gw_console=${'A'.repeat(43)}`).expect(401);
    const odd = await t.http(null).get('/v1/overview').set('Cookie', 'gw_console=../../etc; other=1').expect(401);
    expect(odd.body.detail).toBe('an Authorization: Bearer <api key> header is required');
    await t.http().get('/v1/overview').set('Cookie', `gw_console=${'A'.repeat(43)}`).expect(200);
  });

  it('sets Secure behind a trusted TLS proxy (X-Forwarded-Proto from loopback) and opens /admin/queues only for an admin session', async () => {
    const key = await operatorKey();
    const res = await login(key.secret, { 'X-Console-Request': '1', 'X-Forwarded-Proto': 'https' }).expect(201);
    expect(cookieOf(res)).toMatch(/; Secure/);
    const cookie = `gw_console=${idOf(cookieOf(res))}`;
    const queues = await t.http(null).get('/admin/queues').set('Cookie', cookie).expect(403);
    expect(queues.body.detail).toMatch(/allowed: admin/);
    const admin = `gw_console=${idOf(cookieOf(await login(ADMIN_KEY).expect(201)))}`;
    const page = await t.http(null).get('/admin/queues').set('Cookie', admin).expect(200);
    expect(page.text).not.toMatch(/fonts\.googleapis\.com/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    // bull-board's own changes carry no CSRF header: with a cookie they need this host's Origin.
    await t.http(null).put('/admin/queues/api/queues/cdr-rating/retry/failed').set({ Cookie: admin, Host: '127.0.0.1:3999', Origin: 'https://evil.example' }).expect(403);
  });
});
