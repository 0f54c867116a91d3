/**
 * SIP over secure WebSocket (SIP_WSS_LISTEN with TLS_CERT_FILE/TLS_KEY_FILE), against a real
 * gateway process with a self-signed certificate made for the test (openssl): REGISTER with digest
 * over WSS, the binding marked `wss`, removed when the socket closes; a plain-text WebSocket
 * handshake on the WSS port gets nothing. RTP: the gateway relays on 50400–50499.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { newAccount, newUser, type User } from '../calls/support';
import { type GatewayProcess, listeningPort, startGatewayProcess } from '../security/gateway-process';
import { untilNone, upgradeStatus, WsSipClient } from './ws-sip-client';

let gw: GatewayProcess;
let wssPort: number;
let user: User;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-wss-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  gw = await startGatewayProcess({ rtpMin: 50400, rtpMax: 50499, env: { SIP_WS_LISTEN: 'off', SIP_WSS_LISTEN: '127.0.0.1:0', TLS_CERT_FILE: cert, TLS_KEY_FILE: key } });
  wssPort = listeningPort(gw.log(), 'WSS')!;
  const account = await newAccount(gw.asCallsGateway());
  user = await newUser(gw.asCallsGateway(), account);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
});

function openWss(): Promise<WebSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${wssPort}/`, 'sip', { rejectUnauthorized: false, handshakeTimeout: 5000 });
  return new Promise((ok, fail) => {
    ws.once('open', () => ok(ws));
    ws.once('error', fail);
  });
}

it('listens on WSS only (SIP_WS_LISTEN off)', () => {
  expect(wssPort).toBeGreaterThan(0);
  expect(gw.wsPort).toBeUndefined();
});

it('registers over WSS with digest; the binding says wss and goes when the socket closes', async () => {
  const c = new WsSipClient(await openWss(), wssPort, user);
  const r = await c.register();
  expect(r.status).toBe(200);
  const list = async () => (await gw.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data as { transport: string; connection: string }[];
  const before = await list();
  expect(before).toHaveLength(1);
  expect(before[0].transport).toBe('wss');
  expect(before[0].connection).toMatch(/^wss-/);
  await c.close();
  expect(await untilNone(async () => (await list()).length)).toBe(0);
  await gw.expectAlive();
});

it('a plain-text handshake on the WSS port is not a WebSocket', async () => {
  await expect(upgradeStatus(wssPort)).rejects.toThrow();
  await gw.expectAlive();
});
