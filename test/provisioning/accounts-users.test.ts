import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { startTestApp, TestApp, unique } from '../support/app';

describe('accounts', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('creates an account with defaults and money as decimal strings', async () => {
    const r = await t.http().post('/v1/accounts').send({ name: 'Acme', currency: 'JPY', creditLimit: '12.5' }).expect(201);
    expect(r.body).toMatchObject({ name: 'Acme', currency: 'JPY', balance: '0.000000', creditLimit: '12.500000', maxConcurrentCalls: null, rateDeckId: null, status: 'active' });
    expect(r.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await t.http().get(`/v1/accounts/${r.body.id}`).expect(200, r.body);
  });

  it('names each bad field: currency, negative limits, floats for money, unknown and read-only fields', async () => {
    const r = await t
      .http()
      .post('/v1/accounts')
      .send({ name: 'x', currency: 'usd', creditLimit: 1.5, maxConcurrentCalls: -1, balance: '100', status: 'closed' })
      .expect(400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['balance', 'creditLimit', 'currency', 'maxConcurrentCalls', 'status']);
  });

  it('updates, filters by status, and pages with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await t.http().post('/v1/accounts').send({ name: unique('page'), currency: 'USD' }).expect(201)).body.id);
    const patched = await t.http().patch(`/v1/accounts/${ids[0]}`).send({ status: 'suspended', maxConcurrentCalls: 5 }).expect(200);
    expect(patched.body).toMatchObject({ status: 'suspended', maxConcurrentCalls: 5 });
    const suspended = await t.http().get('/v1/accounts?status=suspended&limit=1000').expect(200);
    expect(suspended.body.data.map((a: { id: string }) => a.id)).toContain(ids[0]);
    expect(suspended.body.data.every((a: { status: string }) => a.status === 'suspended')).toBe(true);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { id: string }[]; nextCursor: string | null } } = await t
        .http()
        .get(`/v1/accounts?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .expect(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((a) => a.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);
    await t.http().get('/v1/accounts?cursor=!!!').expect(400);
    await t.http().get('/v1/accounts?limit=1001').expect(400);
  });

  it('answers 404 for an unknown account and 400 for a malformed id', async () => {
    await t.http().get('/v1/accounts/0190a000-0000-7000-8000-000000000000').expect(404);
    await t.http().patch('/v1/accounts/0190a000-0000-7000-8000-000000000000').send({ name: 'x' }).expect(404);
    const r = await t.http().get('/v1/accounts/123').expect(400);
    expect(r.body.errors[0].field).toBe('id');
  });

  it('refuses to delete an account that still has users (409), then deletes it', async () => {
    const acc = (await t.http().post('/v1/accounts').send({ name: 'del', currency: 'USD' }).expect(201)).body;
    const user = (await t.http().post('/v1/users').send({ username: unique('u'), password: 'secret-pass', accountId: acc.id }).expect(201)).body;
    const r = await t.http().delete(`/v1/accounts/${acc.id}`).expect(409);
    expect(r.body.detail).toContain('still has 1 user');
    await t.http().delete(`/v1/users/${user.id}`).expect(204);
    await t.http().delete(`/v1/accounts/${acc.id}`).expect(204);
    await t.http().get(`/v1/accounts/${acc.id}`).expect(404);
  });
});

describe('users', () => {
  let t: TestApp;
  let accountId: string;
  beforeAll(async () => {
    t = await startTestApp();
    accountId = (await t.http().post('/v1/accounts').send({ name: 'users', currency: 'USD' }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  it('stores the password only as digest HA1 (MD5 and SHA-256) for the configured realm', async () => {
    const username = unique('alice');
    const r = await t.http().post('/v1/users').send({ username, password: 'correct horse', displayName: 'Alice', accountId }).expect(201);
    expect(r.body).toMatchObject({ username, displayName: 'Alice', accountId, status: 'active', sipUri: `sip:${username}@127.0.0.1`, realm: 'gateway.test' });
    // The URI names the host phones reach (SIP_LISTEN's 127.0.0.1 here), never the realm, which nothing can dial.
    expect(r.body).not.toHaveProperty('password');
    expect(JSON.stringify(r.body)).not.toMatch(/ha1/i);
    const [row] = await t.app.get(DataSource).query('SELECT * FROM users WHERE id = $1', [r.body.id]);
    expect(JSON.stringify(row)).not.toContain('correct horse');
    expect(row.realm).toBe('gateway.test');
    expect(row.ha1_md5).toBe(createHash('md5').update(`${username}:gateway.test:correct horse`).digest('hex'));
    expect(row.ha1_sha256).toBe(createHash('sha256').update(`${username}:gateway.test:correct horse`).digest('hex'));
  });

  it('refuses a duplicate username with 409 naming the field', async () => {
    const username = unique('dup');
    await t.http().post('/v1/users').send({ username, password: 'password1', accountId }).expect(201);
    const r = await t.http().post('/v1/users').send({ username, password: 'password2', accountId }).expect(409);
    expect(r.body.errors).toEqual([{ field: 'username', message: `username ${username} is taken` }]);
  });

  it('names every bad field, and 422 for an account that does not exist', async () => {
    const r = await t.http().post('/v1/users').send({ username: 'has space', password: 'short', accountId: 'nope' }).expect(400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['accountId', 'password', 'username']);
    const missing = await t.http().post('/v1/users').send({ username: unique('x'), password: 'long enough', accountId: '0190a000-0000-7000-8000-000000000000' }).expect(422);
    expect(missing.body.errors).toEqual([{ field: 'accountId', message: 'no such account' }]);
  });

  it('recomputes HA1 on a password change and requires the password to rename', async () => {
    const username = unique('bob');
    const u = (await t.http().post('/v1/users').send({ username, password: 'first-pass', accountId }).expect(201)).body;
    const rename = await t.http().patch(`/v1/users/${u.id}`).send({ username: unique('bob2') }).expect(400);
    expect(rename.body.errors[0].field).toBe('password');
    const renamed = unique('bob3');
    await t.http().patch(`/v1/users/${u.id}`).send({ username: renamed, password: 'second-pass', status: 'disabled' }).expect(200);
    const [row] = await t.app.get(DataSource).query('SELECT * FROM users WHERE id = $1', [u.id]);
    expect(row.ha1_md5).toBe(createHash('md5').update(`${renamed}:gateway.test:second-pass`).digest('hex'));
    expect(row.status).toBe('disabled');
  });

  it('lists with filters and answers 404 for an unknown user', async () => {
    const username = unique('carol');
    const u = (await t.http().post('/v1/users').send({ username, password: 'password!', accountId }).expect(201)).body;
    const r = await t.http().get(`/v1/users?username=${username}`).expect(200);
    expect(r.body).toEqual({ data: [u], nextCursor: null });
    await t.http().get('/v1/users/0190a000-0000-7000-8000-000000000000').expect(404);
    await t.http().delete('/v1/users/0190a000-0000-7000-8000-000000000000').expect(404);
  });
});
