/**
 * A trunk channel whose release fails (Redis answers an error) must not end the process: Call
 * releases the channel when an attempt is over, and a rejected release used to be a floating
 * promise, i.e. an unhandled rejection, which ends Node. The test turns the trunk's channel key
 * into a string while the trunk rings, so the ZREM of the release fails with WRONGTYPE.
 */
import IORedis from 'ioredis';
import { freePort } from '../support/net';
import { REDIS_URL } from '../support/env';
import { disableTrunks, expectSuccess, newAccount, newDestination, newRoute, newTrunk, newUser, scenarioWith, sippClient, sippServer, timestamp } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

describe('a trunk channel release that fails', () => {
  let gw: GatewayProcess;
  let redis: IORedis;
  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 48050, rtpMax: 48099 });
    redis = new IORedis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
  }, 60_000);
  afterAll(async () => {
    await redis?.quit();
    await gw?.stop();
  }, 20_000);

  it('is logged with the trunk and call, and the process keeps answering', async () => {
    const g = gw.asCallsGateway();
    const accountId = await newAccount(g, '10.000000');
    const user = await newUser(g, accountId);
    const trunkPort = await freePort();
    const trunkId = await newTrunk(g, { port: trunkPort });
    const dest = newDestination();
    await newRoute(g, dest, trunkId);
    let key: string | undefined;
    try {
      const trunk = await sippServer({ scenario: 'uas-ring-cancel.xml', port: trunkPort });
      const phone = sippClient(g, { scenario: scenarioWith('uac-final.xml', { FINAL: '408' }), dialled: dest, from: user.username, user, rtp: 48190 });
      await timestamp(trunk, 'ringing.txt');
      // The channel key exists while the trunk rings; make it a string so the release's ZREM fails.
      const [, keys] = await redis.scan('0', 'MATCH', `*:calls:trunk:${trunkId}`, 'COUNT', 100_000);
      expect(keys).toHaveLength(1);
      key = keys[0];
      await redis.multi().del(key).set(key, 'not a sorted set').exec();
      // The gateway cancels the trunk after CALL_RING_TIMEOUT_SECONDS (3) and answers the user 408.
      await expectSuccess(phone, 'user phone expecting 408');
      await new Promise((r) => setTimeout(r, 500));
      await gw.expectAlive();
      await expectSuccess(trunk, 'trunk receiving CANCEL');
      const line = gw.logLines().find((l) => l.msg === 'trunk channel not released');
      expect(line).toMatchObject({ level: 50, trunkId, callId: expect.any(String) });
      expect(String(line!.err)).toMatch(/WRONGTYPE/);
      await disableTrunks(g, [trunkId]);
    } finally {
      if (key) await redis.del(key);
    }
  }, 60_000);
});
