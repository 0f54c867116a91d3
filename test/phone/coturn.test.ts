/**
 * The TURN credentials the gateway issues work with a real TURN server: Debian's coturn with
 * `use-auth-secret` and the same secret as TURN_SECRET (what docker-compose.yml's coturn service
 * runs) allocates relays for them, and refuses a tampered or an expired one. coturn's own client
 * (turnutils_uclient) allocates two relays and sends packets between them (-y), on loopback.
 */
import { turnCredential } from '../../src/phone/turn-credentials';
import { newAccount, newUser, startCallsGateway, type CallsGateway } from '../calls/support';
import { type Coturn, relays, startCoturn } from './coturn';

const SECRET = 'coturn-test-secret-0123456789abcdef';

describe('gateway-issued TURN credentials against Debian coturn (use-auth-secret)', () => {
  let coturn: Coturn;
  let gw: CallsGateway;

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    gw = await startCallsGateway({ rtpMin: 53700, rtpMax: 53798, env: { TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp`, TURN_SECRET: SECRET, TURN_TTL_SECONDS: '600' } });
  }, 30_000);

  afterAll(async () => {
    coturn?.stop();
    await gw?.close();
  });

  it('relays for the credentials a logged-in user gets, and refuses tampered and expired ones', async () => {
    const u = await newUser(gw, await newAccount(gw));
    const r = await gw.t.http(null).post('/phone/turn-credentials').send({ username: u.username, password: u.password }).expect(200);
    const [turn] = r.body.iceServers as { urls: string[]; username: string; credential: string }[];
    expect(turn.urls).toEqual([`turn:127.0.0.1:${coturn.port}?transport=udp`]);

    const good = await relays(coturn.port, turn.username, turn.credential);
    expect(good.ok ? '' : `${good.output}\n--- coturn ---\n${coturn.log().slice(-3000)}`).toBe('');

    const tampered = await relays(coturn.port, turn.username.replace(/^\d+/, (s) => String(Number(s) + 86400)), turn.credential);
    expect(tampered.ok).toBe(false);
    expect(tampered.output).toMatch(/Cannot complete Allocation/);

    const expired = turnCredential(SECRET, u.username, 60, Date.now() - 3_600_000);
    const late = await relays(coturn.port, expired.username, expired.credential);
    expect(late.ok).toBe(false);
    expect(coturn.log()).not.toContain(u.password);
  }, 60_000);
});
