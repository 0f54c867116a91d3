/**
 * What the gateway's SIP endpoint answers on its own: methods nobody serves, hop limits, loops,
 * malformed messages, and a SHA-256 (RFC 8760) registration when the operator enables it.
 */
import { parseMessage } from '../../src/sip/parser';
import type { SipResponse } from '../../src/sip/message';
import { answerChallenge, challengeIn } from '../../src/sip/digest/client';
import { startTestApp, TestApp, unique } from '../support/app';
import { freePort } from '../support/net';
import { udpPeer, UdpPeer } from '../sip/support/sockets';

function request(method: string, peerPort: number, gwPort: number, extra: string[] = [], maxForwards = 70): string {
  return [
    `${method} sip:someone@127.0.0.1:${gwPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peerPort};branch=z9hG4bK-${unique('b')};rport`,
    `Max-Forwards: ${maxForwards}`,
    `From: <sip:tester@127.0.0.1>;tag=${unique('t')}`,
    `To: <sip:someone@127.0.0.1>`,
    `Call-ID: ${unique('c')}@127.0.0.1`,
    `CSeq: 1 ${method}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function exchange(peer: UdpPeer, gwPort: number, text: string): Promise<SipResponse> {
  await peer.send(text, gwPort);
  for (;;) {
    const parsed = parseMessage(await peer.next(3000));
    if (!parsed.ok) throw new Error(parsed.error.reason);
    if (parsed.value.kind === 'response' && parsed.value.status >= 200) return parsed.value;
  }
}

describe('SIP endpoint answers', () => {
  let t: TestApp;
  let port: number;
  let peer: UdpPeer;
  beforeAll(async () => {
    port = await freePort();
    t = await startTestApp({ SIP_LISTEN: `127.0.0.1:${port}`, SIP_DIGEST_ALGORITHMS: 'SHA-256,MD5' });
    peer = await udpPeer();
  });
  afterAll(async () => {
    await peer.close();
    await t.close();
  });

  it('answers a known method it does not serve with 405 and Allow', async () => {
    const r = await exchange(peer, port, request('SUBSCRIBE', peer.port, port));
    expect(r.status).toBe(405);
    expect(r.headers.filter((h) => h.name === 'Allow').map((h) => h.value).join(',')).toMatch(/REGISTER/);
  });

  it('answers an unknown method with 501', async () => {
    expect((await exchange(peer, port, request('FROBNICATE', peer.port, port))).status).toBe(501);
  });

  it('answers Max-Forwards 0 with 483', async () => {
    const r = await exchange(peer, port, request('OPTIONS', peer.port, port, [], 0));
    expect(r.status).toBe(483);
  });

  it('detects a request that already passed through the gateway (482)', async () => {
    const text = request('OPTIONS', peer.port, port).replace('Max-Forwards: 70', `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKloop1\r\nMax-Forwards: 70`);
    expect((await exchange(peer, port, text)).status).toBe(482);
  });

  it('answers a malformed request with 400 and the reason, and keeps serving', async () => {
    const bad = request('OPTIONS', peer.port, port).replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS');
    await peer.send(bad, port);
    // The 400 echoes the broken CSeq, so read its status line as text.
    const statusLine = (await peer.next(3000)).toString('latin1').split('\r\n')[0];
    expect(statusLine).toMatch(/^SIP\/2\.0 400 .*CSeq/);
    expect((await exchange(peer, port, request('OPTIONS', peer.port, port))).status).toBe(200);
  });

  it('registers with SHA-256 digest (RFC 8760) when the operator offers it first', async () => {
    const acc = (await t.http().post('/v1/accounts').send({ name: 'sha', currency: 'USD' }).expect(201)).body.id;
    const username = unique('sha');
    const user = (await t.http().post('/v1/users').send({ username, password: 'sha-256-pass', accountId: acc }).expect(201)).body;
    const register = (cseq: number, auth?: string) =>
      [
        `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-${unique('r')};rport`,
        'Max-Forwards: 70',
        `From: <sip:${username}@127.0.0.1>;tag=regtag`,
        `To: <sip:${username}@127.0.0.1>`,
        `Call-ID: reg-${username}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <sip:${username}@127.0.0.1:${peer.port}>`,
        'Expires: 300',
        ...(auth ? [`Authorization: ${auth}`] : []),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const challenge = await exchange(peer, port, register(1));
    expect(challenge.status).toBe(401);
    const c = challengeIn(challenge)!;
    expect(c.algorithm).toBe('SHA-256');
    const auth = answerChallenge(c, { username, secret: { password: 'sha-256-pass' }, method: 'REGISTER', uri: `sip:127.0.0.1:${port}` });
    const ok = await exchange(peer, port, register(2, auth));
    expect(ok.status).toBe(200);
    const list = (await t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data;
    expect(list).toHaveLength(1);
    // Replaying the same credentials (same nonce and nonce-count) is refused.
    const replay = await exchange(peer, port, register(3, auth));
    expect(replay.status).toBe(401);
  });
});
