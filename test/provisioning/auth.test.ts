import { DataSource } from 'typeorm';
import { startTestApp, TestApp, unique } from '../support/app';

describe('API keys and roles', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('refuses a request without a key with 401 problem details', async () => {
    const r = await t.http(null).get('/v1/accounts').expect(401);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 401, title: 'Authentication required', errors: [] });
  });

  it('refuses an unknown key and a malformed header with 401', async () => {
    await t.http('gwk_not-a-real-key').get('/v1/accounts').expect(401);
    await t.http(null).get('/v1/accounts').set('Authorization', 'Basic abc').expect(401);
  });

  it('shows the secret only in the answer that creates the key, and stores only a hash', async () => {
    const created = await t.http().post('/v1/api-keys').send({ name: unique('ops'), role: 'operator' }).expect(201);
    expect(created.body.secret).toMatch(/^gwk_[A-Za-z0-9_-]{43}$/);
    expect(created.body.prefix).toBe(created.body.secret.slice(0, 12));
    const list = await t.http().get('/v1/api-keys?limit=1000').expect(200);
    const listed = list.body.data.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toBeDefined();
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    const stored = await t.app.get(DataSource).query('SELECT * FROM api_keys WHERE id = $1', [created.body.id]);
    expect(JSON.stringify(stored)).not.toContain(created.body.secret);
    expect(stored[0].secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lets each role do its own work and answers 403 otherwise', async () => {
    const operator = (await t.http().post('/v1/api-keys').send({ name: unique('op'), role: 'operator' }).expect(201)).body.secret;
    const billing = (await t.http().post('/v1/api-keys').send({ name: unique('bill'), role: 'billing' }).expect(201)).body.secret;
    const acc = await t.http(operator).post('/v1/accounts').send({ name: 'by operator', currency: 'EUR' }).expect(201);
    await t.http(billing).get(`/v1/accounts/${acc.body.id}`).expect(200);
    const denied = await t.http(billing).post('/v1/accounts').send({ name: 'x', currency: 'EUR' }).expect(403);
    expect(denied.body.detail).toContain('billing role may not');
    await t.http(operator).get('/v1/api-keys').expect(403);
    await t.http(billing).post('/v1/trunks').send({ name: 'x', host: '127.0.0.1' }).expect(403);
  });

  it('revokes a key: it stops working at once, and revoking twice is 404', async () => {
    const k = (await t.http().post('/v1/api-keys').send({ name: unique('tmp'), role: 'operator' }).expect(201)).body;
    await t.http(k.secret).get('/v1/accounts').expect(200);
    await t.http().delete(`/v1/api-keys/${k.id}`).expect(204);
    await t.http(k.secret).get('/v1/accounts').expect(401);
    await t.http().delete(`/v1/api-keys/${k.id}`).expect(404);
  });

  it('a key revoked on another node is refused here once API_KEY_CACHE_SECONDS has passed', async () => {
    // A second node on the same database, trusting a verified key for 1 s.
    const other = await startTestApp({ API_KEY_CACHE_SECONDS: '1' });
    try {
      const k = (await t.http().post('/v1/api-keys').send({ name: unique('two'), role: 'operator' }).expect(201)).body;
      await other.http(k.secret).get('/v1/accounts').expect(200); // verified there, and remembered
      await t.http().delete(`/v1/api-keys/${k.id}`).expect(204); // revoked on this node
      let status = 200;
      // Bounded: the 1 s bound plus ample room for a loaded machine.
      for (let i = 0; i < 100 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await other.http(k.secret).get('/v1/accounts')).status;
      }
      expect(status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('names every bad field of a key request', async () => {
    const r = await t.http().post('/v1/api-keys').send({ name: '', role: 'root' }).expect(400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['name', 'role']);
    const bad = await t.http().delete('/v1/api-keys/not-a-uuid').expect(400);
    expect(bad.body.errors).toEqual([{ field: 'id', message: 'expected a UUID' }]);
  });

  it('answers malformed JSON with a 400 problem, not a crash', async () => {
    const r = await t.http().post('/v1/accounts').set('Content-Type', 'application/json').send('{"name": ').expect(400);
    expect(r.body.errors[0].field).toBe('body');
    await t.http(null).get('/health/live').expect(200);
  });

  it('echoes a request id, or makes one', async () => {
    const given = await t.http().get('/v1/accounts').set('X-Request-Id', 'req-abc.123').expect(200);
    expect(given.headers['x-request-id']).toBe('req-abc.123');
    const made = await t.http().get('/v1/accounts').expect(200);
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
