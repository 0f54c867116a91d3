/**
 * A relay session with a WebRTC side (webrtc-leg.ts behind relay-session.ts), against a real
 * node-datachannel peer standing in for the browser: the direction rules (mirror the offer, keep
 * the far end's direction) and hold through a re-offer. Ports: relay 52600–52699, peer 52700–52799.
 */
import { BrowserPeer } from '../../test/webrtc-media/browser-peer';
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
});
