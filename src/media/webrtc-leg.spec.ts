/**
 * A relay session with a WebRTC side (webrtc-leg.ts behind relay-session.ts), against a real
 * node-datachannel peer standing in for the browser: the direction rules (mirror the offer, keep
 * the far end's direction) and hold through a re-offer; a browser callee's early connectivity checks
 * (the libdatachannel race of webrtc-leg.ts). Ports: relay 52600–52699, peer 52700–52799.
 */
import { BrowserPeer, rtp, toneFrame } from '../../test/webrtc-media/browser-peer';
import { sdpFor } from '../../test/media/udp-peer';
import { MediaRelay } from './media-relay';
import type { RelaySession } from './relay-session';

let relay: MediaRelay;
const open: { session?: RelaySession; peer?: BrowserPeer }[] = [];

beforeAll(() => {
  relay = new MediaRelay({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', portMin: 52600, portMax: 52699, inactivityTimeoutMs: 0, allowLoopback: true });
});

afterEach(async () => {
  for (const o of open.splice(0)) {
    o.peer?.close();
    await o.session?.close();
  }
});

afterAll(() => relay.close());

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const direction = (sdp: string) => /^a=(sendrecv|sendonly|recvonly|inactive)\r?$/m.exec(sdp)?.[1];

async function browserCall(peerDirection: 'SendRecv' | 'RecvOnly') {
  const peer = new BrowserPeer({ portMin: 52700, portMax: 52799, direction: peerDirection });
  const session = await relay.openSession(`t${Math.random()}`);
  open.push({ peer, session });
  const offer = await peer.offer();
  const toTrunk = await session.acceptWebRtc('a', offer);
  return { peer, session, offer, toTrunk };
}

describe('a WebRTC side of a relay session', () => {
  it('mirrors a recvonly browser: the trunk is offered recvonly, the browser is answered sendonly', async () => {
    const { session, toTrunk } = await browserCall('RecvOnly');
    expect(direction(toTrunk)).toBe('recvonly');
    const toBrowser = session.relaySdp('b', sdpFor(40000, ['a=sendonly']), null).sdp;
    expect(direction(toBrowser)).toBe('sendonly');
    expect(session.kind('a')).toBe('webrtc');
    expect(session.kind('b')).toBe('rtp');
  });

  it('passes a browser hold re-offer to the trunk as sendonly and the trunk\'s recvonly back; an ICE restart is refused', async () => {
    const { peer, session, offer } = await browserCall('SendRecv');
    const toBrowser = session.relaySdp('b', sdpFor(40000), null).sdp;
    expect(direction(toBrowser)).toBe('sendrecv');
    peer.accept(toBrowser);
    const hold = session.relaySdp('a', offer.replace(/^a=sendrecv\r?$/m, 'a=sendonly'));
    expect(direction(hold.sdp)).toBe('sendonly');
    expect(hold.sdp).toMatch(/^m=audio \d+ RTP\/AVP 0 8 126\r?$/m);
    expect(direction(session.relaySdp('b', sdpFor(40000, ['a=recvonly'])).sdp)).toBe('recvonly');
    expect(() => session.relaySdp('a', offer.replace(/^a=ice-ufrag:.*$/m, 'a=ice-ufrag:Rest4rt'))).toThrow(/ICE restart/);
  });

  it('refuses WebRTC when the relay has it off, with the reason', async () => {
    const off = new MediaRelay({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', portMin: 52600, portMax: 52699, inactivityTimeoutMs: 0, allowLoopback: true, webrtc: false });
    const peer = new BrowserPeer({ portMin: 52700, portMax: 52799 });
    const session = await off.openSession('off');
    open.push({ peer, session });
    await expect(session.acceptWebRtc('a', await peer.offer())).rejects.toThrow(/not enabled/);
    await off.close();
  });

  it("leaves a browser callee's connectivity checks unanswered until its answer is applied, then opens DTLS on the offer's identity", async () => {
    const session = await relay.openSession(`t${Math.random()}`);
    const peer = new BrowserPeer({ portMin: 52700, portMax: 52799 });
    open.push({ peer, session });
    session.relaySdp('a', sdpFor(40000));
    const offer = await session.offerToBrowser('0.0');
    const answer = await peer.answer(offer);
    // The browser checks the offer's candidate at once, before its SIP answer arrives. Answered by the
    // connection that made the offer, those checks let ICE and DTLS finish inside setRemoteDescription,
    // before libdatachannel has committed the fingerprint (the race); now nobody answers them yet.
    await new Promise((r) => setTimeout(r, 300));
    expect(['new', 'checking']).toContain(peer.pc.iceState());
    expect(peer.track.isOpen()).toBe(false);
    expect(session.relaySdp('b', answer, '0.0').sdp).toMatch(/^m=audio \d+ RTP\/AVP /m);
    await peer.opened();
    // DTLS succeeded against the fingerprint of the offer: the answering twin presented the offer's certificate.
    for (let i = 0; i < 5; i++) peer.send(rtp(i, peer.ssrc, toneFrame(i)));
    await until(() => session.stats().b.rtpPackets >= 5);
    expect(session.kind('b')).toBe('webrtc');
  });
});
