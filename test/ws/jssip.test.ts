/**
 * Interoperability with JsSIP itself (the library the /phone page is built on), run in Node with
 * `ws` as its WebSocket, against a real gateway process: JsSIP's own sanity checks drop any
 * response whose Via differs from what it wrote, so a REGISTER that succeeds proves the gateway
 * answered on the same socket without rewriting the Via. An INVITE for the user must reach JsSIP's
 * UA (its Request-URI is JsSIP's registered Contact; JsSIP answers 404 to anything else): JsSIP
 * declines it (486) here, as there is no WebRTC in Node; browser calls are tested in test/browser.
 * RTP: the gateway relays on 50300–50399.
 */
import JsSIP from 'jssip';
import WebSocket from 'ws';
import { newAccount, newDid, newTrunk, newUser, scenarioWith, sippClient, type User, disableTrunks } from '../calls/support';
import { freePort } from '../support/net';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { untilNone } from './ws-sip-client';

const TRUNK_IN_IP = '127.0.0.152';

/** Every frame JsSIP's socket received and sent, to see what went over the wire. */
const wire: { dir: 'in' | 'out'; text: string }[] = [];
class RecordingWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.on('message', (d) => wire.push({ dir: 'in', text: d.toString() }));
  }
  override send(data: unknown, ...rest: unknown[]): void {
    wire.push({ dir: 'out', text: String(data) });
    (super.send as (...a: unknown[]) => void)(data, ...rest);
  }
}

let gw: GatewayProcess;
let user: User;
let trunkId: string;

beforeAll(async () => {
  gw = await startGatewayProcess({ rtpMin: 50300, rtpMax: 50399 });
  const account = await newAccount(gw.asCallsGateway(), '10.000000');
  user = await newUser(gw.asCallsGateway(), account);
  trunkId = await newTrunk(gw.asCallsGateway(), { host: TRUNK_IN_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IN_IP}/32`] });
  // JsSIP's WebSocketInterface uses the browser's global WebSocket; `ws` has the same API.
  (globalThis as { WebSocket?: unknown }).WebSocket = RecordingWebSocket;
  JsSIP.debug.disable();
}, 60_000);

afterAll(async () => {
  delete (globalThis as { WebSocket?: unknown }).WebSocket;
  if (gw) {
    await disableTrunks(gw.asCallsGateway(), [trunkId]);
    await gw.stop();
  }
});

function startUa(): { ua: JsSIP.UA; registered: Promise<void> } {
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(`ws://127.0.0.1:${gw.wsPort}/`)],
    uri: `sip:${user.username}@127.0.0.1`,
    password: user.password,
    register: true,
    register_expires: 300,
    session_timers: true,
    user_agent: 'JsSIP in Node (test)',
  });
  const registered = new Promise<void>((ok, fail) => {
    ua.on('registered', () => ok());
    ua.on('registrationFailed', (e) => fail(new Error(`registration failed: ${e.cause} ${e.response?.status_code ?? ''}`)));
  });
  ua.start();
  return { ua, registered };
}

/** Stops the UA (un-REGISTER, then the socket closes) and waits for its socket to be closed. */
function stopUa(ua: JsSIP.UA): Promise<void> {
  return new Promise((ok) => {
    const timer = setTimeout(ok, 5000);
    ua.on('disconnected', () => {
      clearTimeout(timer);
      ok();
    });
    ua.stop();
  });
}

async function bindings(): Promise<{ transport: string; contact: string }[]> {
  return (await gw.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data;
}

it('JsSIP registers over WebSocket with digest; its binding goes when it stops', async () => {
  const { ua, registered } = startUa();
  await registered;
  // JsSIP drops a response whose Via is not its own: the 200 it accepted kept it, with received/rport added.
  expect(wire.find((w) => w.dir === 'in' && w.text.startsWith('SIP/2.0 200'))?.text).toMatch(/^Via: SIP\/2\.0\/WS \w+\.invalid;branch=z9hG4bK\w+;received=127\.0\.0\.1;rport=\d+\r$/m);
  const list = await bindings();
  expect(list).toHaveLength(1);
  expect(list[0].transport).toBe('ws');
  expect(list[0].contact).toMatch(/\.invalid;transport=ws>/);
  await stopUa(ua);
  expect(await untilNone(async () => (await bindings()).length)).toBe(0);
  await gw.expectAlive();
});

it('an INVITE for the user reaches JsSIP (Request-URI = its Contact, down its socket) and JsSIP answers it (488: no WebRTC in Node); the trunk hears 480', async () => {
  // JsSIP answers an INVITE it accepted as its own with 488 when there is no RTCPeerConnection; one
  // whose Request-URI is not its Contact or AOR would get 404, one without a session listener 405.
  (globalThis as { window?: unknown }).window = {};
  const { ua, registered } = startUa();
  ua.on('newRTCSession', () => undefined);
  await registered;
  const did = await newDid(gw.asCallsGateway(), user.id);
  const trunk = sippClient(gw.asCallsGateway(), { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: '480' }), ip: TRUNK_IN_IP, dialled: did, from: '+13125550178', rtp: 50399 });
  const run = await trunk.done;
  expect(run.code).toBe(0);
  const invite = wire.find((w) => w.dir === 'in' && w.text.startsWith('INVITE '));
  expect(invite?.text.split('\r\n')[0]).toMatch(/^INVITE sip:\w+@\w+\.invalid;transport=ws SIP\/2\.0$/);
  const callId = /^Call-ID: (.*)$/m.exec(invite!.text)![1];
  expect(wire.some((w) => w.dir === 'out' && w.text.startsWith('SIP/2.0 488') && w.text.includes(callId))).toBe(true);
  await stopUa(ua);
  delete (globalThis as { window?: unknown }).window;
  await gw.expectAlive();
});
