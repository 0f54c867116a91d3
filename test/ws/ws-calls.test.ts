/**
 * Calls of a user registered over a WebSocket (RFC 7118), against a real gateway process:
 * the user calls a number routed to a SIPp trunk, a SIPp trunk calls the user's DID, BYE both ways,
 * a session refresh (RFC 4028 UPDATE without SDP) in the dialog on either side, 422 for a session
 * interval under 90 s, and a call forked to the user's WebSocket and UDP bindings. A WebSocket
 * caller here offers plain RTP/AVP from a UDP socket (the gateway takes either). A WebSocket callee
 * is offered WebRTC media by the gateway (docs/calls.md, Browsers), so it answers as a browser does:
 * a real WebRTC peer (test/webrtc-media/browser-peer.ts) gives the answer SDP (and the offer, browser
 * to browser) and carries the media over DTLS-SRTP.
 *
 * Addresses: gateway, users and outbound trunks on 127.0.0.1; the inbound trunk sends from
 * 127.0.0.151 (on no other test file's allow-list). RTP: the gateway relays on 50100–50299; the
 * WebRTC peers bind 50600–50699.
 */
import type { SipRequest } from '../../src/sip';
import { rtpPacket, UdpPeer } from '../media/udp-peer';
import { BrowserPeer, rtp } from '../webrtc-media/browser-peer';
import {
  answered,
  type CallsGateway,
  disableTrunks,
  exchangeRtp,
  expectedCost,
  expectSuccess,
  newAccount,
  newDestination,
  newDid,
  newRoute,
  newTrunk,
  newUser,
  registerDevice,
  scenarioWith,
  sleep,
  type Sipp,
  sippClient,
  sippServer,
  TARIFF,
  type User,
  waitForCdrs,
} from '../calls/support';
import { freePort } from '../support/net';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { answerIncoming, respond, untilNone, WsSipClient, wsCall } from './ws-sip-client';

const TRUNK_IN_IP = '127.0.0.151';
const CALLER = '+13125550177';
const TOPUP = '10.000000';

let gw: GatewayProcess;
let cg: CallsGateway;
let inboundTrunk: string;
const trunks: string[] = [];
const peers: UdpPeer[] = [];
const clients: WsSipClient[] = [];
const browsers: BrowserPeer[] = [];

beforeAll(async () => {
  gw = await startGatewayProcess({ rtpMin: 50100, rtpMax: 50299, env: { CALL_RING_TIMEOUT_SECONDS: '8' } });
  cg = gw.asCallsGateway();
  inboundTrunk = await newTrunk(cg, { host: TRUNK_IN_IP, port: await freePort(), inboundAddresses: [`${TRUNK_IN_IP}/32`] });
  trunks.push(inboundTrunk);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(peers.map((p) => p.close()));
  browsers.forEach((b) => b.close());
  if (gw) {
    await disableTrunks(cg, trunks);
    await gw.stop();
  }
});

async function peer(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  peers.push(p);
  return p;
}

async function wsUser(user: User): Promise<WsSipClient> {
  const c = await WsSipClient.connect(gw.wsPort!, user);
  clients.push(c);
  expect((await c.register()).status).toBe(200);
  return c;
}

/** A browser's WebRTC stack (node-datachannel), closed after the file. */
function browser(): BrowserPeer {
  const b = new BrowserPeer({ portMin: 50600, portMax: 50699 });
  browsers.push(b);
  return b;
}

const FROM_CALLER = 0xa5;
const FROM_CALLEE = 0x5a;
/** The next RTP sequence number of each peer: SRTP refuses a replayed one, so a second exchange goes on from the first. */
const nextSeq = new WeakMap<BrowserPeer, number>();
function frame(b: BrowserPeer, byte: number): Buffer {
  const seq = nextSeq.get(b) ?? 100;
  nextSeq.set(b, seq + 1);
  return rtp(seq, b.ssrc, Buffer.alloc(160, byte));
}
const carrying = (packets: Buffer[], byte: number) => packets.filter((p) => p.length === 172 && p.subarray(12).every((b) => b === byte)).length;

/**
 * 25 frames each way between a WebRTC peer and a plain RTP socket (sending to the gateway's `target`),
 * once the peer's DTLS-SRTP is up; counts the frames that arrived with the other side's payload.
 */
async function exchangeWithBrowser(b: BrowserPeer, udp: UdpPeer, target: { port: number }): Promise<{ toBrowser: number; toUdp: number }> {
  await b.opened();
  b.received.length = 0;
  udp.received.length = 0;
  for (let i = 0; i < 25; i++) {
    b.send(frame(b, FROM_CALLER));
    await udp.send(rtpPacket(5000 + i, { ssrc: 0x22222222, payload: Buffer.alloc(160, FROM_CALLEE) }), target.port);
    await sleep(20);
  }
  await sleep(300);
  return { toBrowser: carrying(b.received, FROM_CALLEE), toUdp: carrying(udp.received.map((r) => r.data), FROM_CALLER) };
}

/** 25 frames each way between two WebRTC peers through the gateway (both DTLS-SRTP with it). */
async function exchangeBetweenBrowsers(caller: BrowserPeer, callee: BrowserPeer): Promise<{ toCallee: number; toCaller: number }> {
  await Promise.all([caller.opened(), callee.opened()]);
  caller.received.length = 0;
  callee.received.length = 0;
  for (let i = 0; i < 25; i++) {
    caller.send(frame(caller, FROM_CALLER));
    callee.send(frame(callee, FROM_CALLEE));
    await sleep(20);
  }
  await sleep(300);
  return { toCallee: carrying(callee.received, FROM_CALLER), toCaller: carrying(caller.received, FROM_CALLEE) };
}

const isWebRtc = (body: Buffer | string) => /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF/m.test(body.toString()) && /^a=fingerprint:/m.test(body.toString());
const iceUfrag = (body: Buffer | string) => /^a=ice-ufrag:(\S+)/m.exec(body.toString())?.[1];

function audioPort(body: Buffer | string): number {
  return Number(/m=audio (\d+)/.exec(body.toString())![1]);
}

/** An outbound trunk (SIPp answering, then waiting for BYE) routed for a new number, and the RTP sockets of both ends. */
async function trunkCall(pauseMs: number): Promise<{ accountId: string; user: User; trunkId: string; dest: string; trunk: Sipp; wsRtp: UdpPeer; trunkRtp: UdpPeer }> {
  const accountId = await newAccount(cg, TOPUP);
  const user = await newUser(cg, accountId);
  const trunkPort = await freePort();
  const trunkId = await newTrunk(cg, { port: trunkPort });
  trunks.push(trunkId);
  const dest = newDestination();
  await newRoute(cg, dest, trunkId);
  const [wsRtp, trunkRtp] = [await peer(), await peer()];
  const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: trunkRtp.port }, pauseMs });
  return { accountId, user, trunkId, dest, trunk, wsRtp, trunkRtp };
}

const header = (m: SipRequest, name: string) => m.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

it('a WebSocket user calls a number on a SIPp trunk: audio both ways, a session refresh by UPDATE, BYE from the browser, a rated CDR', async () => {
  const { accountId, user, trunkId, dest, trunk, wsRtp, trunkRtp } = await trunkCall(200);

  const c = await wsUser(user);
  const { answer, dialog } = await wsCall(c, dest, wsRtp.port, { sessionExpires: 90 });
  expect(answer.status).toBe(200);
  // Our Contact says WS; the browser keeps sending on its socket (RFC 7118 §5.3).
  expect(answer.headers.find((h) => h.name === 'Contact')?.value).toMatch(new RegExp(`;transport=ws>$`));
  // RFC 4028: the caller asked for a 90 s session with `Supported: timer`: it is the refresher.
  expect(answer.headers.find((h) => h.name === 'Session-Expires')?.value).toBe('90;refresher=uac');
  const toTrunk = await answered(trunk);
  const media = await exchangeRtp(wsRtp, { port: audioPort(answer.body) }, trunkRtp, toTrunk);
  expect(media.toCallee).toBeGreaterThanOrEqual(20);
  expect(media.toCaller).toBeGreaterThanOrEqual(20);

  // JsSIP's refresh: UPDATE without SDP, answered by the gateway itself (the trunk knows nothing of it).
  const refreshed = await dialog.request('UPDATE', { headers: ['Session-Expires: 90;refresher=uac', 'Supported: timer'] });
  expect(refreshed.status).toBe(200);
  expect(refreshed.headers.find((h) => h.name === 'Session-Expires')?.value).toBe('90;refresher=uac');
  const again = await dialog.request('UPDATE', { headers: ['Session-Expires: 90;refresher=uac', 'Supported: timer'] });
  expect(again.status).toBe(200);

  const bye = await dialog.request('BYE');
  expect(bye.status).toBe(200);
  const run = await expectSuccess(trunk, 'trunk');
  expect(run.code).toBe(0);

  const cdrs = await waitForCdrs(cg, { accountId }, 1);
  expect(cdrs).toHaveLength(1);
  expect(cdrs[0]).toMatchObject({ direction: 'outbound', userId: user.id, trunkId, callee: dest, disposition: 'answered', sipCode: 200, hangupBy: 'caller', status: 'rated' });
  expect(cdrs[0].cost).toBe(expectedCost(TARIFF.us, cdrs[0].billableSeconds));
});

it('a SIPp trunk calls the DID of a WebSocket user: the INVITE goes down the socket to the registered Contact; refresh from the browser; BYE from the trunk', async () => {
  const accountId = await newAccount(cg, TOPUP);
  const user = await newUser(cg, accountId);
  const did = await newDid(cg, user.id);
  const c = await wsUser(user);
  const trunkRtp = await peer();
  const b = browser();
  // The trunk hangs up 2.5 s after the answer.
  const trunk = sippClient(cg, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 2500 });

  const { invite, dialog } = await answerIncoming(c, (offer) => b.answer(offer));
  // The socket's binding is a browser: it is offered WebRTC media.
  expect(isWebRtc(invite.body)).toBe(true);
  expect(invite.headers.find((h) => h.name === 'Via')?.value).toMatch(/^SIP\/2\.0\/WS 127\.0\.0\.1:\d+;branch=z9hG4bK/);
  expect(c.received.find((r) => r.text.startsWith('INVITE '))!.text.split('\r\n')[0]).toBe(`INVITE sip:${c.contactUser}@${c.host};transport=ws SIP/2.0`);
  expect(header(invite, 'Contact')).toMatch(new RegExp(`^<sip:gw@127\\.0\\.0\\.1:${gw.wsPort};transport=ws>$`));
  const toTrunk = await answered(trunk);
  const media = await exchangeWithBrowser(b, trunkRtp, toTrunk);
  expect(media.toBrowser).toBeGreaterThanOrEqual(20);
  expect(media.toUdp).toBeGreaterThanOrEqual(20);

  // The browser is the callee here and refreshes its own dialog with the gateway.
  const refreshed = await dialog.request('UPDATE', { headers: ['Session-Expires: 120;refresher=uac', 'Supported: timer'] });
  expect(refreshed.status).toBe(200);
  expect(refreshed.headers.find((h) => h.name === 'Session-Expires')?.value).toBe('120;refresher=uac');

  const bye = await c.next<SipRequest>((m) => m.kind === 'request' && m.method === 'BYE' && m.callId === invite.callId, 10_000);
  respond(c, bye, 200, 'OK');
  await expectSuccess(trunk, 'inbound trunk');

  const cdrs = await waitForCdrs(cg, { userId: user.id }, 1);
  expect(cdrs).toHaveLength(1);
  expect(cdrs[0]).toMatchObject({ direction: 'inbound', trunkId: inboundTrunk, userId: user.id, caller: CALLER, callee: did, disposition: 'answered', sipCode: 200, hangupBy: 'caller', status: 'rated', cost: '0.000000' });
});

it('refuses a session interval under 90 s with 422 and Min-SE: 90 (RFC 4028 §6)', async () => {
  const accountId = await newAccount(cg, TOPUP);
  const user = await newUser(cg, accountId);
  const c = await wsUser(user);
  const rtp = await peer();
  const { answer } = await wsCall(c, newDestination(), rtp.port, { sessionExpires: 30 });
  expect(answer.status).toBe(422);
  expect(answer.reason).toBe('Session Interval Too Small');
  expect(answer.headers.find((h) => h.name === 'Min-SE')?.value).toBe('90');
  await gw.expectAlive();
});

it('a call to a user forks to its WebSocket and its UDP binding: the browser answers, the softphone is cancelled', async () => {
  const accountId = await newAccount(cg, TOPUP);
  const user = await newUser(cg, accountId);
  const did = await newDid(cg, user.id);
  const udpPort = await freePort();
  await registerDevice(cg, user, udpPort);
  const c = await wsUser(user);
  const regs = (await cg.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data as { transport: string }[];
  expect(regs.map((r) => r.transport).sort()).toEqual(['udp', 'ws']);

  const trunkRtp = await peer();
  const b = browser();
  const softphone = await sippServer({ scenario: 'uas-ring-cancel.xml', port: udpPort });
  const trunk = sippClient(cg, { scenario: 'trunk-uac.xml', ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port, pauseMs: 1500 });
  // Let the softphone ring first, so the CANCEL proves the fork reached it.
  await new Promise((r) => setTimeout(r, 500));
  const { invite } = await answerIncoming(c, (offer) => b.answer(offer));
  expect(isWebRtc(invite.body)).toBe(true);
  const toTrunk = await answered(trunk);
  await expectSuccess(softphone, 'the UDP softphone (rang, then cancelled)');
  const media = await exchangeWithBrowser(b, trunkRtp, toTrunk);
  expect(media.toBrowser).toBeGreaterThanOrEqual(20);
  expect(media.toUdp).toBeGreaterThanOrEqual(20);
  const bye = await c.next<SipRequest>((m) => m.kind === 'request' && m.method === 'BYE' && m.callId === invite.callId, 10_000);
  respond(c, bye, 200, 'OK');
  await expectSuccess(trunk, 'inbound trunk');
  const cdrs = await waitForCdrs(cg, { userId: user.id }, 1);
  expect(cdrs.filter((x) => x.disposition === 'answered')).toHaveLength(1);
});

it('a WebSocket user whose socket closed is offline at once: the trunk hears 480', async () => {
  const accountId = await newAccount(cg, TOPUP);
  const user = await newUser(cg, accountId);
  const did = await newDid(cg, user.id);
  const c = await wsUser(user);
  await c.close();
  expect(await untilNone(async () => ((await cg.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data as unknown[]).length)).toBe(0);
  const trunkRtp = await peer();
  const trunk = sippClient(cg, { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: '480' }), ip: TRUNK_IN_IP, dialled: did, from: CALLER, rtp: trunkRtp.port });
  const run = await trunk.done;
  expect(run.code).toBe(0);
  await gw.expectAlive();
});

it('two WebSocket users call each other: a re-INVITE with SDP and an INFO reach the other browser and their answers come back; BYE from the callee', async () => {
  const accountId = await newAccount(cg, TOPUP);
  const [alice, bob] = [await newUser(cg, accountId), await newUser(cg, accountId)];
  const [a, b] = [await wsUser(alice), await wsUser(bob)];
  const [aPeer, bPeer] = [browser(), browser()];
  const answering = answerIncoming(b, (offer) => bPeer.answer(offer));
  const { answer, dialog } = await wsCall(a, bob.username, await aPeer.offer());
  expect(answer.status).toBe(200);
  expect(isWebRtc(answer.body)).toBe(true);
  aPeer.accept(answer.body.toString());
  const { invite, dialog: bobDialog } = await answering;
  expect(isWebRtc(invite.body)).toBe(true);
  const media = await exchangeBetweenBrowsers(aPeer, bPeer);
  expect(media.toCallee).toBeGreaterThanOrEqual(20);
  expect(media.toCaller).toBeGreaterThanOrEqual(20);

  // Alice re-offers (a re-INVITE with her current description, as a browser re-offers for hold or
  // a session refresh with SDP; same ICE credentials and fingerprint: an ICE restart gets 488):
  // Bob's browser gets it down its socket and answers with its own current description.
  const { text, seq } = dialog.text('INVITE', { body: aPeer.localSdp });
  a.send(text);
  const reinvite = await b.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INVITE' && m.callId === invite.callId);
  expect(reinvite.to.params.get('tag')).toBe(bobDialog.localTag);
  expect(isWebRtc(reinvite.body)).toBe(true);
  // The gateway's leg towards Bob keeps its ICE session (no restart towards Bob either).
  expect(iceUfrag(reinvite.body)).toBe(iceUfrag(invite.body));
  respond(b, reinvite, 200, 'OK', bPeer.localSdp);
  await b.next((m) => m.kind === 'request' && m.method === 'ACK' && m.callId === invite.callId);
  const ok = await a.final(dialog.callId, seq);
  expect(ok.status).toBe(200);
  expect(iceUfrag(ok.body)).toBe(iceUfrag(answer.body));
  a.send(dialog.text('ACK', { seq }).text);
  const after = await exchangeBetweenBrowsers(aPeer, bPeer);
  expect(after.toCallee).toBeGreaterThanOrEqual(20);
  expect(after.toCaller).toBeGreaterThanOrEqual(20);

  // INFO (DTMF as JsSIP sends it with `mode: 'INFO'`) reaches the other browser with its body, and its answer comes back.
  const infoDone = dialog.request('INFO', { headers: ['Content-Type: application/dtmf-relay'], body: 'Signal=5\r\nDuration=160\r\n' });
  const info = await b.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INFO' && m.callId === invite.callId);
  expect(info.body.toString()).toBe('Signal=5\r\nDuration=160\r\n');
  expect(header(info, 'Content-Type')).toBe('application/dtmf-relay');
  respond(b, info, 200, 'OK');
  expect((await infoDone).status).toBe(200);

  const byeDone = bobDialog.request('BYE');
  const bye = await a.next<SipRequest>((m) => m.kind === 'request' && m.method === 'BYE' && m.callId === dialog.callId);
  respond(a, bye, 200, 'OK');
  expect((await byeDone).status).toBe(200);
  const cdrs = await waitForCdrs(cg, { accountId }, 1);
  expect(cdrs).toHaveLength(1);
  expect(cdrs[0]).toMatchObject({ direction: 'internal', userId: bob.id, disposition: 'answered', sipCode: 200, hangupBy: 'callee', status: 'rated' });
});

it("the caller's browser closes its socket mid-call: the trunk gets BYE at once, the CDR says the caller hung up", async () => {
  const { accountId, user, dest, trunk, wsRtp } = await trunkCall(100);
  const c = await wsUser(user);
  const { answer } = await wsCall(c, dest, wsRtp.port);
  expect(answer.status).toBe(200);
  await answered(trunk);
  await c.close();
  await expectSuccess(trunk, 'trunk (BYE after the browser left)');
  const cdrs = await waitForCdrs(cg, { accountId }, 1);
  expect(cdrs[0]).toMatchObject({ direction: 'outbound', disposition: 'answered', hangupBy: 'caller', sipReason: 'WebSocket closed', status: 'rated' });
  expect(gw.log()).toContain('caller WebSocket closed: call ended');
});
