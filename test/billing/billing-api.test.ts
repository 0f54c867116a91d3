import type { Client } from 'pg';
import { startTestApp, TestApp, unique, uniqueUsNumber } from '../support/app';
import { answeredCall, createAccount, createDeck, db, ledgerMismatches, RATE_HEADER, until } from './support';
import { CdrsService } from '../../src/billing/cdrs.service';
import { CreditControlService } from '../../src/billing/credit-control.service';
import { RentalService } from '../../src/billing/rental.service';

describe('billing API', () => {
  let t: TestApp;
  let pg: Client;
  beforeAll(async () => {
    t = await startTestApp(); // default roles: this process also runs the rating worker
    pg = await db();
  });
  afterAll(async () => {
    await pg.end();
    await t.close();
  });

  describe('rate decks', () => {
    it('imports a CSV and picks the longest prefix that is in effect', async () => {
      const deckId = await createDeck(t, [
        '44,United Kingdom,0.010000,0,60,60,',
        '447,United Kingdom mobile,0.080000,0.02,30,6,2020-01-01',
        '4478,UK mobile future,9.000000,0,1,1,2099-01-01',
        '4479,UK expired,5.000000,0,1,1,2020-01-01T00:00:00Z',
      ]);
      await pg.query(`UPDATE rates SET effective_to = '2021-01-01' WHERE rate_deck_id = $1 AND prefix = '4479'`, [deckId]);
      const accountId = await createAccount(t, { deckId });
      const q = (destination: string, seconds: number) => t.http().post('/v1/rating/quote').send({ accountId, destination, seconds }).expect(200);
      expect((await q('+447812345678', 31)).body).toMatchObject({ prefix: '447', ratePerMinute: '0.080000', billableSeconds: 36, cost: '0.068000', currency: 'USD' });
      expect((await q('+447912345678', 61)).body).toMatchObject({ prefix: '447', billableSeconds: 66 });
      expect((await q('+442071234567', 61)).body).toMatchObject({ prefix: '44', billableSeconds: 120, cost: '0.020000' });
      const deck = await t.http().get(`/v1/rate-decks/${deckId}`).expect(200);
      expect(deck.body).toMatchObject({ id: deckId, currency: 'USD', rates: 4 });
    });

    it('refuses the whole CSV with a 422 naming every bad row, and imports nothing', async () => {
      const deck = await t.http().post('/v1/rate-decks').send({ name: unique('deck'), currency: 'USD' }).expect(201);
      const csv = [RATE_HEADER, '1,ok,0.1,0,60,60,', 'x1,bad prefix,0.1,0,60,60,', '2,bad rate,0.1234567,0,60,60,', '3,bad inc,0.1,0,0,6,', '1,dup,0.1,0,60,60,'].join('\n');
      const r = await t.http().post(`/v1/rate-decks/${deck.body.id}/rates`).set('Content-Type', 'text/csv').send(csv).expect(422);
      expect(r.body.errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ row: 3, field: 'prefix' }),
          expect.objectContaining({ row: 4, field: 'ratePerMinute' }),
          expect.objectContaining({ row: 5, field: 'firstIncrement' }),
          expect.objectContaining({ row: 6, field: 'prefix' }),
        ]),
      );
      expect((await t.http().get(`/v1/rate-decks/${deck.body.id}`).expect(200)).body.rates).toBe(0);
      const header = await t.http().post(`/v1/rate-decks/${deck.body.id}/rates`).set('Content-Type', 'text/csv').send('prefix,rate\n1,2').expect(422);
      expect(header.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['rate', 'destination']));
    });

    it('imports 50,000 rows in one request', async () => {
      const rows = Array.from({ length: 50_000 }, (_, i) => `${(100000 + i).toString()},Dest ${i},0.${String(i % 1000).padStart(6, '0')},0,30,6,`);
      const deck = await t.http().post('/v1/rate-decks').send({ name: unique('big'), currency: 'USD' }).expect(201);
      const r = await t.http().post(`/v1/rate-decks/${deck.body.id}/rates`).set('Content-Type', 'text/csv').send([RATE_HEADER, ...rows].join('\n')).expect(201);
      expect(r.body).toEqual({ imported: 50_000 });
      expect((await t.http().get(`/v1/rate-decks/${deck.body.id}`).expect(200)).body.rates).toBe(50_000);
    });

    it('lets the billing role read decks but not write them', async () => {
      const key = (await t.http().post('/v1/api-keys').send({ name: unique('k'), role: 'billing' }).expect(201)).body.secret;
      await t.http(key).get('/v1/rate-decks').expect(200);
      await t.http(key).post('/v1/rate-decks').send({ name: unique('deck'), currency: 'USD' }).expect(403);
    });
  });

  describe('top-ups and the ledger', () => {
    it('applies a top-up once per Idempotency-Key, returns the first answer, and refuses the key with another body', async () => {
      const accountId = await createAccount(t);
      const key = unique('idem');
      const first = await t.http().post(`/v1/accounts/${accountId}/topups`).set('Idempotency-Key', key).send({ amount: '10.50', reference: 'card 1' }).expect(201);
      const again = await t.http().post(`/v1/accounts/${accountId}/topups`).set('Idempotency-Key', key).send({ amount: '10.50', reference: 'card 1' }).expect(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      const other = await t.http().post(`/v1/accounts/${accountId}/topups`).set('Idempotency-Key', key).send({ amount: '99', reference: 'card 1' }).expect(422);
      expect(other.body.errors[0].field).toBe('Idempotency-Key');
      const same = await Promise.all(
        Array.from({ length: 10 }, () => t.http().post(`/v1/accounts/${accountId}/topups`).set('Idempotency-Key', `${key}-race`).send({ amount: '1' })),
      );
      expect(same.every((r) => r.status === 201)).toBe(true);
      const acc = await t.http().get(`/v1/accounts/${accountId}`).expect(200);
      expect(acc.body.balance).toBe('11.500000');
      const ledger = await t.http().get(`/v1/accounts/${accountId}/ledger`).expect(200);
      // newest first
      expect(ledger.body.data.map((e: { amount: string; kind: string }) => [e.kind, e.amount])).toEqual([
        ['topup', '1.000000'],
        ['topup', '10.500000'],
      ]);
      expect(ledger.body.data[1].topupId).toBe(first.body.id);
      const bal = await t.http().get(`/v1/accounts/${accountId}/balance`).expect(200);
      expect(bal.body).toMatchObject({ balance: '11.500000', ledgerSum: '11.500000' });
    });

    it('refuses zero, negative or float amounts', async () => {
      const accountId = await createAccount(t);
      for (const amount of ['0', '-1', 1.5, '1.0000001']) {
        await t.http().post(`/v1/accounts/${accountId}/topups`).send({ amount }).expect(400);
      }
    });

    it('charges each assigned number once per account and month, however often the rental job runs', async () => {
      const accountId = await createAccount(t, { balance: '20' });
      const user = await t.http().post('/v1/users').send({ username: unique('u'), password: 'a-long-password-1', accountId }).expect(201);
      const e164 = uniqueUsNumber();
      await t.http().post('/v1/numbers').send({ e164, userId: user.body.id, monthlyFee: '2.25' }).expect(201);
      const rental = t.app.get(RentalService);
      await Promise.all([rental.chargeMonth('2026-11'), rental.chargeMonth('2026-11'), rental.chargeMonth('2026-11')]);
      await rental.chargeMonth('2026-11');
      await rental.chargeMonth('2026-12');
      const ledger = await t.http().get(`/v1/accounts/${accountId}/ledger?kind=rental`).expect(200);
      expect(ledger.body.data.map((e: { period: string; amount: string; number: string }) => [e.period, e.amount, e.number])).toEqual([
        ['2026-12', '-2.250000', e164],
        ['2026-11', '-2.250000', e164],
      ]);
      expect((await t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('15.500000');
      expect(await ledgerMismatches(pg, [accountId])).toEqual([]);
    });
  });

  describe('credit control', () => {
    it('refuses with the reason: unknown account, suspended, no rate, balance, concurrent limit', async () => {
      const credit = t.app.get(CreditControlService);
      const deckId = await createDeck(t, ['1,USA,0.600000,0,60,60,']);
      const poor = await createAccount(t, { deckId, balance: '0.59' });
      expect(await credit.authorize(poor, '+12025550123')).toMatchObject({ allowed: false, reason: 'insufficient_balance' });
      expect(await credit.authorize(poor, '+442071234567')).toMatchObject({ allowed: false, reason: 'no_rate' });
      expect(await credit.authorize('00000000-0000-7000-8000-000000000000', '+12025550123')).toMatchObject({ allowed: false, reason: 'unknown_account' });
      const limited = await createAccount(t, { deckId, balance: '100', maxConcurrentCalls: 1 });
      const a = await credit.authorize(limited, '+12025550123');
      expect(a).toMatchObject({ allowed: true, maxSeconds: 9960, held: '99.600000' });
      expect(await credit.authorize(limited, '+12025550123')).toMatchObject({ allowed: false, reason: 'concurrent_limit', limit: 'maxConcurrentCalls' });
      expect(await credit.activeCalls(limited)).toBe(1);
      if (a.allowed) await credit.release(a);
      expect(await credit.activeCalls(limited)).toBe(0);
      expect(await credit.authorize(limited, '+12025550123')).toMatchObject({ allowed: true });
      await t.http().patch(`/v1/accounts/${limited}`).send({ status: 'suspended' }).expect(200);
      expect(await credit.authorize(limited, '+12025550123')).toMatchObject({ allowed: false, reason: 'suspended' });
    });

    it('grants the seconds the balance pays, minus what calls in progress may still cost', async () => {
      const credit = t.app.get(CreditControlService);
      const deckId = await createDeck(t, ['1,USA,0.600000,0,60,60,']);
      const accountId = await createAccount(t, { deckId, balance: '6', creditLimit: '0.60' });
      const first = await credit.authorize(accountId, '+12025550123');
      expect(first).toMatchObject({ allowed: true, maxSeconds: 660, held: '6.600000' });
      expect(await credit.authorize(accountId, '+12025550123')).toMatchObject({ allowed: false, reason: 'insufficient_balance' });
    });
  });

  describe('CDRs', () => {
    it('records, rates and debits a call once; lists, filters, reads and exports it; reports usage', async () => {
      const deckId = await createDeck(t, ['1,USA,0.600000,0.010000,60,60,', '1202,USA DC,1.200000,0,30,6,']);
      const accountId = await createAccount(t, { deckId, balance: '10' });
      const credit = t.app.get(CreditControlService);
      const cdrs = t.app.get(CdrsService);
      const auth = await credit.authorize(accountId, '+12025550123');
      expect(auth.allowed).toBe(true);
      if (!auth.allowed) return;
      const { id } = await cdrs.record({ ...answeredCall(accountId, '+12025550123', 31), reservation: auth });
      const missed = await cdrs.record({ ...answeredCall(accountId, '+13125550123', 0), disposition: 'noAnswer', answeredAt: null, sipCode: 480 });
      await until(async () => (await pg.query(`SELECT count(*)::int AS n FROM cdrs WHERE id = ANY($1) AND status = 'rated'`, [[id, missed.id]])).rows[0].n === 2);
      const cdr = (await t.http().get(`/v1/cdrs/${id}`).expect(200)).body;
      expect(cdr).toMatchObject({ status: 'rated', ratePrefix: '1202', ratePerMinute: '1.200000', billableSeconds: 36, cost: '0.720000', currency: 'USD', disposition: 'answered' });
      expect((await t.http().get(`/v1/cdrs/${missed.id}`).expect(200)).body).toMatchObject({ status: 'rated', cost: '0.000000', billableSeconds: 0 });
      expect((await t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('9.280000');
      expect(await credit.activeCalls(accountId)).toBe(0);

      // rating again changes nothing
      expect(await cdrs.rate(id)).toEqual({ status: 'already-rated', cost: '0.720000' });
      expect((await t.http().get(`/v1/accounts/${accountId}/ledger?kind=call`).expect(200)).body.data).toHaveLength(1);
      expect(await ledgerMismatches(pg, [accountId])).toEqual([]);

      const list = await t.http().get(`/v1/cdrs?accountId=${accountId}&disposition=answered`).expect(200);
      expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([id]);
      const byNumber = await t.http().get(`/v1/cdrs?number=%2B13125550123&accountId=${accountId}`).expect(200);
      expect(byNumber.body.data.map((c: { id: string }) => c.id)).toEqual([missed.id]);
      const page1 = await t.http().get(`/v1/cdrs?accountId=${accountId}&limit=1`).expect(200);
      const page2 = await t.http().get(`/v1/cdrs?accountId=${accountId}&limit=1&cursor=${page1.body.nextCursor}`).expect(200);
      // newest first: the missed call was recorded after the answered one
      expect([...page1.body.data, ...page2.body.data].map((c: { id: string }) => c.id)).toEqual([missed.id, id]);

      const csv = await t.http().get(`/v1/cdrs/export?format=csv&accountId=${accountId}`).expect(200).expect('Content-Type', /text\/csv/);
      const lines = csv.text.trim().split('\n');
      expect(lines[0].split(',').slice(0, 3)).toEqual(['id', 'callId', 'direction']);
      expect(lines).toHaveLength(3);
      expect(lines[2]).toContain(id);

      const from = new Date(Date.now() - 86_400_000).toISOString();
      const to = new Date(Date.now() + 86_400_000).toISOString();
      const usage = await t.http().get(`/v1/usage?groupBy=destination&accountId=${accountId}&from=${from}&to=${to}`).expect(200);
      expect(usage.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ prefix: '1202', destination: 'USA DC', calls: 1, cost: '0.720000', billableSeconds: 36 })]));
      const byAccount = await t.http().get(`/v1/usage?groupBy=account&accountId=${accountId}&from=${from}&to=${to}`).expect(200);
      expect(byAccount.body.data).toEqual([expect.objectContaining({ accountId, calls: 2, answered: 1, cost: '0.720000' })]);
    });

    it('ends a CDR that cannot be rated visibly failed, with the reason', async () => {
      const accountId = await createAccount(t, { balance: '5' }); // no rate deck
      const { id } = await t.app.get(CdrsService).record(answeredCall(accountId, '+12025550123', 10));
      await until(async () => (await pg.query(`SELECT status FROM cdrs WHERE id = $1`, [id])).rows[0].status === 'failed');
      const cdr = (await t.http().get(`/v1/cdrs/${id}`).expect(200)).body;
      expect(cdr.failureReason).toMatch(/no rate/);
      expect((await t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('5.000000');
    });

    it('lets billing keys read CDRs, usage and ledgers and top up; operator keys may not', async () => {
      const accountId = await createAccount(t);
      const billing = (await t.http().post('/v1/api-keys').send({ name: unique('k'), role: 'billing' }).expect(201)).body.secret;
      const operator = (await t.http().post('/v1/api-keys').send({ name: unique('k'), role: 'operator' }).expect(201)).body.secret;
      await t.http(billing).post(`/v1/accounts/${accountId}/topups`).send({ amount: '1' }).expect(201);
      await t.http(billing).get(`/v1/accounts/${accountId}/ledger`).expect(200);
      await t.http(billing).get(`/v1/cdrs?accountId=${accountId}`).expect(200);
      await t.http(operator).post(`/v1/accounts/${accountId}/topups`).send({ amount: '1' }).expect(403);
      await t.http(operator).get(`/v1/accounts/${accountId}/ledger`).expect(403);
      await t.http(operator).get(`/v1/cdrs?accountId=${accountId}`).expect(403);
      await t.http(operator).get(`/v1/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`).expect(403);
    });

    it('has no endpoint that creates a CDR', async () => {
      const r = await t.http().post('/v1/cdrs').send({});
      expect(r.status).toBe(404);
    });

    it('serves the queue dashboard to admin keys only', async () => {
      await t.http(null).get('/admin/queues').expect(401);
      const key = (await t.http().post('/v1/api-keys').send({ name: unique('k'), role: 'billing' }).expect(201)).body.secret;
      await t.http(key).get('/admin/queues').expect(403);
      const ok = await t.http().get('/admin/queues').expect(200);
      expect(ok.text).toMatch(/<html/i);
      const api = await t.http().get('/admin/queues/api/queues').expect(200);
      expect(JSON.stringify(api.body)).toContain('cdr-rating');
    });
  });
});
