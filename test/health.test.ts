import { startTestApp, TestApp } from './support/app';

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('answers liveness without a key', async () => {
    await t.http(null).get('/health/live').expect(200, { status: 'ok' });
  });

  it('reports PostgreSQL and Redis ready', async () => {
    const r = await t.http(null).get('/health/ready').expect(200);
    expect(r.body.checks).toEqual([
      { name: 'postgres', ok: true },
      { name: 'redis', ok: true },
    ]);
  });

  it('serves the OpenAPI document with every provisioning path', async () => {
    const r = await t.http(null).get('/docs-json').expect(200);
    for (const path of ['/v1/api-keys', '/v1/accounts', '/v1/users', '/v1/numbers', '/v1/numbers/import', '/v1/trunks', '/v1/routes']) {
      expect(Object.keys(r.body.paths)).toContain(path);
    }
    expect(r.body.paths['/v1/accounts'].post.requestBody.content['application/json'].schema.required).toContain('currency');
  });
});
