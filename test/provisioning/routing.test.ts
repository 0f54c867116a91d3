import { DataSource } from 'typeorm';
import { startTestApp, TestApp, unique } from '../support/app';

describe('trunks', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('creates a trunk; the password is write-only and stored encrypted', async () => {
    const name = unique('carrier');
    const r = await t
      .http()
      .post('/v1/trunks')
      .send({ name, host: 'sip.carrier.example', username: 'gw', password: 'trunk-secret', inboundAddresses: ['127.0.0.1', '10.1.2.3/16', '2001:db8::/32'], maxChannels: 30 })
      .expect(201);
    expect(r.body).toMatchObject({
      name,
      host: 'sip.carrier.example',
      port: 5060,
      transport: 'udp',
      username: 'gw',
      hasPassword: true,
      inboundAddresses: ['127.0.0.1/32', '10.1.0.0/16', '2001:db8::/32'],
      maxChannels: 30,
      enabled: true,
    });
    expect(JSON.stringify(r.body)).not.toContain('trunk-secret');
    const [row] = await t.app.get(DataSource).query('SELECT password_sealed FROM trunks WHERE id = $1', [r.body.id]);
    expect(row.password_sealed).toMatch(/^v1\./);
    expect(row.password_sealed).not.toContain('trunk-secret');
    const cleared = await t.http().patch(`/v1/trunks/${r.body.id}`).send({ password: null, enabled: false }).expect(200);
    expect(cleared.body).toMatchObject({ hasPassword: false, enabled: false });
  });

  it('names every bad field', async () => {
    const r = await t
      .http()
      .post('/v1/trunks')
      .send({ name: '', host: 'sip://x', port: 70000, transport: 'sctp', inboundAddresses: ['10.0.0.1', 'nope'], maxChannels: 0 })
      .expect(400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['host', 'inboundAddresses.1', 'maxChannels', 'name', 'port', 'transport']);
  });

  it('refuses a duplicate name (409), and deleting a trunk still used by a route (409)', async () => {
    const name = unique('dup');
    const trunk = (await t.http().post('/v1/trunks').send({ name, host: '127.0.0.1' }).expect(201)).body;
    await t.http().post('/v1/trunks').send({ name, host: '127.0.0.2' }).expect(409);
    const route = (await t.http().post('/v1/routes').send({ prefix: '+8190', trunkId: trunk.id }).expect(201)).body;
    const r = await t.http().delete(`/v1/trunks/${trunk.id}`).expect(409);
    expect(r.body.detail).toContain('used by 1 route');
    await t.http().delete(`/v1/routes/${route.id}`).expect(204);
    await t.http().delete(`/v1/trunks/${trunk.id}`).expect(204);
    await t.http().get(`/v1/trunks/${trunk.id}`).expect(404);
  });
});

describe('routes', () => {
  let t: TestApp;
  let trunkId: string;
  beforeAll(async () => {
    t = await startTestApp();
    trunkId = (await t.http().post('/v1/trunks').send({ name: unique('rt'), host: '127.0.0.1', port: 5080 }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  it('creates routes with defaults, strips +, and allows the catch-all prefix', async () => {
    const r = await t.http().post('/v1/routes').send({ prefix: '+4420', trunkId }).expect(201);
    expect(r.body).toMatchObject({ prefix: '4420', trunkId, priority: 100, weight: 1 });
    const all = await t.http().post('/v1/routes').send({ prefix: '', trunkId, priority: 900 }).expect(201);
    expect(all.body.prefix).toBe('');
    const list = await t.http().get(`/v1/routes?trunkId=${trunkId}&limit=1000`).expect(200);
    expect(list.body.data.map((x: { prefix: string }) => x.prefix).sort()).toEqual(['', '4420']);
    await t.http().post('/v1/routes').send({ prefix: '4420', trunkId }).expect(409);
    // The database is shared by every test file of the run: an enabled catch-all would route
    // other files' calls to this trunk (their "no route" cases would then pass or fail by order).
    await t.http().delete(`/v1/routes/${all.body.id}`).expect(204);
    await t.http().delete(`/v1/routes/${r.body.id}`).expect(204);
  });

  it('names bad fields, and 422 for a trunk that does not exist', async () => {
    const r = await t.http().post('/v1/routes').send({ prefix: '44-20', trunkId: 'x', priority: -1, weight: 0 }).expect(400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['prefix', 'priority', 'trunkId', 'weight']);
    const missing = await t.http().post('/v1/routes').send({ prefix: '1', trunkId: '0190a000-0000-7000-8000-000000000000' }).expect(422);
    expect(missing.body.errors).toEqual([{ field: 'trunkId', message: 'no such trunk' }]);
    await t.http().delete('/v1/routes/0190a000-0000-7000-8000-000000000000').expect(404);
  });

  it('looks up the trunks a number would try, longest prefix first, skipping disabled trunks', async () => {
    const mk = async (name: string, enabled = true) => (await t.http().post('/v1/trunks').send({ name: unique(name), host: '127.0.0.1', enabled }).expect(201)).body.id as string;
    const [tokyo, japan, world, off] = [await mk('tokyo'), await mk('japan'), await mk('world'), await mk('off', false)];
    const prefix = `8139${Date.now() % 1000}`;
    await t.http().post('/v1/routes').send({ prefix, trunkId: tokyo }).expect(201);
    await t.http().post('/v1/routes').send({ prefix: prefix.slice(0, -1), trunkId: japan, priority: 5 }).expect(201);
    await t.http().post('/v1/routes').send({ prefix: prefix.slice(0, -1), trunkId: off, priority: 1 }).expect(201);
    await t.http().post('/v1/routes').send({ prefix: '813', trunkId: world, priority: 999 }).expect(201);
    const r = await t.http().get(`/v1/routes/lookup?destination=%2B${prefix}5555`).expect(200);
    const order = r.body.data.map((x: { trunkId: string }) => x.trunkId);
    expect(order.slice(0, 3)).toEqual([tokyo, japan, world]);
    expect(order).not.toContain(off);
    const bad = await t.http().get('/v1/routes/lookup?destination=abc').expect(400);
    expect(bad.body.errors[0].field).toBe('destination');
  });
});
