/**
 * The database fails while a trunk's call to one of our DIDs is being routed. That is our outage,
 * not the callee's: the answer must be 503 with Retry-After (the carrier may retry or route
 * elsewhere), logged as an error, never 480 "offline" (which tells the carrier the user is away)
 * nor 500.
 *
 * The outage is made real and narrow: the gateway process connects with lock_timeout = 1 s, and
 * the test holds an ACCESS EXCLUSIVE lock on `numbers` (the DID lookup) or on `users` (the user
 * lookup behind it) while the INVITE arrives, so exactly that query fails as PostgreSQL refuses it.
 */
import type { Client } from 'pg';
import { db } from '../billing/support';
import { freePort } from '../support/net';
import { disableTrunks, expectSuccess, firstLines, messagesOf, newAccount, newDid, newTrunk, newUser, scenarioWith, sippClient, TRUNK_IP } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

describe('a database outage during the DID lookup of an inbound call', () => {
  let gw: GatewayProcess;
  let pg: Client;
  let trunkId: string;
  beforeAll(async () => {
    const url = new URL(process.env.GW_TEST_DATABASE_URL!);
    url.searchParams.set('options', '-c lock_timeout=1000');
    gw = await startGatewayProcess({ rtpMin: 48140, rtpMax: 48149, env: { DATABASE_URL: url.toString() } });
    pg = await db();
    trunkId = await newTrunk(gw.asCallsGateway(), { host: TRUNK_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IP}/32`] });
  }, 60_000);
  afterAll(async () => {
    await disableTrunks(gw.asCallsGateway(), [trunkId]);
    await pg?.end();
    await gw?.stop();
  }, 20_000);

  async function callWhileLocked(table: 'numbers' | 'users', did: string): Promise<string> {
    await pg.query('BEGIN');
    try {
      await pg.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const trunk = sippClient(gw.asCallsGateway(), { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: '503' }), ip: TRUNK_IP, dialled: did, from: '+12125550199', rtp: 48148 });
      const run = await expectSuccess(trunk, `trunk expecting 503 while ${table} is locked`);
      expect(firstLines(run.dir)).toContainEqual(expect.stringMatching(/^SIP\/2\.0 503 /));
      return messagesOf(run.dir);
    } finally {
      await pg.query('ROLLBACK');
    }
  }

  it.each(['numbers', 'users'] as const)('answers 503 with Retry-After and logs an error when the %s lookup fails', async (table) => {
    const g = gw.asCallsGateway();
    const user = await newUser(g, await newAccount(g));
    const did = await newDid(g, user.id);
    const trace = await callWhileLocked(table, did);
    expect(trace).toMatch(/^Retry-After: \d+/m);
    expect(gw.logLines().filter((l) => l.level === 50 && l.msg === 'DID lookup failed: database unavailable')).toContainEqual(expect.objectContaining({ callee: did }));
    await gw.expectAlive();
  }, 60_000);
});
