/**
 * Media error codes and the one error type the relay throws. Owns nothing else;
 * imports nothing of the domain. The call flow maps each code to a SIP status
 * (PortsExhausted and EngineUnavailable → 503, InvalidSdp → 400, UnsupportedSdp → 488, SessionClosed → 500).
 */
export enum MediaErrorCode {
  PortsExhausted = 'MEDIA_PORTS_EXHAUSTED',
  InvalidSdp = 'MEDIA_INVALID_SDP',
  UnsupportedSdp = 'MEDIA_UNSUPPORTED_SDP',
  SessionClosed = 'MEDIA_SESSION_CLOSED',
  /** rtpengine did not answer (down, unreachable) or is at its load limit. */
  EngineUnavailable = 'MEDIA_ENGINE_UNAVAILABLE',
}

export class MediaError extends Error {
  constructor(
    readonly code: MediaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}
