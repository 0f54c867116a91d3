/**
 * The mistakes a newcomer makes first (issue 16, "Newcomers stumble in the docs and errors"), each
 * answered with a problem that says what was wrong and what to send instead:
 * a body without Content-Type, a `+` that a query string turned into a space, a mistyped query
 * parameter, `/v1/usage` without a period; and lists newest first, with the cursor still exact.
 */
import { createAccount } from '../billing/support';
import { startTestApp, TestApp, unique } from '../support/app';

describe('errors a newcomer meets', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  const fields = (r: { body: { errors: { field: string; message: string }[] } }) => r.body.errors.map((e) => e.field);

  it('answers a JSON body sent without Content-Type with a 415 naming the header, not with "received undefined"', async () => {
    // supertest sets no Content-Type for a string body: what `curl -d '{...}'` without -H does, as far as the header goes.
    const r = await t.http().post('/v1/accounts').send('{"name":"Acme","currency":"USD"}').unset('Content-Type').expect(415);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body.errors).toEqual([{ field: 'Content-Type', message: 'missing; expected application/json (text/csv for imports)' }]);
    expect(r.body.detail).toContain('Content-Type: application/json');
    expect(r.body.instance).toBe('/v1/accounts');
    // The same body with the header is taken, and a body-less POST is not refused for its missing header.
    await t.http().post('/v1/accounts').set('Content-Type', 'application/json').send('{"name":"Acme","currency":"USD"}').expect(201);
    const accountId = await createAccount(t);
    await t.http().post(`/v1/accounts/${accountId}/topups`).expect(400);
    await t.http(null).get('/health/live').expect(200);
  });

  it('reads a query string\'s "+" turned into a space back as "+", and shows the value it could not read', async () => {
    const trunk = await t.http().post('/v1/trunks').send({ name: unique('tr'), host: '127.0.0.1', port: 5099, transport: 'udp' }).expect(201);
    const route = await t.http().post('/v1/routes').send({ prefix: '4420', trunkId: trunk.body.id }).expect(201);
    try {
      // A raw + in the URL: decoded as a space by every form decoder.
      const lookup = await t.http().get('/v1/routes/lookup?destination=+442071234567').expect(200);
      expect(lookup.body.data.map((c: { trunkId: string }) => c.trunkId)).toContain(trunk.body.id);
      const encoded = await t.http().get('/v1/routes/lookup?destination=%2B442071234567').expect(200);
      expect(encoded.body.data).toEqual(lookup.body.data);
      await t.http().get('/v1/cdrs?number=+13125550123').expect(200);

      const bad = await t.http().get('/v1/routes/lookup?destination=44+20+7123').expect(400);
      expect(bad.body.errors).toEqual([
        { field: 'destination', message: 'expected an E.164 number (received "44 20 7123"; a + in a query string must be sent as %2B)' },
      ]);
      const letters = await t.http().get('/v1/routes/lookup?destination=abc').expect(400);
      expect(letters.body.errors[0].message).toBe('expected an E.164 number (received "abc")');
    } finally {
      await t.http().delete(`/v1/routes/${route.body.id}`).expect(204);
    }
  });

  it('refuses an unknown query parameter with a 400 naming it and the accepted ones, on every list', async () => {
    const accountId = await createAccount(t);
    const cdrs = await t.http().get(`/v1/cdrs?acountId=${accountId}`).expect(400);
    expect(fields(cdrs)).toEqual(['acountId']);
    expect(cdrs.body.errors[0].message).toMatch(/^unknown query parameter; accepted: limit, cursor, accountId, /);
    expect(fields(await t.http().get('/v1/accounts?stauts=active').expect(400))).toEqual(['stauts']);
    expect(fields(await t.http().get('/v1/numbers?limit=5&country=US&typ=mobile').expect(400))).toEqual(['typ']);
    expect(fields(await t.http().get('/v1/users?page=2&accountId=' + accountId).expect(400))).toEqual(['page']);
    expect(fields(await t.http().get('/v1/routes/lookup?destination=%2B12125550100&dest=1').expect(400))).toEqual(['dest']);
    expect(fields(await t.http().get(`/v1/accounts/${accountId}/ledger?knd=topup`).expect(400))).toEqual(['knd']);
    expect(fields(await t.http().get('/v1/usage?group=day').expect(400))).toEqual(['group']);
    // The known ones still work.
    await t.http().get(`/v1/cdrs?accountId=${accountId}&limit=1`).expect(200);
  });

  it('gives /v1/usage a default period (this month to now), and names from or to when one is wrong', async () => {
    const before = Date.now();
    const r = await t.http().get('/v1/usage').expect(200);
    const now = new Date();
    expect(r.body.from).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString());
    expect(Date.parse(r.body.to)).toBeGreaterThanOrEqual(before - 1000);
    expect(r.body.groupBy).toBe('day');
    const bad = await t.http().get('/v1/usage?from=yesterday').expect(400);
    expect(bad.body.errors).toEqual([{ field: 'from', message: 'expected an ISO 8601 instant with its offset, such as 2026-11-01T00:00:00Z (received "yesterday")' }]);
    const reversed = await t.http().get('/v1/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z').expect(400);
    expect(reversed.body.errors).toEqual([{ field: 'from', message: 'must be before to (2026-01-01T00:00:00Z)' }]);
  });

  it('lists newest first, and the cursor walks back through older items without gaps or repeats', async () => {
    const accountId = await createAccount(t);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await t.http().post('/v1/users').send({ username: unique('nf'), password: 'a-long-password-1', accountId }).expect(201)).body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { data: { id: string }[]; nextCursor: string | null } } = await t
        .http()
        .get(`/v1/users?accountId=${accountId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .expect(200);
      seen.push(...page.body.data.map((u) => u.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...ids].reverse());
    expect(pages).toBe(3);
    // Accounts too: the one just made is the first of the list.
    const newest = await createAccount(t);
    expect((await t.http().get('/v1/accounts?limit=1').expect(200)).body.data[0].id).toBe(newest);
  });
});
