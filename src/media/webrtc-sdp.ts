/**
 * SDP conversion between a WebRTC side (a browser: UDP/TLS/RTP/SAVPF, ICE, DTLS-SRTP, rtcp-mux,
 * BUNDLE) and a plain side (RTP/AVP, as trunks and SIP phones speak): pure functions over SDP text
 * (sdp-transform), no I/O. Imports nothing of the domain and not the WebRTC library either, so the
 * rules are testable without it (webrtc-sdp.spec.ts).
 *
 * What it decides:
 * - whether an SDP is WebRTC (`isWebRtcSdp`: a SAVPF/DTLS profile, or a fingerprint with ICE);
 * - whether a browser's SDP is acceptable (`readWebRtcSdp`): ICE ufrag/pwd, a well-formed DTLS
 *   fingerprint, rtcp-mux, at least one usable ICE candidate in the SDP (trickle alone is not
 *   carried over SIP here), and G.711 among the codecs; else MediaError(UnsupportedSdp), i.e. 488
 *   with the reason;
 * - which codecs cross (`g711Of`): PCMU/PCMA at 8 kHz and telephone-event/8000, with the payload
 *   numbers the offerer chose, so RTP passes unchanged between the sides; Opus and every other
 *   codec stay on the browser side (the PSTN is G.711: RFC 7874 makes it mandatory in browsers);
 * - the plain SDP a plain side sees (`plainSdp`) and the WebRTC SDP a browser sees
 *   (`browserSdp`: the library's own description, its candidates announcing the public address,
 *   its codecs cut to those the other side kept, its direction mirrored).
 */
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { isIPv4 } from 'node:net';
import { destinationProblem, isUsablePort } from './media-address';
import { MediaError, MediaErrorCode } from './media.errors';
import { payloadsOf, type AddressPolicy, type Direction, type PayloadType } from './sdp-rewrite';

/** Bounds on what a browser's SDP may carry: Chrome sends about 4 KB and a dozen candidates. */
export const MAX_WEBRTC_SDP_BYTES = 16_384;
export const MAX_ICE_CANDIDATES = 32;

/** What a browser's SDP declares, checked. */
export interface WebRtcEndpoint {
  readonly mid: string;
  readonly iceUfrag: string;
  readonly icePwd: string;
  /** "sha-256 AB:CD:..." */
  readonly fingerprint: string;
  readonly setup: string;
  readonly direction: Direction;
  /** The codecs that cross to a plain side (G.711 and telephone-event/8000), in the offerer's order. */
  readonly payloads: readonly PayloadType[];
  /** ICE candidates the gateway may check (IPv4 UDP, addresses media may go to). */
  readonly candidates: number;
}

export function isWebRtcSdp(sdp: string): boolean {
  let session: SessionDescription;
  try {
    session = parse(sdp);
  } catch {
    return false;
  }
  const audio = (session.media ?? []).find((m) => m.type === 'audio');
  if (!audio) return false;
  if (/SAVPF?$|^UDP\/TLS\//i.test(audio.protocol ?? '')) return true;
  const fingerprint = audio.fingerprint ?? session.fingerprint;
  const ufrag = audio.iceUfrag ?? session.iceUfrag;
  return Boolean(fingerprint && ufrag);
}

function refuse(reason: string): never {
  throw new MediaError(MediaErrorCode.UnsupportedSdp, reason);
}

const FINGERPRINT = /^(sha-1|sha-224|sha-256|sha-384|sha-512) ([0-9A-F]{2}(:[0-9A-F]{2}){15,63})$/i;
const ICE_CHARS = /^[A-Za-z0-9+/]+$/;

export function parseWebRtc(sdp: string): { session: SessionDescription; audio: MediaDescription } {
  if (Buffer.byteLength(sdp) > MAX_WEBRTC_SDP_BYTES) refuse(`WebRTC SDP larger than ${MAX_WEBRTC_SDP_BYTES} bytes`);
  let session: SessionDescription;
  try {
    session = parse(sdp);
  } catch (cause) {
    throw new MediaError(MediaErrorCode.InvalidSdp, `SDP does not parse: ${String(cause)}`);
  }
  if (!session.media || session.media.length === 0 || !session.origin) throw new MediaError(MediaErrorCode.InvalidSdp, 'SDP has no o= line or no m= line');
  const audio = session.media.find((m) => m.type === 'audio' && m.port !== 0);
  if (!audio) refuse('WebRTC SDP offers no audio stream');
  return { session, audio };
}

/**
 * Checks a browser's offer or answer. The ICE credentials and the fingerprint are what make the
 * media path safe (ICE checks prove the browser is at the address; DTLS proves it is the signalling
 * party), so an SDP without them is refused rather than guessed at.
 */
export function readWebRtcSdp(sdp: string, policy: AddressPolicy): WebRtcEndpoint {
  const { session, audio } = parseWebRtc(sdp);
  if (!/^UDP\/TLS\/RTP\/SAVPF?$/i.test(audio.protocol)) refuse(`WebRTC audio profile ${audio.protocol.slice(0, 40)} is not UDP/TLS/RTP/SAVPF`);
  const iceUfrag = String(audio.iceUfrag ?? session.iceUfrag ?? '');
  const icePwd = String(audio.icePwd ?? session.icePwd ?? '');
  if (iceUfrag.length < 4 || iceUfrag.length > 256 || !ICE_CHARS.test(iceUfrag)) refuse('WebRTC SDP has no valid a=ice-ufrag');
  if (icePwd.length < 22 || icePwd.length > 256 || !ICE_CHARS.test(icePwd)) refuse('WebRTC SDP has no valid a=ice-pwd');
  const fp = audio.fingerprint ?? session.fingerprint;
  const fingerprint = fp ? `${fp.type} ${fp.hash}` : '';
  if (!FINGERPRINT.test(fingerprint)) refuse('WebRTC SDP has no valid a=fingerprint (sha-1..sha-512, hex pairs)');
  if (audio.rtcpMux !== 'rtcp-mux') refuse('WebRTC SDP without a=rtcp-mux');
  const setup = String(audio.setup ?? (session as { setup?: string }).setup ?? 'actpass');
  if (!['actpass', 'active', 'passive'].includes(setup)) refuse(`WebRTC SDP a=setup:${setup.slice(0, 20)} is not actpass, active or passive`);
  const candidates = audio.candidates ?? [];
  if (candidates.length > MAX_ICE_CANDIDATES) refuse(`WebRTC SDP has more than ${MAX_ICE_CANDIDATES} ICE candidates`);
  if (candidates.length === 0) refuse('WebRTC SDP has no ICE candidates (trickle ICE over SIP is not supported: gather before sending)');
  let usable = 0;
  let firstProblem = '';
  for (const c of candidates) {
    const problem = candidateProblem(c, policy);
    if (problem === null) usable++;
    else firstProblem ||= problem;
  }
  if (usable === 0) refuse(`WebRTC SDP has no usable ICE candidate: ${firstProblem}`);
  const payloads = g711Of(payloadsOf(audio));
  if (!payloads.some((p) => isG711(p))) refuse('no PCMU or PCMA offered: the PSTN side needs G.711 (Opus is not carried)');
  const direction = (audio.direction ?? session.direction ?? 'sendrecv') as Direction;
  return { mid: String(audio.mid ?? '0'), iceUfrag, icePwd, fingerprint, setup, direction, payloads, candidates: usable };
}

/** Why the gateway would not check a candidate; null when it may. mDNS (.local) names are skipped as unreachable. */
export function candidateProblem(c: NonNullable<MediaDescription['candidates']>[number], policy: AddressPolicy): string | null {
  const ip = String(c.ip);
  if (String(c.transport).toLowerCase() !== 'udp') return `candidate transport ${String(c.transport).slice(0, 10)} is not UDP`;
  if (!isIPv4(ip)) return `candidate address ${ip.slice(0, 64)} is not an IPv4 literal`;
  if (!isUsablePort(c.port)) return `candidate port ${String(c.port)} is outside 1-65535`;
  return destinationProblem(ip, policy.allowLoopback);
}

function isG711(p: PayloadType): boolean {
  const codec = p.codec.toUpperCase();
  return (codec === 'PCMU' || codec === 'PCMA') && p.clockRate === 8000;
}

function isDtmf(p: PayloadType): boolean {
  return p.codec.toLowerCase() === 'telephone-event' && p.clockRate === 8000;
}

/** The codecs that cross between a browser and the PSTN: G.711 and telephone-event/8000, first of each kind kept. */
export function g711Of(payloads: readonly PayloadType[]): PayloadType[] {
  const seen = new Set<string>();
  const kept: PayloadType[] = [];
  for (const p of payloads) {
    if (!isG711(p) && !isDtmf(p)) continue;
    const key = p.codec.toUpperCase();
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(p);
  }
  return kept;
}

/** The G.711 codecs of a plain side's SDP, for an offer to a browser; 488 when it has none. */
export function g711ForBrowser(payloads: readonly PayloadType[]): PayloadType[] {
  const kept = g711Of(payloads);
  if (!kept.some(isG711)) refuse('no PCMU or PCMA offered: a browser callee is reached with G.711 only');
  return kept;
}

export function reverse(direction: Direction): Direction {
  if (direction === 'sendonly') return 'recvonly';
  if (direction === 'recvonly') return 'sendonly';
  return direction;
}

/** Where the relay receives for a plain side, and what goes in its SDP. */
export interface PlainSdpSpec {
  readonly address: string;
  readonly rtpPort: number;
  readonly payloads: readonly PayloadType[];
  readonly direction: Direction;
  /** o= session id; the same across re-offers, with `version` bumped. */
  readonly sessionId: string;
  readonly version: number;
}

/** A plain RTP/AVP SDP for a trunk or SIP phone: the relay's address and port, G.711 and DTMF only, no ICE, no crypto. */
export function plainSdp(spec: PlainSdpSpec): string {
  const ipVer = spec.address.includes(':') ? 6 : 4;
  const lines = [
    'v=0',
    `o=- ${spec.sessionId} ${spec.version} IN IP${ipVer} ${spec.address}`,
    's=-',
    `c=IN IP${ipVer} ${spec.address}`,
    't=0 0',
    `m=audio ${spec.rtpPort} RTP/AVP ${spec.payloads.map((p) => p.payload).join(' ')}`,
  ];
  for (const p of spec.payloads) {
    lines.push(`a=rtpmap:${p.payload} ${p.codec}/${p.clockRate}`);
    if (p.fmtp !== undefined) lines.push(`a=fmtp:${p.payload} ${p.fmtp}`);
    else if (isDtmf(p)) lines.push(`a=fmtp:${p.payload} 0-16`);
  }
  lines.push('a=ptime:20', `a=${spec.direction}`);
  return `${lines.join('\r\n')}\r\n`;
}

/** What the browser is told, beyond the library's description. */
export interface BrowserSdpSpec {
  /** Address announced in the candidates and c= (SIP_PUBLIC_ADDRESS). */
  readonly publicAddress: string;
  /** Payload numbers the other side kept; the others are cut. Empty keeps all. */
  readonly keep: readonly number[];
  readonly direction: Direction;
}

/**
 * The SDP a browser gets: the WebRTC library's own description (ICE credentials, fingerprint,
 * setup, mid, BUNDLE group, SSRC), with the candidates' and c= addresses replaced by the public
 * address (the library binds a local address; behind 1:1 NAT the public one is what the browser can
 * reach, with the same port), codecs cut to `keep`, and the direction given.
 */
export function browserSdp(local: string, spec: BrowserSdpSpec): string {
  const session = parse(local);
  const ipVer = spec.publicAddress.includes(':') ? 6 : 4;
  session.origin.address = spec.publicAddress;
  session.origin.ipVer = ipVer;
  if (session.connection) session.connection = { version: ipVer, ip: spec.publicAddress };
  for (const media of session.media) {
    if (media.connection) media.connection = { version: ipVer, ip: spec.publicAddress };
    media.candidates = (media.candidates ?? []).map((c) => ({ ...c, ip: spec.publicAddress }));
    // The same address and port twice (one per local interface) says nothing more.
    media.candidates = media.candidates.filter((c, i, all) => all.findIndex((o) => o.port === c.port && o.component === c.component && o.transport === c.transport) === i);
    if (media.type !== 'audio') continue;
    if (spec.keep.length > 0) {
      const keep = new Set(spec.keep);
      const kept = String(media.payloads ?? '')
        .split(' ')
        .filter((p) => p !== '' && keep.has(Number(p)));
      if (kept.length > 0) {
        media.payloads = kept.join(' ');
        media.rtp = media.rtp.filter((r) => keep.has(r.payload));
        media.fmtp = media.fmtp.filter((f) => keep.has(f.payload));
        if (media.rtcpFb) media.rtcpFb = media.rtcpFb.filter((f) => keep.has(Number(f.payload)));
      }
    }
    media.direction = spec.direction;
  }
  // sdp-transform leaves the empty optional fields of a candidate as trailing spaces; browsers' parsers are strict.
  return write(session).replace(/ +\r\n/g, '\r\n');
}

/**
 * A browser's answer as the offer a twin connection answers (webrtc-leg.ts: why the gateway's
 * offering leg answers the browser's answer with a second connection). The twin stands for the
 * original offerer, which RFC 8445 §6.1.1 makes the controlling ICE agent, while the browser, having
 * answered, is controlled; libjuice gives an answering agent the controlled role unless the far end
 * is ICE-lite, so a session-level a=ice-lite is added as that role hint (libjuice reads it for the
 * role only). Without it both ends start controlled and settle the conflict by tie-breaking,
 * which costs over a second of media.
 */
export function asTwinOffer(answer: string): string {
  if (/^a=ice-lite\r?$/m.test(answer)) return answer;
  const eol = answer.includes('\r\n') ? '\r\n' : '\n';
  const firstMedia = answer.search(/^m=/m);
  if (firstMedia < 0) return answer;
  return `${answer.slice(0, firstMedia)}a=ice-lite${eol}${answer.slice(firstMedia)}`;
}

/** The fields that must not change in a browser's re-offer: a new ICE or DTLS session is not supported mid-call. */
export function sameTransport(before: WebRtcEndpoint, after: WebRtcEndpoint): boolean {
  return before.iceUfrag === after.iceUfrag && before.icePwd === after.icePwd && before.fingerprint.toUpperCase() === after.fingerprint.toUpperCase();
}

/** libdatachannel's direction names. */
export function libDirection(direction: Direction): 'SendRecv' | 'SendOnly' | 'RecvOnly' | 'Inactive' {
  switch (direction) {
    case 'sendonly':
      return 'SendOnly';
    case 'recvonly':
      return 'RecvOnly';
    case 'inactive':
      return 'Inactive';
    default:
      return 'SendRecv';
  }
}

/** True when a side with this direction wants RTP from the gateway. */
export function receives(direction: Direction): boolean {
  return direction === 'sendrecv' || direction === 'recvonly';
}
