/**
 * Public surface of the media library (RTP/RTCP relay and SDP rewriting).
 * Imports nothing of the domain or of NestJS; the B2BUA uses only what is here.
 */
export { type MediaEngine, type MediaEngineKind, type MediaSession, type MediaSessionEvents, type EngineTotals, type OpenOptions } from './media-engine';
export { BuiltinEngine, BuiltinSession } from './builtin-engine';
export { RtpengineEngine, RtpengineSession, type RtpengineEngineOptions } from './rtpengine-engine';
export { NgClient, NgTimeoutError, type NgAddress, type NgReply } from './ng-client';
export { MediaRelay, type MediaRelayOptions, type RelayTotals } from './media-relay';
export { RelaySession, type Side, type SessionStats, type LegStats, type RelaySessionEvents, type SideLeg, type WebRtcLegFactory } from './relay-session';
export { WebRtcLeg, type WebRtcOptions, type RtpSink } from './webrtc-leg';
export { isWebRtcSdp, readWebRtcSdp, plainSdp, browserSdp, type WebRtcEndpoint } from './webrtc-sdp';
export { PortPool, type PortPoolOptions, type PortPair } from './port-pool';
export { MediaError, MediaErrorCode } from './media.errors';
export type { MediaCounterValues } from './media-counters';
export { RtpStreamStats } from './rtp-stream-stats';
export { MediaClock } from './media-clock';
export {
  readMediaEndpoint,
  rewriteSdp,
  type MediaEndpoint,
  type PayloadType,
  type RelayAddress,
  type RewrittenSdp,
  type Direction,
  type AddressPolicy,
} from './sdp-rewrite';
export { SourceFilter, destinationProblem, isUsablePort } from './media-address';
