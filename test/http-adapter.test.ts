/**
 * Where Fastify (the gateway's HTTP adapter, src/app.ts) would answer differently from the API's
 * contract if left to itself: its own body errors, bodies that are not JSON, the streamed CDR
 * export's headers, unknown routes. Each answer must be the problem document the API gives.
 */
import { createAccount } from './billing/support';
import { startTestApp, TestApp, unique, uniqueUsNumber } from './support/app';

describe('HTTP adapter (Fastify)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  const problem = (r: { headers: Record<string, string> }) => expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);

  it('answers an empty JSON body with the 400 naming the body', async () => {
    const r = await t.http().post('/v1/accounts').set('Content-Type', 'application/json').send('').expect(400);
    problem(r);
    expect(r.body.errors).toEqual([{ field: 'body', message: 'malformed JSON' }]);
    expect(r.body.instance).toBe('/v1/accounts');
  });

  it('answers a JSON body over 1 MB with a 413 problem', async () => {
    const r = await t.http().post('/v1/accounts').set('Content-Type', 'application/json').send(JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) })).expect(413);
    problem(r);
    expect(r.body.errors[0].field).toBe('body');
    await t.http(null).get('/health/live').expect(200);
  });

  it('answers a body type the API does not take with a 415 naming Content-Type', async () => {
    const r = await t.http().post('/v1/api-keys').set('Content-Type', 'application/xml').send('<key/>').expect(415);
    problem(r);
    expect(r.body.errors[0].field).toBe('Content-Type');
  });

  it('takes application/*+json as JSON', async () => {
    const r = await t.http().post('/v1/api-keys').set('Content-Type', 'application/vnd.api+json').send(JSON.stringify({ name: unique('k'), role: 'billing' })).expect(201);
    expect(r.body.role).toBe('billing');
  });

  it('takes a CSV upload with a charset, and refuses JSON on the import', async () => {
    const e164 = uniqueUsNumber();
    const r = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv; charset=utf-8').send(`e164,monthlyFee\n${e164},1.00\n`).expect(201);
    expect(r.body).toEqual({ imported: 1 });
    await t.http().get(`/v1/numbers/${encodeURIComponent(e164)}`).expect(200);
    const refused = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/plain').send(`e164\n${uniqueUsNumber()}\n`).expect(415);
    expect(refused.body.errors).toEqual([{ field: 'Content-Type', message: 'expected text/csv' }]);
  });

  it('streams the CDR export with its download headers and the request id', async () => {
    const accountId = await createAccount(t);
    const r = await t.http().get(`/v1/cdrs/export?format=csv&accountId=${accountId}`).set('X-Request-Id', 'export-1').expect(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toBe('attachment; filename="cdrs.csv"');
    expect(r.headers['x-request-id']).toBe('export-1');
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.text.split('\n')[0]).toMatch(/^id,callId,direction/);
  });

  it('answers an unknown route with a 404 problem', async () => {
    const r = await t.http().get('/v1/no-such-thing').expect(404);
    problem(r);
    expect(r.body.instance).toBe('/v1/no-such-thing');
  });
});
