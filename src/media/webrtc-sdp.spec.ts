import { MediaError } from './media.errors';
import { asTwinOffer, browserSdp, g711ForBrowser, g711Of, isWebRtcSdp, plainSdp, readWebRtcSdp, reverse, sameTransport } from './webrtc-sdp';
import { readMediaEndpoint } from './sdp-rewrite';

/** What Chrome sends (JsSIP, SIP.js): trimmed to the lines that matter here. */
const CHROME = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS stream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2113937151 192.0.2.10 54400 typ host generation 0',
  'a=candidate:2 1 udp 2113939711 203.0.113.7 54401 typ srflx raddr 192.0.2.10 rport 54400 generation 0',
  'a=ice-ufrag:Xq3v',
  'a=ice-pwd:0123456789abcdefghijkl+/',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=sendrecv',
  'a=msid:stream track',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:3735928559 cname:abc',
  '',
].join('\r\n');

const PRODUCTION = { allowLoopback: false };
const edit = (from: RegExp, to: string) => CHROME.replace(from, to);
const refusal = (sdp: string): string => {
  try {
    readWebRtcSdp(sdp, PRODUCTION);
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    return (e as MediaError).message;
  }
  throw new Error('accepted');
};

describe('isWebRtcSdp', () => {
  it('tells a browser offer from a SIP phone offer', () => {
    expect(isWebRtcSdp(CHROME)).toBe(true);
    expect(isWebRtcSdp('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n')).toBe(false);
    expect(isWebRtcSdp('not sdp at all')).toBe(false);
  });
});

describe('readWebRtcSdp', () => {
  it('keeps ICE, DTLS, mid and direction, and only the codecs that cross to the PSTN, in the offerer\'s order and numbers', () => {
    const read = readWebRtcSdp(CHROME, PRODUCTION);
    expect(read).toMatchObject({ mid: '0', iceUfrag: 'Xq3v', setup: 'actpass', direction: 'sendrecv', candidates: 2 });
    expect(read.fingerprint).toMatch(/^sha-256 0F:74/);
    expect(read.payloads.map((p) => `${p.payload} ${p.codec}/${p.clockRate}`)).toEqual(['0 PCMU/8000', '8 PCMA/8000', '126 telephone-event/8000']);
  });

  it.each([
    ['no G.711 (Opus only)', edit(/ 9 0 8 13/, ' 9 13'), /no PCMU or PCMA/],
    ['a fingerprint that is not hex pairs', edit(/a=fingerprint:.*/, 'a=fingerprint:sha-256 XYZ'), /fingerprint/],
    ['an unknown hash', edit(/a=fingerprint:sha-256/, 'a=fingerprint:rot13'), /fingerprint/],
    ['no ice-ufrag', edit(/a=ice-ufrag:.*\r\n/, ''), /ice-ufrag/],
    ['a short ice-pwd', edit(/a=ice-pwd:.*/, 'a=ice-pwd:short'), /ice-pwd/],
    ['no rtcp-mux', edit(/a=rtcp-mux\r\n/, ''), /rtcp-mux/],
    ['a plain RTP profile', edit(/UDP\/TLS\/RTP\/SAVPF/, 'RTP/AVP'), /not UDP\/TLS\/RTP\/SAVPF/],
    ['only multicast candidates', CHROME.replace(/192\.0\.2\.10 54400|203\.0\.113\.7 54401/g, '239.1.1.1 5000'), /no usable ICE candidate: .*multicast/],
    ['only mDNS candidates', CHROME.replace(/192\.0\.2\.10|203\.0\.113\.7/g, 'f7c2.local'), /not an IPv4 literal/],
    ['only TCP candidates', CHROME.replace(/ 1 udp /g, ' 1 tcp '), /not UDP/],
    ['no candidate (trickle only)', CHROME.replace(/a=candidate:.*\r\n/g, ''), /no ICE candidates/],
    ['too many candidates', CHROME.replace(/(a=candidate:1 .*\r\n)/, (l) => l.repeat(40)), /more than 32/],
    ['a huge SDP', CHROME.replace('a=sendrecv\r\n', `a=sendrecv\r\n${'a=x:0123456789\r\n'.repeat(2000)}`), /larger than/],
    ['loopback candidates in production', CHROME.replace(/192\.0\.2\.10|203\.0\.113\.7/g, '127.0.0.1'), /no usable ICE candidate: .*loopback/],
  ])('refuses %s with the reason', (_name, sdp, reason) => {
    expect(refusal(sdp)).toMatch(reason);
  });

  it('accepts loopback candidates where the policy allows them (tests on one host)', () => {
    expect(readWebRtcSdp(CHROME.replace(/192\.0\.2\.10|203\.0\.113\.7/g, '127.0.0.1'), { allowLoopback: true }).candidates).toBe(2);
  });

  it('skips unusable candidates when a usable one remains', () => {
    expect(readWebRtcSdp(CHROME.replace('192.0.2.10', '224.0.0.251'), PRODUCTION).candidates).toBe(1);
  });
});

describe('plainSdp', () => {
  it('is RTP/AVP on the relay address with G.711 and DTMF only, the direction given, and reads back as such', () => {
    const payloads = readWebRtcSdp(CHROME, PRODUCTION).payloads;
    const sdp = plainSdp({ address: '198.51.100.1', rtpPort: 30000, payloads, direction: 'recvonly', sessionId: '42', version: 3 });
    expect(sdp).not.toMatch(/opus|ice|fingerprint|candidate|SAVPF|ssrc|mid|extmap/i);
    expect(sdp).toMatch(/^m=audio 30000 RTP\/AVP 0 8 126\r$/m);
    expect(sdp).toMatch(/^o=- 42 3 IN IP4 198\.51\.100\.1\r$/m);
    const endpoint = readMediaEndpoint(sdp);
    expect(endpoint).toMatchObject({ address: '198.51.100.1', rtpPort: 30000, direction: 'recvonly', telephoneEvents: [126] });
    expect(endpoint.payloads.map((p) => p.codec)).toEqual(['PCMU', 'PCMA', 'telephone-event']);
  });
});

describe('browserSdp', () => {
  const LOCAL = [
    'v=0',
    'o=rtc 1 0 IN IP4 10.0.0.5',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=fingerprint:sha-256 8E:75:4B:99:F5:30:31:CA:97:C1:65:4C:80:7A:64:35:4D:6B:32:56:97:F8:54:EC:06:B1:FF:2A:65:C9:A7:00',
    'm=audio 51023 UDP/TLS/RTP/SAVPF 0 8 126',
    'c=IN IP4 10.0.0.5',
    'a=mid:0',
    'a=sendrecv',
    'a=ssrc:5678 cname:gw',
    'a=rtcp-mux',
    'a=rtpmap:0 PCMU/8000/1',
    'a=rtpmap:8 PCMA/8000/1',
    'a=rtpmap:126 telephone-event/8000',
    'a=setup:active',
    'a=ice-ufrag:U5Dl',
    'a=ice-pwd:kJax3ifjVkMzNmRfqpNPdN',
    'a=candidate:1 1 UDP 2114977791 10.0.0.5 51023 typ host',
    'a=candidate:2 1 UDP 2114977790 172.17.0.1 51023 typ host',
    'a=end-of-candidates',
    '',
  ].join('\r\n');

  it('announces the public address in c= and the candidates (same port, once), keeps ICE/DTLS, cuts codecs, mirrors the direction', () => {
    const out = browserSdp(LOCAL, { publicAddress: '203.0.113.50', keep: [0, 126], direction: 'recvonly' });
    expect(out).toMatch(/^m=audio 51023 UDP\/TLS\/RTP\/SAVPF 0 126\r$/m);
    expect(out).not.toMatch(/PCMA|10\.0\.0\.5|172\.17/);
    expect(out.match(/^a=candidate:.*$/gm)).toEqual(['a=candidate:1 1 UDP 2114977791 203.0.113.50 51023 typ host']);
    expect(out).toMatch(/^c=IN IP4 203\.0\.113\.50\r$/m);
    expect(out).toMatch(/^a=recvonly\r$/m);
    expect(out).toMatch(/^a=setup:active\r$/m);
    expect(out).toMatch(/^a=ice-ufrag:U5Dl\r$/m);
    expect(out).toMatch(/^a=fingerprint:sha-256 8E:75/m);
    expect(out).toMatch(/^a=mid:0\r$/m);
  });
});

describe('codec and direction rules', () => {
  it('g711Of keeps the first of each of PCMU, PCMA and telephone-event/8000', () => {
    const kept = g711Of([
      { payload: 96, codec: 'opus', clockRate: 48000 },
      { payload: 8, codec: 'PCMA', clockRate: 8000 },
      { payload: 110, codec: 'telephone-event', clockRate: 48000 },
      { payload: 101, codec: 'telephone-event', clockRate: 8000 },
      { payload: 102, codec: 'telephone-event', clockRate: 8000 },
    ]);
    expect(kept.map((p) => p.payload)).toEqual([8, 101]);
  });

  it('g711ForBrowser refuses a SIP caller with no G.711 (488 for that browser branch)', () => {
    expect(() => g711ForBrowser([{ payload: 18, codec: 'G729', clockRate: 8000 }])).toThrow(/no PCMU or PCMA/);
  });

  it('reverse mirrors sendonly and recvonly', () => {
    expect(['sendrecv', 'sendonly', 'recvonly', 'inactive'].map((d) => reverse(d as 'sendrecv'))).toEqual(['sendrecv', 'recvonly', 'sendonly', 'inactive']);
  });

  it('sameTransport refuses an ICE restart or a new certificate mid-call', () => {
    const a = readWebRtcSdp(CHROME, PRODUCTION);
    expect(sameTransport(a, readWebRtcSdp(CHROME.replace('a=sendrecv', 'a=sendonly'), PRODUCTION))).toBe(true);
    expect(sameTransport(a, readWebRtcSdp(CHROME.replace('Xq3v', 'Zz99'), PRODUCTION))).toBe(false);
    expect(sameTransport(a, readWebRtcSdp(CHROME.replace('0F:74', 'AA:74'), PRODUCTION))).toBe(false);
  });
});

describe('asTwinOffer (the browser answer a twin connection answers, webrtc-leg.ts)', () => {
  it('adds a session-level a=ice-lite before the first m= line and leaves every other line as it was', () => {
    const twin = asTwinOffer(CHROME);
    const lines = twin.split('\r\n');
    expect(lines.indexOf('a=ice-lite')).toBe(lines.findIndex((l) => l.startsWith('m=')) - 1);
    expect(lines.filter((l) => l !== 'a=ice-lite')).toEqual(CHROME.split('\r\n'));
  });

  it('adds it once, and keeps LF-only SDP in LF', () => {
    expect(asTwinOffer(asTwinOffer(CHROME))).toBe(asTwinOffer(CHROME));
    const lf = CHROME.replace(/\r\n/g, '\n');
    expect(asTwinOffer(lf)).toBe(asTwinOffer(CHROME).replace(/\r\n/g, '\n'));
  });
});
