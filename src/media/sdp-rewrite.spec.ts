import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'sdp-transform';
import { MediaError, MediaErrorCode } from './media.errors';
import { destinationProblem } from './media-address';
import { readMediaEndpoint, rewriteSdp } from './sdp-rewrite';

const fixture = (name: string) => readFileSync(join(__dirname, '../../test/media/sdp', name), 'utf8');
const relay = { address: '203.0.113.10', rtpPort: 40000, rtcpPort: 40001 };
const onOneHost = { allowLoopback: true }; // the SIPp captures name 127.0.0.1

/** Everything codec-related, which the rewrite must keep as it was. */
function codecsOf(sdp: string) {
  return parse(sdp).media.map((m) => ({ payloads: m.payloads, rtp: m.rtp, fmtp: m.fmtp, direction: m.direction }));
}

describe('rewriteSdp on captured offers', () => {
  it('SIPp uac: puts the relay address and ports in, keeps PCMU, leaves a=rtcp implied', () => {
    const original = fixture('sipp-uac.sdp');
    const { sdp, remote } = rewriteSdp(original, relay, onOneHost);
    const out = parse(sdp);
    expect(out.origin.address).toBe('203.0.113.10');
    expect(out.connection).toEqual({ version: 4, ip: '203.0.113.10' });
    expect(out.media[0].port).toBe(40000);
    expect(out.media[0].rtcp).toBeUndefined(); // implied RTP+1 = 40001, the relay's RTCP port
    expect(codecsOf(sdp)).toEqual(codecsOf(original));
    expect(remote).toMatchObject({ address: '127.0.0.1', rtpPort: 6000, rtcpPort: 6001, rtcpAddress: '127.0.0.1' });
    expect(remote.payloads).toEqual([{ payload: 0, codec: 'PCMU', clockRate: 8000 }]);
    expect(remote.telephoneEvents).toEqual([]);
  });

  it('SIPp uac_pcap: keeps PCMA and telephone-event with its fmtp, and reports the event type', () => {
    const original = fixture('sipp-uac-pcap.sdp');
    const { sdp, remote } = rewriteSdp(original, relay, onOneHost);
    const out = parse(sdp);
    expect(out.connection?.ip).toBe('203.0.113.10');
    expect(out.media[0].port).toBe(40000);
    expect(out.media[0].fmtp).toEqual([{ payload: 101, config: '0-11,16' }]);
    expect(codecsOf(sdp)).toEqual(codecsOf(original));
    expect(remote.telephoneEvents).toEqual([101]);
    expect(remote.payloads.map((p) => `${p.payload}:${p.codec}/${p.clockRate}`)).toEqual(['8:PCMA/8000', '101:telephone-event/8000']);
  });

  it('baresip: rewrites its own address, keeps opus/G722/G711 rtpmap and fmtp, ssrc and ptime', () => {
    const original = fixture('baresip.sdp');
    const { sdp, remote } = rewriteSdp(original, relay);
    const out = parse(sdp);
    expect(sdp).not.toContain('192.0.2.2');
    expect(out.origin.address).toBe('203.0.113.10');
    expect(out.media[0].port).toBe(40000);
    expect(codecsOf(sdp)).toEqual(codecsOf(original));
    expect(out.media[0].ssrcs).toEqual(parse(original).media[0].ssrcs);
    expect(out.media[0].ptime).toBe(20);
    expect(remote).toMatchObject({ address: '192.0.2.2', rtpPort: 10010, rtcpPort: 10011, direction: 'sendrecv', receives: true });
    expect(remote.payloads.find((p) => p.payload === 96)).toEqual({
      payload: 96,
      codec: 'opus',
      clockRate: 48000,
      channels: 2,
      fmtp: 'stereo=1;sprop-stereo=1',
    });
    expect(remote.telephoneEvents).toEqual([101]);
  });

  it('Chromium WebRTC: removes ICE, replaces the trickle placeholder 0.0.0.0:9, rewrites a=rtcp, keeps rtcp-mux and codecs', () => {
    const original = fixture('chromium-webrtc.sdp');
    const { sdp, remote } = rewriteSdp(original, relay);
    const out = parse(sdp);
    const audio = out.media[0];
    expect(audio.candidates).toBeUndefined();
    expect(audio.iceUfrag).toBeUndefined();
    expect(audio.icePwd).toBeUndefined();
    expect(sdp).not.toMatch(/a=(candidate|ice-)/);
    expect(audio.connection).toEqual({ version: 4, ip: '203.0.113.10' });
    expect(audio.port).toBe(40000);
    expect(audio.rtcp).toEqual({ port: 40001, netType: 'IN', ipVer: 4, address: '203.0.113.10' });
    expect(audio.rtcpMux).toBe('rtcp-mux');
    expect(audio.fingerprint).toEqual(parse(original).media[0].fingerprint);
    expect(codecsOf(sdp)).toEqual(codecsOf(original));
    // The candidates are mDNS names, so only latching can learn where the browser is.
    expect(remote).toMatchObject({ address: null, held: false, receives: true, rtcpMux: true, hadIce: true });
    expect(remote.telephoneEvents).toEqual([110, 126]);
  });
});

describe('rewriteSdp on hold, re-offers and odd input', () => {
  const base = (extra: string, c = '198.51.100.7') =>
    ['v=0', `o=alice 1 2 IN IP4 ${c}`, 's=-', `c=IN IP4 ${c}`, 't=0 0', 'm=audio 5004 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', extra]
      .filter(Boolean)
      .join('\r\n') + '\r\n';

  it('keeps a c=0.0.0.0 hold as hold, so the other side stops sending too', () => {
    const { sdp, remote } = rewriteSdp(base('a=sendonly', '0.0.0.0'), relay);
    expect(parse(sdp).connection?.ip).toBe('0.0.0.0');
    expect(parse(sdp).media[0].direction).toBe('sendonly');
    expect(parse(sdp).media[0].port).toBe(40000);
    expect(remote).toMatchObject({ address: null, held: true, receives: false, rtpPort: 5004 });
  });

  it.each(['sendonly', 'inactive'] as const)('a=%s keeps the address but marks that the side does not want RTP', (direction) => {
    const { sdp, remote } = rewriteSdp(base(`a=${direction}`), relay);
    expect(parse(sdp).media[0].direction).toBe(direction);
    expect(remote).toMatchObject({ address: '198.51.100.7', receives: false, direction });
  });

  it('a re-offer from a new address reports the new address with the same relay ports', () => {
    const first = rewriteSdp(base(''), relay);
    const again = rewriteSdp(base('', '198.51.100.99').replace('5004', '6008'), relay);
    expect(first.remote.address).toBe('198.51.100.7');
    expect(again.remote).toMatchObject({ address: '198.51.100.99', rtpPort: 6008, rtcpPort: 6009 });
    expect(parse(again.sdp).media[0].port).toBe(parse(first.sdp).media[0].port);
  });

  it('follows a=rtcp with its own address (RFC 3605) and points it at the relay', () => {
    const { sdp, remote } = rewriteSdp(base('a=rtcp:7000 IN IP4 198.51.100.8'), relay);
    expect(remote).toMatchObject({ rtcpAddress: '198.51.100.8', rtcpPort: 7000 });
    expect(parse(sdp).media[0].rtcp).toEqual({ port: 40001, netType: 'IN', ipVer: 4, address: '203.0.113.10' });
  });

  it('disables streams other than the first audio one, and keeps a rejected audio stream at port 0', () => {
    const withVideo = base('') + 'm=video 5006 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n';
    expect(parse(rewriteSdp(withVideo, relay).sdp).media[1].port).toBe(0);
    const rejected = base('').replace('m=audio 5004', 'm=audio 0');
    const out = rewriteSdp(rejected, relay);
    expect(parse(out.sdp).media[0].port).toBe(0);
    expect(out.remote).toMatchObject({ address: null, rtpPort: 0, receives: false });
  });

  it('refuses SDP it cannot relay with a typed error', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as MediaError).code;
      }
      return undefined;
    };
    expect(code(() => rewriteSdp('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n', relay))).toBe(MediaErrorCode.InvalidSdp);
    expect(code(() => rewriteSdp(base('').replace('m=audio', 'm=video'), relay))).toBe(MediaErrorCode.UnsupportedSdp);
    expect(code(() => rewriteSdp(base('').replace(/IN IP4 198.51.100.7/g, 'IN IP6 2001:db8::1'), relay))).toBe(
      MediaErrorCode.UnsupportedSdp,
    );
    expect(code(() => readMediaEndpoint(base('').replace('c=IN IP4 198.51.100.7\r\n', '')))).toBe(MediaErrorCode.InvalidSdp);
  });

  it('for any address, ports and codec list: relay address and ports out, payload types unchanged', () => {
    const ip = fc.ipV4().filter((a) => destinationProblem(a, false) === null);
    fc.assert(
      fc.property(ip, fc.integer({ min: 1024, max: 65534 }), fc.uniqueArray(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 8 }), ip, fc.integer({ min: 1024, max: 65000 }), (addr, port, pts, relayIp, relayPort) => {
        const text = ['v=0', `o=- 1 1 IN IP4 ${addr}`, 's=-', `c=IN IP4 ${addr}`, 't=0 0', `m=audio ${port} RTP/AVP ${pts.join(' ')}`, ...pts.map((p) => `a=rtpmap:${p} X${p}/8000`)].join('\r\n') + '\r\n';
        const target = { address: relayIp, rtpPort: relayPort & ~1, rtcpPort: (relayPort & ~1) + 1 };
        const { sdp, remote } = rewriteSdp(text, target);
        const out = parse(sdp);
        expect(out.connection?.ip).toBe(relayIp);
        expect(out.media[0].port).toBe(target.rtpPort);
        expect(String(out.media[0].payloads)).toBe(pts.join(' '));
        expect(remote).toMatchObject({ address: addr, rtpPort: port, rtcpPort: port + 1 });
        expect(remote.payloads.map((p) => p.payload)).toEqual(pts);
      }),
    );
  });
});

describe('ports and addresses the relay may not send to', () => {
  const sdpWith = (o: { c?: string; m?: string; extra?: string[] }) =>
    ['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', o.c ?? 'c=IN IP4 192.0.2.5', 't=0 0', o.m ?? 'm=audio 5004 RTP/AVP 0', ...(o.extra ?? []), ''].join('\r\n');
  const refusal = (text: string, policy = { allowLoopback: false }) => {
    try {
      readMediaEndpoint(text, policy);
      rewriteSdp(text, relay, policy);
    } catch (e) {
      expect(e).toBeInstanceOf(MediaError);
      expect((e as MediaError).code).toBe(MediaErrorCode.UnsupportedSdp);
      return (e as MediaError).message;
    }
    return 'accepted';
  };

  it('refuses audio ports outside 1-65535 and the RTCP ports they imply', () => {
    expect(refusal(sdpWith({ m: 'm=audio 70000 RTP/AVP 0' }))).toBe('audio port 70000 is outside 1-65535');
    expect(refusal(sdpWith({ m: 'm=audio 65535 RTP/AVP 0' }))).toBe('RTCP port 65536 (audio port + 1) is outside 1-65535');
    expect(refusal(sdpWith({ extra: ['a=rtcp:99999'] }))).toBe('RTCP port 99999 is outside 1-65535');
    expect(refusal(sdpWith({ extra: ['a=rtcp:0'] }))).toBe('RTCP port 0 is outside 1-65535');
    expect(refusal(sdpWith({ extra: ['a=rtcp:'] }))).toBe('RTCP port (none) is outside 1-65535');
    expect(refusal(sdpWith({ m: 'm=audio 5004 RTP/AVP 0\r\nm=video 80000 RTP/AVP 96' }))).toBe('video port 80000 is outside 1-65535');
  });

  it('accepts the edges: port 1, 65534 with implied RTCP 65535, 65535 under rtcp-mux or with a=rtcp', () => {
    expect(refusal(sdpWith({ m: 'm=audio 1 RTP/AVP 0' }))).toBe('accepted');
    expect(readMediaEndpoint(sdpWith({ m: 'm=audio 65534 RTP/AVP 0' }))).toMatchObject({ rtpPort: 65534, rtcpPort: 65535 });
    expect(readMediaEndpoint(sdpWith({ m: 'm=audio 65535 RTP/AVP 0', extra: ['a=rtcp-mux'] }))).toMatchObject({ rtpPort: 65535, rtcpPort: 65535 });
    expect(readMediaEndpoint(sdpWith({ m: 'm=audio 65535 RTP/AVP 0', extra: ['a=rtcp:4000'] }))).toMatchObject({ rtcpPort: 4000 });
  });

  it('keeps m=audio 0 (rejected stream) and c=0.0.0.0 (hold) as they are', () => {
    expect(readMediaEndpoint(sdpWith({ m: 'm=audio 0 RTP/AVP 0' }))).toMatchObject({ address: null, rtpPort: 0, receives: false });
    expect(readMediaEndpoint(sdpWith({ c: 'c=IN IP4 0.0.0.0' }))).toMatchObject({ address: null, held: true });
  });

  it('refuses loopback (unless allowed), multicast, broadcast, reserved, link-local and host names', () => {
    expect(refusal(sdpWith({ c: 'c=IN IP4 127.0.0.1' }))).toBe('media address 127.0.0.1 is loopback');
    expect(refusal(sdpWith({ c: 'c=IN IP4 127.0.0.1' }), { allowLoopback: true })).toBe('accepted');
    expect(refusal(sdpWith({ c: 'c=IN IP4 224.0.0.1' }))).toBe('media address 224.0.0.1 is multicast');
    expect(refusal(sdpWith({ c: 'c=IN IP4 255.255.255.255' }))).toBe('media address 255.255.255.255 is broadcast');
    expect(refusal(sdpWith({ c: 'c=IN IP4 240.1.2.3' }))).toBe('media address 240.1.2.3 is reserved');
    expect(refusal(sdpWith({ c: 'c=IN IP4 169.254.169.254' }))).toBe('media address 169.254.169.254 is link-local');
    expect(refusal(sdpWith({ c: 'c=IN IP4 0.1.2.3' }))).toMatch(/unspecified/);
    expect(refusal(sdpWith({ c: 'c=IN IP4 media.example.com' }))).toBe('media address "media.example.com" is not an IPv4 address');
    expect(refusal(sdpWith({ extra: ['a=rtcp:5005 IN IP4 224.0.0.9'] }))).toBe('media address 224.0.0.9 is multicast');
    expect(refusal(sdpWith({ c: 'c=IN IP4 10.1.2.3' }))).toBe('accepted'); // private networks are an operator's own
  });

  it('skips ICE candidates on forbidden addresses or bad ports', () => {
    const text = sdpWith({
      c: 'c=IN IP4 0.0.0.0',
      m: 'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      extra: ['a=ice-ufrag:x', 'a=candidate:1 1 udp 3000 224.0.0.1 5000 typ host', 'a=candidate:2 1 udp 2000 198.51.100.7 70000 typ host', 'a=candidate:3 1 udp 1000 198.51.100.7 6000 typ srflx'],
    });
    expect(readMediaEndpoint(text)).toMatchObject({ address: '198.51.100.7', rtpPort: 6000 });
  });

  it('for any generated SDP: either a MediaError or an endpoint whose ports and addresses can be sent to', () => {
    const port = fc.oneof(fc.integer({ min: -5, max: 140_000 }), fc.constantFrom(0, 1, 65534, 65535, 65536));
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.constantFrom('0.0.0.0', 'x.y', '::1')), port, fc.option(port), fc.boolean(), (ip, p, rtcp, mux) => {
        const text = sdpWith({ c: `c=IN IP4 ${ip}`, m: `m=audio ${p} RTP/AVP 0`, extra: [...(rtcp === null ? [] : [`a=rtcp:${rtcp}`]), ...(mux ? ['a=rtcp-mux'] : [])] });
        let e;
        try {
          e = readMediaEndpoint(text);
        } catch (err) {
          expect(err).toBeInstanceOf(MediaError);
          return;
        }
        if (e.address !== null) {
          expect(destinationProblem(e.address, false)).toBeNull();
          expect(e.rtpPort).toBeGreaterThanOrEqual(1);
          expect(e.rtpPort).toBeLessThanOrEqual(65535);
        }
        if (e.rtcpAddress !== null) {
          expect(e.rtcpPort).toBeGreaterThanOrEqual(1);
          expect(e.rtcpPort).toBeLessThanOrEqual(65535);
        }
      }),
      { numRuns: 500 },
    );
  });
});
