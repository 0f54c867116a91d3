/**
 * The /phone page and its TURN credentials endpoint on a real gateway process: the bundle is
 * served whole from the gateway (nothing from another site), credentials are issued only for the
 * right SIP password and verify under the TURN secret, guessing is refused per address and per
 * username, and the password never reaches the log.
 */
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { startGatewayProcess, type GatewayProcess } from '../security/gateway-process';
import { newAccount, newUser, type User } from '../calls/support';
import { startTestApp, type TestApp } from '../support/app';

const TURN_SECRET = 'phone-test-turn-secret-0123456789';
const TTL = 900;
const TURN_URLS = 'turn:turn.gateway.test:3478?transport=udp,turn:turn.gateway.test:3478?transport=tcp,stun:stun.gateway.test:3478';

/** POST /phone/turn-credentials from a chosen loopback source address (the rate limits are per address). */
function askCredentials(gw: GatewayProcess, body: unknown, from = '127.0.0.1'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((ok, fail) => {
    const req = request(
      { host: '127.0.0.1', port: gw.httpPort, path: '/phone/turn-credentials', method: 'POST', localAddress: from, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', fail);
    req.end(data);
  });
}

describe('/phone and POST /phone/turn-credentials (gateway process)', () => {
  let gw: GatewayProcess;
  let user: User;

  beforeAll(async () => {
    gw = await startGatewayProcess({
      rtpMin: 54900,
      rtpMax: 54998,
      env: { TURN_URLS, TURN_SECRET, TURN_TTL_SECONDS: String(TTL), SIP_AUTH_FAIL_LIMIT: '4', SIP_AUTH_FAIL_USER_LIMIT: '6', SIP_AUTH_FAIL_WINDOW_SECONDS: '60', SIP_AUTH_BLOCK_SECONDS: '60' },
    });
    const calls = gw.asCallsGateway();
    user = await newUser(calls, await newAccount(calls));
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
  });

  it('serves the bundled page with its script and styles from the gateway itself, under a strict CSP', async () => {
    const page = await fetch(`http://127.0.0.1:${gw.httpPort}/phone`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<label for="username">Username</label>');
    expect(html).toContain('aria-live="polite"');
    // Every src/href is a path on this gateway: no CDN, no web font.
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(['/phone/app.css', '/phone/app.js']);
    const js = await fetch(`http://127.0.0.1:${gw.httpPort}/phone/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const code = await js.text();
    expect(code).toContain('JsSIP');
    expect(code).not.toMatch(/@import|fonts\.googleapis|cdn\.|unpkg|jsdelivr/);
    const css = await (await fetch(`http://127.0.0.1:${gw.httpPort}/phone/app.css`)).text();
    expect(css).not.toMatch(/url\(\s*['"]?https?:|@import/);
    expect((await fetch(`http://127.0.0.1:${gw.httpPort}/phone/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${gw.httpPort}/phone/main.ts`)).status).toBe(404);
  });

  it('gives the right SIP password TURN credentials that verify under the shared secret, and STUN without any', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await askCredentials(gw, { username: user.username, password: user.password });
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const [stun, turn] = r.json.iceServers as { urls: string[]; username?: string; credential?: string }[];
    expect(stun).toEqual({ urls: ['stun:stun.gateway.test:3478'] });
    expect(turn.urls).toEqual(['turn:turn.gateway.test:3478?transport=udp', 'turn:turn.gateway.test:3478?transport=tcp']);
    const [expiry, name] = turn.username!.split(':');
    expect(name).toBe(user.username);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + TTL);
    expect(Number(expiry)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + TTL);
    expect(r.json.expiresAt).toBe(Number(expiry));
    expect(turn.credential).toBe(createHmac('sha1', TURN_SECRET).update(turn.username!).digest('base64'));
  });

  it('refuses a wrong password and an unknown user alike (401 naming the field), and never logs a password', async () => {
    const wrong = await askCredentials(gw, { username: user.username, password: 'not-the-password-1' }, '127.0.0.21');
    const unknown = await askCredentials(gw, { username: `${user.username}x`, password: 'not-the-password-2' }, '127.0.0.21');
    for (const r of [wrong, unknown]) {
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ status: 401, detail: 'wrong username or password', errors: [{ field: 'password' }] });
      expect(r.json.iceServers).toBeUndefined();
    }
    const log = gw.log();
    expect(log).toContain('phone login failed');
    expect(log).not.toContain('not-the-password-1');
    expect(log).not.toContain('not-the-password-2');
    expect(log).not.toContain(user.password);
    expect(log).not.toContain(TURN_SECRET);
  });

  it('refuses a disabled user with 403', async () => {
    const calls = gw.asCallsGateway();
    const other = await newUser(calls, user.accountId);
    await gw.t.http().patch(`/v1/users/${other.id}`).send({ status: 'disabled' }).expect(200);
    const r = await askCredentials(gw, { username: other.username, password: other.password }, '127.0.0.22');
    expect(r.status).toBe(403);
  });

  it('blocks an address that keeps guessing, even when it then has the right password (429 with Retry-After)', async () => {
    const from = '127.0.0.23';
    const calls = gw.asCallsGateway();
    const victim = await newUser(calls, user.accountId);
    for (let i = 0; i < 4; i++) expect((await askCredentials(gw, { username: victim.username, password: `guess-${i}-xxxx` }, from)).status).toBe(401);
    const blocked = await askCredentials(gw, { username: victim.username, password: victim.password }, from);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.json.iceServers).toBeUndefined();
    // Another address with the right password is not affected by this address's block.
    expect((await askCredentials(gw, { username: victim.username, password: victim.password }, '127.0.0.24')).status).toBe(200);
  });

  it('refuses a username guessed at from many addresses, whatever the address', async () => {
    const calls = gw.asCallsGateway();
    const victim = await newUser(calls, user.accountId);
    for (let i = 0; i < 6; i++) expect((await askCredentials(gw, { username: victim.username, password: `spread-${i}-xxxx` }, `127.0.1.${10 + i}`)).status).toBe(401);
    const r = await askCredentials(gw, { username: victim.username, password: 'spread-next-xxxx' }, '127.0.1.30');
    expect(r.status).toBe(429);
  });

  it('answers hostile bodies with 400 naming the field, and the same process still answers', async () => {
    const missing = await askCredentials(gw, { username: user.username }, '127.0.0.25');
    expect(missing.status).toBe(400);
    expect(missing.json.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'password' })]));
    const extra = await askCredentials(gw, { username: user.username, password: user.password, admin: true }, '127.0.0.25');
    expect(extra.status).toBe(400);
    const long = await askCredentials(gw, { username: 'u'.repeat(5000), password: 'p'.repeat(100_000) }, '127.0.0.25');
    expect(long.status).toBe(400);
    expect(long.json.errors.map((e: { field: string }) => e.field).sort()).toEqual(['password', 'username']);
    const broken = await askCredentials(gw, '{"username":', '127.0.0.25');
    expect(broken.status).toBe(400);
    const typed = await askCredentials(gw, { username: ['a'], password: { $ne: null } }, '127.0.0.25');
    expect(typed.status).toBe(400);
    await gw.expectAlive();
  });
});

describe('POST /phone/turn-credentials without TURN configured', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('returns no ICE server at all, so the page waits on none', async () => {
    const account = await t.http().post('/v1/accounts').send({ name: 'phone-no-turn', currency: 'USD' }).expect(201);
    const username = `nt${Date.now().toString(36)}`;
    await t.http().post('/v1/users').send({ username, password: 'no-turn-password', accountId: account.body.id }).expect(201);
    const r = await t.http(null).post('/phone/turn-credentials').send({ username, password: 'no-turn-password' }).expect(200);
    expect(r.body).toEqual({ iceServers: [] });
  });
});
