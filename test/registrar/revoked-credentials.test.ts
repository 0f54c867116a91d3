/**
 * A user's contact bindings go when the user's SIP credentials stop being valid: the user is
 * disabled, given a new password or username, or deleted. Otherwise the device registered with the
 * old password (a stolen one, say) keeps receiving the user's calls until its registration runs
 * out, up to SIP_MAX_EXPIRES later. Real REGISTERs from SIPp against the in-process gateway.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { REDIS } from '../../src/platform/redis';
import { startTestApp, TestApp, unique } from '../support/app';
import { freePort } from '../support/net';
import { sipp } from '../support/sip-peers';

describe('bindings of a user whose credentials change', () => {
  let t: TestApp;
  let sipPort: number;
  let accountId: string;

  beforeAll(async () => {
    sipPort = await freePort();
    t = await startTestApp({ SIP_LISTEN: `127.0.0.1:${sipPort}` });
    accountId = (await t.http().post('/v1/accounts').send({ name: 'revoked', currency: 'USD' }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  async function registeredUser(): Promise<{ id: string; username: string; password: string }> {
    const username = unique('rv');
    const password = 'old-password-1';
    const id = (await t.http().post('/v1/users').send({ username, password, accountId }).expect(201)).body.id as string;
    const run = await sipp({ scenario: join(__dirname, 'scenarios', 'register.xml'), port: sipPort, service: username, authUser: username, authPass: password, vars: { expires: 3600 } });
    expect(run.code).toBe(0);
    expect(await registrations(id)).toHaveLength(1);
    return { id, username, password };
  }

  const registrations = async (userId: string): Promise<unknown[]> => (await t.http().get(`/v1/users/${userId}/registrations`).expect(200)).body.data;

  it('disabling the user removes its bindings (enabling it again does not bring them back)', async () => {
    const u = await registeredUser();
    await t.http().patch(`/v1/users/${u.id}`).send({ status: 'disabled' }).expect(200);
    expect(await registrations(u.id)).toEqual([]);
    await t.http().patch(`/v1/users/${u.id}`).send({ status: 'active' }).expect(200);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('a new password removes the bindings made with the old one', async () => {
    const u = await registeredUser();
    await t.http().patch(`/v1/users/${u.id}`).send({ password: 'new-password-2' }).expect(200);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('a new username (with its password) removes the bindings', async () => {
    const u = await registeredUser();
    await t.http().patch(`/v1/users/${u.id}`).send({ username: unique('rn'), password: 'new-password-3' }).expect(200);
    expect(await registrations(u.id)).toEqual([]);
  });

  it('a change of display name keeps them', async () => {
    const u = await registeredUser();
    await t.http().patch(`/v1/users/${u.id}`).send({ displayName: 'Alice' }).expect(200);
    expect(await registrations(u.id)).toHaveLength(1);
  });

  it('deleting the user removes its bindings from Redis', async () => {
    const u = await registeredUser();
    const redis = t.app.get<Redis>(REDIS);
    const key = `${t.config.redisPrefix}:reg:${u.id}`;
    expect(await redis.exists(key)).toBe(1);
    await t.http().delete(`/v1/users/${u.id}`).expect(204);
    expect(await redis.exists(key)).toBe(0);
  });
});
