/**
 * The top-up Idempotency-Key compares amounts as money, not as text: "10", "10.0" and "10.000000"
 * are one request; "1" is another, and must be refused with 422 rather than replayed.
 */
import { startTestApp, TestApp, unique } from '../support/app';
import { createAccount } from './support';

describe('top-up Idempotency-Key and the amount', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const topUp = (accountId: string, key: string, amount: string) => t.http().post(`/v1/accounts/${accountId}/topups`).set('Idempotency-Key', key).send({ amount });

  it('replays "10" for "10.0" and "10.000000", and refuses "1" with the same key', async () => {
    const accountId = await createAccount(t);
    const key = unique('idem');
    const first = await topUp(accountId, key, '10').expect(201);
    for (const same of ['10.0', '10.000000']) {
      const again = await topUp(accountId, key, same).expect(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
    }
    const other = await topUp(accountId, key, '1').expect(422);
    expect(other.body.errors[0].field).toBe('Idempotency-Key');
    expect((await t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('10.000000');
  });

  it('refuses "10" after "1" with the same key (the amounts differ in their trailing zero only)', async () => {
    const accountId = await createAccount(t);
    const key = unique('idem');
    await topUp(accountId, key, '1').expect(201);
    await topUp(accountId, key, '100').expect(422);
    await topUp(accountId, key, '1.000000').expect(201);
    expect((await t.http().get(`/v1/accounts/${accountId}`).expect(200)).body.balance).toBe('1.000000');
  });
});
