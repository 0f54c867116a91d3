/**
 * SIP over WebSocket (RFC 7118) at the edge, against a real gateway process: the upgrade checks
 * (subprotocol, origin, path, per-IP cap), hostile frames (oversize, binary garbage, text that is
 * not SIP, half a message, a thousand CRLF keep-alives, a REGISTER flood), each followed by a check
 * that the same process still answers, over UDP and over a fresh WebSocket; and registration with
 * digest over a WebSocket, keyed by +sip.instance/reg-id, removed the moment the socket closes.
 */
import WebSocket from 'ws';
import { newAccount, newUser, type User } from '../calls/support';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { openSocket, untilNone, upgradeStatus, WsSipClient } from './ws-sip-client';

const MAX_PER_IP = 6;

let gw: GatewayProcess;
let wsPort: number;
let user: User;

beforeAll(async () => {
  gw = await startGatewayProcess({
    rtpMin: 50000,
    rtpMax: 50098,
    env: { SIP_WS_MAX_CONNECTIONS_PER_IP: String(MAX_PER_IP), SIP_RATE_LIMIT_PER_SECOND: '20', SIP_WS_PING_SECONDS: '1' },
  });
  wsPort = gw.wsPort!;
  const account = await newAccount(gw.asCallsGateway());
  user = await newUser(gw.asCallsGateway(), account);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
});

/** The gateway answers OPTIONS over a new WebSocket too (not only over UDP). */
async function expectWsAlive(): Promise<void> {
  const c = await WsSipClient.connect(wsPort, user);
  try {
    c.send(
      [
        'OPTIONS sip:gateway.test SIP/2.0',
        `Via: ${c.via()}`,
        'Max-Forwards: 70',
        `From: <sip:probe@gateway.test>;tag=${c.fromTag}`,
        'To: <sip:gateway.test>',
        `Call-ID: ${c.callId}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const r = await c.final(c.callId, 1);
    expect(r.status).toBe(200);
  } finally {
    await c.close();
  }
}

function closed(ws: WebSocket, ms = 5000): Promise<{ code: number }> {
  return new Promise((ok, fail) => {
    if (ws.readyState === WebSocket.CLOSED) return ok({ code: 1006 });
    const timer = setTimeout(() => fail(new Error('socket not closed')), ms);
    ws.once('close', (code) => {
      clearTimeout(timer);
      ok({ code });
    });
  });
}

/** The gateway's log once it contains `what` (its stdout reaches us a moment after the socket's events). */
async function logged(what: string | RegExp, ms = 3000): Promise<string> {
  const has = () => (typeof what === 'string' ? gw.log().includes(what) : what.test(gw.log()));
  for (const end = Date.now() + ms; !has() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return gw.log();
}

async function registrations(): Promise<Record<string, unknown>[]> {
  const r = await gw.t.http().get(`/v1/users/${user.id}/registrations`).expect(200);
  return r.body.data as Record<string, unknown>[];
}

describe('the WebSocket upgrade', () => {
  it('logs the bound port, so a port-0 listener is discoverable', () => {
    expect(wsPort).toBeGreaterThan(0);
  });

  it('refuses a connection without the sip subprotocol, or with another one only (426)', async () => {
    expect(await upgradeStatus(wsPort, { protocol: null })).toBe(426);
    expect(await upgradeStatus(wsPort, { protocol: 'chat' })).toBe(426);
    expect(await upgradeStatus(wsPort, { protocol: ['chat', 'sip'] })).toBe('open');
    expect(await logged('upgrade refused: Upgrade Required')).toContain('upgrade refused: Upgrade Required');
    await gw.expectAlive();
  });

  it('answers the sip subprotocol when offered', async () => {
    const ws = await openSocket(wsPort, { protocol: ['xmpp', 'sip'] });
    expect(ws.protocol).toBe('sip');
    ws.close();
  });

  it('refuses a page of another site by its Origin (403), accepts same-host pages and clients without Origin', async () => {
    expect(await upgradeStatus(wsPort, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(wsPort, { origin: 'http://127.0.0.2:3000' })).toBe(403);
    expect(await upgradeStatus(wsPort, { origin: 'http://127.0.0.1:3000' })).toBe('open');
    expect(await upgradeStatus(wsPort, {})).toBe('open');
    expect(await logged('Origin https://evil.example is not this host')).toContain('Origin https://evil.example is not this host');
    await gw.expectAlive();
  });

  it('refuses another path (404) and answers plain HTTP with 426', async () => {
    expect(await upgradeStatus(wsPort, { path: '/admin' })).toBe(404);
    const r = await fetch(`http://127.0.0.1:${wsPort}/`);
    expect(r.status).toBe(426);
    await gw.expectAlive();
  });

  it(`closes connections past ${MAX_PER_IP} from one IP, and takes new ones once some close`, async () => {
    const held: WebSocket[] = [];
    try {
      for (let i = 0; i < MAX_PER_IP; i++) held.push(await openSocket(wsPort));
      await expect(openSocket(wsPort)).rejects.toThrow();
      expect(await logged('too many WS connections from this address')).toContain('too many WS connections from this address');
      held.pop()!.close();
      await new Promise((r) => setTimeout(r, 300));
      held.push(await openSocket(wsPort));
    } finally {
      // Left open, they would hold this IP's whole share for the tests after this one.
      await Promise.all(held.map((ws) => closed((ws.close(), ws)).catch(() => ws.terminate())));
    }
    await gw.expectAlive();
    await expectWsAlive();
  });
});

describe('keep-alive', () => {
  it('pings every SIP_WS_PING_SECONDS (1 s here) and terminates a peer that does not answer (no pong)', async () => {
    const mute = new WebSocket(`ws://127.0.0.1:${wsPort}/`, 'sip', { autoPong: false });
    const pings: number[] = [];
    mute.on('ping', () => pings.push(Date.now()));
    await new Promise((ok, fail) => {
      mute.once('open', ok);
      mute.once('error', fail);
    });
    const answering = await openSocket(wsPort);
    const { code } = await closed(mute, 10_000);
    expect(code).toBe(1006);
    expect(pings.length).toBeGreaterThanOrEqual(1);
    expect(await logged('WS peer missed a pong; connection closed')).toContain('WS peer missed a pong; connection closed');
    // A peer that answers pings stays.
    expect(answering.readyState).toBe(WebSocket.OPEN);
    answering.close();
    await gw.expectAlive();
  });
});

describe('hostile frames', () => {
  it('closes the connection on a frame over the size limit (1009) and logs it', async () => {
    const ws = await openSocket(wsPort);
    const done = closed(ws);
    ws.send('REGISTER sip:gateway.test SIP/2.0\r\n' + 'X-Pad: ' + 'a'.repeat(70_000) + '\r\n\r\n');
    expect((await done).code).toBe(1009);
    expect(await logged(/Max payload size exceeded; connection closed/)).toMatch(/Max payload size exceeded; connection closed/);
    await gw.expectAlive();
    await expectWsAlive();
  });

  it('drops binary garbage and text that is not SIP, logs it, and keeps the connection', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    c.ws.send(Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x80, 0x81]));
    c.send('hello, is this the chat server?');
    c.send('{"jsonrpc":"2.0","method":"call"}');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(await logged(/"bad SIP input"/)).toMatch(/"bad SIP input"/);
    await c.close();
    await gw.expectAlive();
    await expectWsAlive();
  });

  it('answers half a SIP request with 400 (a frame is a whole message: no reassembly)', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    const full = c.registerUnauthenticated();
    c.send(full.slice(0, Math.floor(full.length / 2)));
    const r = await c.next((m) => m.kind === 'response');
    expect(r.kind === 'response' && r.status).toBe(400);
    await c.close();
    await gw.expectAlive();
  });

  it('takes 1,000 CRLF keep-alives as keep-alives: no answer, no log line, the connection stays', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    const before = gw.logLines().length;
    for (let i = 0; i < 1000; i++) c.send(i % 2 ? '\r\n' : '\r\n\r\n');
    await new Promise((r) => setTimeout(r, 500));
    expect(c.received).toHaveLength(0);
    expect(gw.logLines().slice(before).filter((l) => l.msg === 'bad SIP input')).toHaveLength(0);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    // And the same connection still carries SIP.
    expect((await c.register()).status).toBe(200);
    await c.close();
    await gw.expectAlive();
  });

  it('applies the per-source rate limit to a REGISTER flood over one WebSocket (503), and survives', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    for (let i = 0; i < 300; i++) c.send(c.registerUnauthenticated());
    await new Promise((r) => setTimeout(r, 1500));
    const statuses = c.received.map((r) => (r.message?.kind === 'response' ? r.message.status : 0));
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThan(0);
    // Past four times the rate, packets are dropped unanswered: fewer answers than requests.
    expect(statuses.length).toBeLessThan(300);
    await c.close();
    await gw.expectAlive();
    // The flood came from 127.0.0.1; its penalty lasts a second or so.
    await new Promise((r) => setTimeout(r, 2500));
    await expectWsAlive();
  });
});

describe('registration over a WebSocket', () => {
  it('registers with digest; the answer keeps our Via as written, with received and rport added', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    const r = await c.register();
    expect(r.status).toBe(200);
    const raw = c.received.map((x) => x.text).find((t) => t.startsWith('SIP/2.0 200'))!;
    const via = /^Via: (.*)$/m.exec(raw)![1];
    expect(via).toMatch(new RegExp(`^SIP/2.0/WS ${c.host.replace('.', '\\.')};branch=z9hG4bK\\w+;received=127\\.0\\.0\\.1;rport=\\d+$`));
    const bindings = await registrations();
    const mine = bindings.filter((b) => (b.uri as string).includes(c.contactUser));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ transport: 'ws', sourceAddress: '127.0.0.1' });
    expect(mine[0].node).toEqual(expect.any(String));
    expect(mine[0].connection).toMatch(/^ws-/);
    await c.close();
  });

  it('removes the binding the moment the socket closes', async () => {
    const c = await WsSipClient.connect(wsPort, user);
    expect((await c.register()).status).toBe(200);
    expect((await registrations()).some((b) => (b.uri as string).includes(c.contactUser))).toBe(true);
    await c.close();
    // The close is handled on the gateway's side as its socket sees it: no expiry involved (300 s).
    expect(await untilNone(async () => (await registrations()).filter((b) => (b.uri as string).includes(c.contactUser)).length, 50)).toBe(0);
    expect(await logged('WebSocket closed: its bindings removed')).toContain('WebSocket closed: its bindings removed');
  });

  it('keys a binding by +sip.instance and reg-id: the same instance with a new contact URI replaces it', async () => {
    const a = await WsSipClient.connect(wsPort, user);
    expect((await a.register()).status).toBe(200);
    // The "same browser" on a new socket after a reconnect: same instance id, a new random contact.
    const b = await WsSipClient.connect(wsPort, user);
    Object.defineProperty(b, 'instance', { value: a.instance });
    expect((await b.register()).status).toBe(200);
    const mine = (await registrations()).filter((x) => (x.contact as string).includes(a.instance.slice(1, -1)));
    expect(mine).toHaveLength(1);
    expect(mine[0].uri).toContain(b.contactUser);
    // Closing the old socket must not remove the binding the new one now owns.
    await a.close();
    await new Promise((r) => setTimeout(r, 300));
    expect((await registrations()).some((x) => (x.uri as string).includes(b.contactUser))).toBe(true);
    await b.close();
    await gw.expectAlive();
  });

  it('refuses a wrong password (401 again, no binding)', async () => {
    const c = await WsSipClient.connect(wsPort, { username: user.username, password: 'wrong-password' });
    const r = await c.register();
    expect([401, 403]).toContain(r.status);
    expect((await registrations()).some((b) => (b.uri as string).includes(c.contactUser))).toBe(false);
    await c.close();
    await gw.expectAlive();
  });
});
