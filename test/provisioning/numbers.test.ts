import { DataSource } from 'typeorm';
import { startTestApp, TestApp, unique, uniqueUsNumber } from '../support/app';

describe('numbers (DIDs)', () => {
  let t: TestApp;
  let userId: string;
  beforeAll(async () => {
    t = await startTestApp({ NUMBER_QUARANTINE_DAYS: '30' });
    const acc = (await t.http().post('/v1/accounts').send({ name: 'dids', currency: 'USD' }).expect(201)).body;
    userId = (await t.http().post('/v1/users').send({ username: unique('did'), password: 'password1', accountId: acc.id }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  it('normalises national input to E.164 and detects country and type', async () => {
    const national = uniqueUsNumber().slice(2); // 10 national digits
    const r = await t.http().post('/v1/numbers').send({ e164: `(${national.slice(0, 3)}) ${national.slice(3, 6)}-${national.slice(6)}`, monthlyFee: '1.5' }).expect(201);
    expect(r.body).toMatchObject({ e164: `+1${national}`, country: 'US', status: 'available', userId: null, monthlyFee: '1.500000', forwarding: { mode: 'none' } });
    expect(['geographic', 'fixedLineOrMobile']).toContain(r.body.type);
    const tf = await t.http().post('/v1/numbers').send({ e164: '+81120' + String(Date.now()).slice(-6) }).expect(201);
    expect(tf.body).toMatchObject({ country: 'JP', type: 'tollFree' });
  });

  it('refuses an invalid number with 400 naming e164, and a duplicate with 409', async () => {
    const bad = await t.http().post('/v1/numbers').send({ e164: '+1999' }).expect(400);
    expect(bad.body.errors).toEqual([{ field: 'e164', message: 'not a valid international number' }]);
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164 }).expect(201);
    const dup = await t.http().post('/v1/numbers').send({ e164 }).expect(409);
    expect(dup.body.errors[0].field).toBe('e164');
  });

  it('walks the lifecycle available → assigned → quarantined → available', async () => {
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164 }).expect(201);
    const assigned = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId }).expect(200);
    expect(assigned.body).toMatchObject({ status: 'assigned', userId });
    await t.http().delete(`/v1/numbers/${encodeURIComponent(e164)}`).expect(409);
    const released = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId: null }).expect(200);
    expect(released.body).toMatchObject({ status: 'quarantined', userId: null });
    const days = (Date.parse(released.body.quarantinedUntil) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    const refused = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId }).expect(409);
    expect(refused.body.detail).toContain('quarantined until');
    // The quarantine period passes.
    await t.app.get(DataSource).query(`UPDATE numbers SET quarantined_until = now() - interval '1 second' WHERE e164 = $1`, [e164]);
    const back = await t.http().get(`/v1/numbers/${encodeURIComponent(e164)}`).expect(200);
    expect(back.body).toMatchObject({ status: 'available', quarantinedUntil: null });
    await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId }).expect(200);
  });

  it('refuses to move an assigned number straight to another user (409), and an unknown user (422)', async () => {
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164, userId }).expect(201);
    const acc = (await t.http().post('/v1/accounts').send({ name: 'other', currency: 'USD' }).expect(201)).body;
    const other = (await t.http().post('/v1/users').send({ username: unique('oth'), password: 'password1', accountId: acc.id }).expect(201)).body;
    const moved = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId: other.id }).expect(409);
    expect(moved.body.errors[0].field).toBe('userId');
    const r = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ userId: '0190a000-0000-7000-8000-000000000000' }).expect(422);
    expect(r.body.errors).toEqual([{ field: 'userId', message: 'no such user' }]);
  });

  it('validates and normalises the forwarding rule', async () => {
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164, userId }).expect(201);
    const target = uniqueUsNumber();
    const ok = await t
      .http()
      .patch(`/v1/numbers/${encodeURIComponent(e164)}`)
      .send({ forwarding: { mode: 'noAnswer', target: target.slice(2), noAnswerSeconds: 15 } })
      .expect(200);
    expect(ok.body.forwarding).toEqual({ mode: 'noAnswer', target, noAnswerSeconds: 15, redirect: false });
    const sip = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ forwarding: { mode: 'offline', target: 'sip:voicemail@127.0.0.1', redirect: true } }).expect(200);
    expect(sip.body.forwarding).toMatchObject({ mode: 'offline', target: 'sip:voicemail@127.0.0.1', redirect: true });
    const missing = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ forwarding: { mode: 'busy' } }).expect(400);
    expect(missing.body.errors).toEqual([{ field: 'forwarding.target', message: 'required unless mode is none' }]);
    const badTarget = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ forwarding: { mode: 'always', target: '12' } }).expect(400);
    expect(badTarget.body.errors[0].field).toBe('forwarding.target');
    const badMode = await t.http().patch(`/v1/numbers/${encodeURIComponent(e164)}`).send({ forwarding: { mode: 'sometimes', target: target, noAnswerSeconds: 1 } }).expect(400);
    expect(badMode.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['forwarding.mode', 'forwarding.noAnswerSeconds']);
  });

  it('filters the list by status, user and prefix', async () => {
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164, userId }).expect(201);
    const mine = await t.http().get(`/v1/numbers?userId=${userId}&status=assigned&limit=1000`).expect(200);
    expect(mine.body.data.map((n: { e164: string }) => n.e164)).toContain(e164);
    const byPrefix = await t.http().get(`/v1/numbers?prefix=${encodeURIComponent(e164)}`).expect(200);
    expect(byPrefix.body.data.map((n: { e164: string }) => n.e164)).toEqual([e164]);
    await t.http().get('/v1/numbers?status=gone').expect(400);
  });

  it('answers 404 for an unknown number and deletes an available one', async () => {
    await t.http().get('/v1/numbers/+12015550000').expect(404);
    const e164 = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164 }).expect(201);
    await t.http().delete(`/v1/numbers/${encodeURIComponent(e164)}`).expect(204);
    await t.http().get(`/v1/numbers/${encodeURIComponent(e164)}`).expect(404);
  });
});

describe('number CSV import', () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  const csv = (rows: string[]) => ['e164,monthlyFee', ...rows].join('\n') + '\n';

  it('imports every row', async () => {
    const numbers = [uniqueUsNumber(), uniqueUsNumber(), uniqueUsNumber()];
    const r = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv').send(csv([`${numbers[0]},1.00`, `${numbers[1].slice(2)},`, `${numbers[2]},0.25`])).expect(201);
    expect(r.body).toEqual({ imported: 3 });
    const got = await t.http().get(`/v1/numbers/${encodeURIComponent(numbers[1])}`).expect(200);
    expect(got.body).toMatchObject({ status: 'available', monthlyFee: '0.000000' });
  });

  it('imports nothing when any row is bad, and names every bad row', async () => {
    const existing = uniqueUsNumber();
    await t.http().post('/v1/numbers').send({ e164: existing }).expect(201);
    const good = uniqueUsNumber();
    const repeated = uniqueUsNumber();
    const body = csv([`${good},1.00`, 'not-a-number,1', `${repeated},1`, `${repeated},2`, `${uniqueUsNumber()},1.1234567`, `${existing},1`]);
    const r = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv').send(body).expect(422);
    expect(r.body.errors).toEqual([
      { row: 3, field: 'e164', message: expect.stringContaining('expected a telephone number') },
      { row: 5, field: 'e164', message: `${repeated} repeats row 4` },
      { row: 6, field: 'monthlyFee', message: expect.any(String) },
      { row: 7, field: 'e164', message: `${existing} is already in the inventory` },
    ]);
    expect(r.body.detail).toBe('4 of 6 rows are invalid; nothing was imported');
    await t.http().get(`/v1/numbers/${encodeURIComponent(good)}`).expect(404);
  });

  it('names a wrong header, a ragged row and a wrong content type', async () => {
    const header = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv').send('number,fee\n+12015550123,1\n').expect(422);
    expect(header.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['e164', 'fee', 'number']);
    const ragged = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv').send(`e164,monthlyFee\n${uniqueUsNumber()},1,extra\n`).expect(422);
    expect(ragged.body.errors[0]).toMatchObject({ field: 'csv', row: 2 });
    const type = await t.http().post('/v1/numbers/import').set('Content-Type', 'application/json').send({ e164: '+1' }).expect(415);
    expect(type.body.errors[0].field).toBe('Content-Type');
    const empty = await t.http().post('/v1/numbers/import').set('Content-Type', 'text/csv').send('e164\n').expect(422);
    expect(empty.body.detail).toBe('the CSV has no rows');
  });
});
