/**
 * The browser libraries over SIP_WSS_LISTEN (what README "Browser phone" tells an operator to
 * set): a gateway process with WSS only and a self-signed certificate made for the test (openssl),
 * which this Chromium accepts; /phone (JsSIP) and the SIP.js page register over wss://, the
 * binding says `wss`, and it goes when the page closes. Two pages then call each other over WSS.
 * RTP: the gateway relays on 54800-54898 (shared with phone-page.test.ts, whose gateway makes no call).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newAccount, newUser, type User } from '../calls/support';
import { type GatewayProcess, listeningPort, startGatewayProcess } from '../security/gateway-process';
import { eventually } from '../support/net';
import { closeSipjsServer, expectToHear, openPhone, type BrowserPhone } from './softphones';

jest.setTimeout(90_000);

describe('browsers over WSS (self-signed certificate)', () => {
  let gw: GatewayProcess;
  let dir: string;
  let server: string;
  let accountId: string;
  const open: BrowserPhone[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-browser-wss-'));
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    gw = await startGatewayProcess({ rtpMin: 54800, rtpMax: 54898, env: { SIP_WS_LISTEN: 'off', SIP_WSS_LISTEN: '127.0.0.1:0', TLS_CERT_FILE: cert, TLS_KEY_FILE: key } });
    server = `wss://127.0.0.1:${listeningPort(gw.log(), 'WSS')}/`;
    accountId = await newAccount(gw.asCallsGateway());
  }, 60_000);

  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await closeSipjsServer();
    await gw?.expectAlive();
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bindings = async (u: User) => (await gw.t.http().get(`/v1/users/${u.id}/registrations`).expect(200)).body.data as { transport: string }[];

  it('/phone (JsSIP) and SIP.js register over wss://, and their bindings go when the pages close', async () => {
    for (const library of ['jssip', 'sipjs'] as const) {
      const u = await newUser(gw.asCallsGateway(), accountId);
      const p = await openPhone(library, gw, 440, { server });
      open.push(p);
      await p.register(u);
      expect((await bindings(u)).map((b) => b.transport)).toEqual(['wss']);
      await p.browser.page.close({ runBeforeUnload: false });
      await eventually(async () => ((await bindings(u)).length === 0 ? true : undefined), 5_000, 100);
    }
  });

  it('a /phone page and a SIP.js page call each other over WSS and hear each other', async () => {
    const [ua, ub] = [await newUser(gw.asCallsGateway(), accountId), await newUser(gw.asCallsGateway(), accountId)];
    const a = await openPhone('jssip', gw, 440, { server });
    const b = await openPhone('sipjs', gw, 660, { server });
    open.push(a, b);
    await a.register(ua);
    await b.register(ub);
    await a.call(ub.username);
    await b.answer();
    await a.established();
    await b.established();
    await expectToHear(a, 660);
    await expectToHear(b, 440);
    await a.hangUp();
    await b.idle();
  });
});
