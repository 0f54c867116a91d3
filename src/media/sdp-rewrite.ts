/**
 * SDP offer/answer rewriting for the RTP relay: pure functions over SDP text
 * (parsed with sdp-transform), no I/O. Imports nothing of the domain.
 *
 * `readMediaEndpoint` says where a side wants its audio sent and which payload
 * types it uses; `rewriteSdp` puts the gateway's public address and the relay
 * ports in place of the side's own, so the other side sends to the relay.
 * Only the first audio stream is relayed (a PSTN call carries one); any other
 * stream is disabled with port 0, since the relay has no ports for it and
 * leaving its address in place would leak the user's address and bypass the relay.
 * ICE attributes are removed: the relay address is the only candidate, and a
 * peer that checked connectivity against the user's candidates would be
 * checking the wrong host. (WebRTC peers therefore need an ICE/DTLS-terminating
 * relay, which this module is not.)
 *
 * Every port an SDP names must lie in 1–65535 (0 only as the RFC 3264 rejected stream), and so
 * must the RTCP port it implies (m=audio 65535 without a=rtcp puts RTCP on 65536); the audio
 * address must be an IPv4 literal the relay may send to (media-address.ts). Anything else is a
 * MediaError(UnsupportedSdp): the offer is refused with 488, an answer fails its leg. A media
 * address the relay may not send to (loopback, multicast, broadcast...) is refused the same way
 * rather than silently held: the sender learns why, and nothing in the call waits on media that
 * can never flow. c=0.0.0.0 keeps its meaning, hold.
 */
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { isIPv4 } from 'node:net';
import { destinationProblem, isUsablePort, MAX_PORT } from './media-address';
import { MediaError, MediaErrorCode } from './media.errors';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface PayloadType {
  readonly payload: number;
  readonly codec: string;
  /** Clock rate in Hz; 0 when a dynamic type has no rtpmap. */
  readonly clockRate: number;
  readonly channels?: number;
  readonly fmtp?: string;
}

/** What a side's SDP declares for its audio stream. */
export interface MediaEndpoint {
  /**
   * Where to send RTP; null when the side holds with c=0.0.0.0, rejects the
   * stream (port 0), or gives only an ICE placeholder with no usable IPv4
   * candidate (then the relay learns the address by latching).
   */
  readonly address: string | null;
  /** c=0.0.0.0 without ICE: the RFC 2543 hold, kept as such in the rewritten SDP. */
  readonly held: boolean;
  readonly rtpPort: number;
  /** From a=rtcp when present (RFC 3605), else RTP port + 1; equal to rtpPort under rtcp-mux. */
  readonly rtcpAddress: string | null;
  readonly rtcpPort: number;
  readonly rtcpMux: boolean;
  readonly direction: Direction;
  /** True when the side wants to receive RTP (sendrecv/recvonly and a real address). */
  readonly receives: boolean;
  readonly protocol: string;
  readonly payloads: readonly PayloadType[];
  /** Payload types of RFC 4733 telephone-event, one per clock rate offered. */
  readonly telephoneEvents: readonly number[];
  /** True when the SDP carried ICE attributes that the rewrite removed. */
  readonly hadIce: boolean;
}

/** Where the relay receives for the side that will read the rewritten SDP. */
export interface RelayAddress {
  readonly address: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
}

export interface RewrittenSdp {
  readonly sdp: string;
  /** What the SDP's author declared, for the relay to send to. */
  readonly remote: MediaEndpoint;
}

/** What the relay may send to; `allowLoopback` only where every peer is on one host (tests, benchmarks). */
export interface AddressPolicy {
  readonly allowLoopback: boolean;
}

const PRODUCTION: AddressPolicy = { allowLoopback: false };

const HOLD_ADDRESSES = new Set(['0.0.0.0', '::']);

export function readMediaEndpoint(sdp: string | SessionDescription, policy: AddressPolicy = PRODUCTION): MediaEndpoint {
  const session = typeof sdp === 'string' ? parseSdp(sdp) : sdp;
  return endpointOf(session, audioStream(session), policy);
}

export function rewriteSdp(sdp: string, relay: RelayAddress, policy: AddressPolicy = PRODUCTION): RewrittenSdp {
  const session = parseSdp(sdp);
  const audio = audioStream(session);
  const remote = endpointOf(session, audio, policy);
  const ipVer = relay.address.includes(':') ? 6 : 4;

  session.origin.address = relay.address;
  session.origin.ipVer = ipVer;
  // A hold address keeps its meaning for the other side: it must not send either.
  session.connection = connectionFor(session.connection?.ip, relay.address, ipVer, remote.held);
  removeSessionIce(session);

  for (const media of session.media) {
    if (media !== audio) {
      disable(media);
      continue;
    }
    const held = remote.held;
    if (media.connection) media.connection = connectionFor(media.connection.ip, relay.address, ipVer, held);
    if (media.port !== 0) media.port = relay.rtpPort;
    if (media.rtcp) {
      // Keep a=rtcp when the author sent one, pointing at the relay's RTCP port;
      // without it the implied RTP+1 already is the relay's RTCP port.
      media.rtcp = {
        port: media.port === 0 ? 0 : relay.rtcpPort,
        ...(media.rtcp.address ? { netType: 'IN', ipVer, address: held ? media.rtcp.address : relay.address } : {}),
      };
    }
    removeMediaIce(media);
  }
  return { sdp: write(session), remote };
}

function parseSdp(text: string): SessionDescription {
  let session: SessionDescription;
  try {
    session = parse(text);
  } catch (cause) {
    throw new MediaError(MediaErrorCode.InvalidSdp, `SDP does not parse: ${String(cause)}`);
  }
  if (!session.media || session.media.length === 0 || !session.origin) {
    throw new MediaError(MediaErrorCode.InvalidSdp, 'SDP has no o= line or no m= line');
  }
  return session;
}

function audioStream(session: SessionDescription): MediaDescription {
  for (const m of session.media) {
    // Every stream's port, relayed or not: a port outside the range means a broken or hostile peer.
    if (m.type && !(m.port === 0 || isUsablePort(m.port))) refuse(`${m.type} port ${String(m.port)} is outside 1-${MAX_PORT}`);
  }
  const audio = session.media.find((m) => m.type === 'audio' && /RTP\//.test(m.protocol));
  if (!audio) throw new MediaError(MediaErrorCode.UnsupportedSdp, 'SDP offers no RTP audio stream');
  return audio;
}

function refuse(reason: string): never {
  throw new MediaError(MediaErrorCode.UnsupportedSdp, reason);
}

function checkPort(what: string, port: unknown): void {
  if (!isUsablePort(port)) refuse(`${what} ${port === '' || port === undefined ? '(none)' : String(port)} is outside 1-${MAX_PORT}`);
}

function checkAddress(address: string, policy: AddressPolicy): void {
  const problem = destinationProblem(address, policy.allowLoopback);
  if (problem) refuse(problem);
}

function endpointOf(session: SessionDescription, media: MediaDescription, policy: AddressPolicy): MediaEndpoint {
  const connection = media.connection ?? session.connection;
  if (!connection) throw new MediaError(MediaErrorCode.InvalidSdp, 'SDP has no c= line for the audio stream');
  if (connection.version !== 4) {
    throw new MediaError(MediaErrorCode.UnsupportedSdp, `relay sockets are IPv4; SDP declares IP${connection.version}`);
  }
  const rejected = media.port === 0;
  const hadIce = Boolean(media.candidates?.length || media.iceUfrag || session.iceUfrag || session.icelite);
  // With ICE, 0.0.0.0 (port 9) is the trickle placeholder of RFC 8840, not hold:
  // the address is in the candidates, if any is an IPv4 literal (not mDNS).
  const unspecified = HOLD_ADDRESSES.has(connection.ip);
  const held = unspecified && !hadIce;
  const candidate = unspecified && hadIce ? bestCandidate(media, policy) : undefined;
  const rtcpMux = media.rtcpMux === 'rtcp-mux';
  if (!rejected) {
    if (!unspecified) checkAddress(connection.ip, policy);
    if (media.rtcp) checkPort('RTCP port', media.rtcp.port);
    else if (!rtcpMux && media.port + 1 > MAX_PORT) refuse(`RTCP port ${media.port + 1} (audio port + 1) is outside 1-${MAX_PORT}`);
    if (media.rtcp?.address && !HOLD_ADDRESSES.has(media.rtcp.address)) checkAddress(media.rtcp.address, policy);
  }
  let address: string | null = rejected || held ? null : connection.ip;
  let rtpPort = rejected ? 0 : media.port;
  let rtcpPort = rejected ? 0 : rtcpMux ? media.port : (media.rtcp?.port ?? media.port + 1);
  let rtcpAddress = address === null ? null : (media.rtcp?.address ?? address);
  if (unspecified && hadIce && !rejected) {
    address = candidate?.ip ?? null;
    rtpPort = candidate?.port ?? 0;
    rtcpAddress = address;
    rtcpPort = rtcpMux ? rtpPort : (bestCandidate(media, policy, 2)?.port ?? (rtpPort === 0 || rtpPort === MAX_PORT ? 0 : rtpPort + 1));
  }
  if (rtcpAddress !== null && HOLD_ADDRESSES.has(rtcpAddress)) rtcpAddress = address;
  const direction = (media.direction ?? session.direction ?? 'sendrecv') as Direction;
  const payloads = payloadsOf(media);
  return {
    address,
    held,
    rtpPort,
    rtcpAddress,
    rtcpPort,
    rtcpMux,
    direction,
    receives: !held && !rejected && (direction === 'sendrecv' || direction === 'recvonly'),
    protocol: media.protocol,
    payloads,
    telephoneEvents: payloads.filter((p) => p.codec.toLowerCase() === 'telephone-event').map((p) => p.payload),
    hadIce,
  };
}

/** The highest-priority UDP candidate of a component whose address is an IPv4 literal the relay may send to, on a usable port. */
function bestCandidate(media: MediaDescription, policy: AddressPolicy, component = 1) {
  return (media.candidates ?? [])
    .filter(
      (c) =>
        c.component === component &&
        String(c.transport).toLowerCase() === 'udp' &&
        isUsablePort(c.port) &&
        destinationProblem(String(c.ip), policy.allowLoopback) === null,
    )
    .sort((x, y) => y.priority - x.priority)[0];
}

/** Static payload types of RFC 3551 that may appear without an rtpmap. */
const STATIC_TYPES: Record<number, readonly [string, number]> = {
  0: ['PCMU', 8000],
  3: ['GSM', 8000],
  4: ['G723', 8000],
  8: ['PCMA', 8000],
  9: ['G722', 8000],
  13: ['CN', 8000],
  18: ['G729', 8000],
};

export function payloadsOf(media: MediaDescription): PayloadType[] {
  const listed = String(media.payloads ?? '')
    .split(' ')
    .filter((p) => p !== '')
    .map(Number);
  return listed.map((payload) => {
    const map = media.rtp.find((r) => r.payload === payload);
    const fmtp = media.fmtp.find((f) => f.payload === payload)?.config;
    const fallback = STATIC_TYPES[payload];
    return {
      payload,
      codec: map?.codec ?? fallback?.[0] ?? String(payload),
      clockRate: map?.rate ?? fallback?.[1] ?? 0,
      ...(map?.encoding ? { channels: map.encoding } : {}),
      ...(fmtp !== undefined ? { fmtp } : {}),
    };
  });
}

function connectionFor(ip: string | undefined, relayAddress: string, ipVer: number, held: boolean) {
  if (ip === undefined) return undefined;
  return { version: ipVer, ip: held && HOLD_ADDRESSES.has(ip) ? ip : relayAddress };
}

function disable(media: MediaDescription): void {
  media.port = 0;
  delete media.rtcp;
  removeMediaIce(media);
}

function removeSessionIce(session: SessionDescription): void {
  delete session.icelite;
  delete session.iceUfrag;
  delete session.icePwd;
  delete session.iceOptions;
}

function removeMediaIce(media: MediaDescription): void {
  delete media.candidates;
  delete media.endOfCandidates;
  delete media.iceUfrag;
  delete media.icePwd;
  delete media.iceOptions;
  delete media.remoteCandidates;
}
