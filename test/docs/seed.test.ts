/**
 * `npm run seed` (src/platform/seed-cli.ts) against a real gateway process: the demo set appears
 * through the API, usable (a quote on the seeded account, a route lookup, a toll-free dry run), and a
 * second run creates nothing twice.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { ADMIN_KEY } from '../support/env';

const run = promisify(execFile);
const CLI = resolve(__dirname, '../../dist/src/platform/seed-cli.js');

describe('npm run seed', () => {
  let gw: GatewayProcess;
  beforeAll(async () => (gw = await startGatewayProcess({ rtpMin: 63100, rtpMax: 63199 })), 60_000);
  afterAll(async () => {
    if (!gw) return;
    // The demo routes (a catch-all among them) would send the next test files' calls to the demo trunks.
    const trunks = (await gw.t.http().get('/v1/trunks?limit=1000').expect(200)).body.data as { id: string; name: string }[];
    for (const t of trunks.filter((x) => x.name.startsWith('demo-'))) {
      const routes = (await gw.t.http().get(`/v1/routes?trunkId=${t.id}&limit=1000`).expect(200)).body.data as { id: string }[];
      for (const r of routes) await gw.t.http().delete(`/v1/routes/${r.id}`).expect(204);
      await gw.t.http().patch(`/v1/trunks/${t.id}`).send({ enabled: false }).expect(200);
    }
    await gw.stop();
  });

  const seed = () => run(process.execPath, [CLI, '--url', `http://127.0.0.1:${gw.httpPort}`], { env: { PATH: process.env.PATH ?? '', ADMIN_API_KEY: ADMIN_KEY }, timeout: 60_000 });

  it('creates the demo set once, usable through the API, and nothing the second time', async () => {
    const first = await seed();
    expect(first.stdout).toMatch(/: 19 created, 0 already there/);
    expect(first.stdout).toMatch(/password of demo-alice: \S{16} \(shown once\)/);

    const alice = (await gw.t.http().get('/v1/users?username=demo-alice').expect(200)).body.data;
    expect(alice).toHaveLength(1);
    const account = (await gw.t.http().get(`/v1/accounts/${alice[0].accountId}`).expect(200)).body;
    expect(account).toMatchObject({ name: 'Demo Acme', balance: '50.000000' });
    expect(account.rateDeckId).not.toBeNull();
    const quote = await gw.t.http().post('/v1/rating/quote').send({ accountId: account.id, destination: '+442071234567', seconds: 60 }).expect(200);
    expect(quote.body).toMatchObject({ prefix: '4420', cost: '0.015000' });
    expect((await gw.t.http().get('/v1/numbers/%2B12125550160').expect(200)).body).toMatchObject({ status: 'assigned', userId: alice[0].id });
    const lookup = await gw.t.http().get('/v1/routes/lookup?destination=%2B12025550100').expect(200);
    const trunks = (await gw.t.http().get('/v1/trunks?limit=1000').expect(200)).body.data as { id: string; name: string }[];
    const byName = (n: string) => trunks.find((t) => t.name === n)!.id;
    expect(lookup.body.data.slice(0, 2).map((c: { trunkId: string }) => c.trunkId)).toEqual([byName('demo-carrier-a'), byName('demo-carrier-b')]);
    const dry = await gw.t.http().post('/v1/tollfree/%2B18885550161/translate').send({ caller: '+12125550100', at: '2026-12-01T15:00:00Z' }).expect(200);
    expect(dry.body).toMatchObject({ target: '+13125550100', ruleId: null });

    const second = await seed();
    expect(second.stdout).toMatch(/: 0 created, 19 already there/);
    expect(second.stdout).not.toContain('password of');
    expect((await gw.t.http().get('/v1/users?username=demo-alice').expect(200)).body.data).toHaveLength(1);
    expect((await gw.t.http().get(`/v1/accounts/${account.id}`).expect(200)).body.balance).toBe('50.000000');
    const deck = (await gw.t.http().get(`/v1/rate-decks/${account.rateDeckId}`).expect(200)).body;
    expect(deck.rates).toBe(6);
    await gw.expectAlive();
  }, 120_000);
});
