/**
 * The media engine as a Nest provider (MEDIA_ENGINE): the built-in relay (one MediaRelay per
 * process, with the RTP port range, the address written into SDP — the same as SIP's,
 * platform/advertised-host.ts — and the inactivity timeout), or rtpengine over its ng protocol
 * (RTPENGINE_NG), which keeps the built-in relay for calls with a browser (WebRTC legs).
 * src/media stays free of Nest; this is its only wiring.
 */
import { Logger, type Provider } from '@nestjs/common';
import { BuiltinEngine, type MediaEngine, RtpengineEngine } from '../media';
import { advertisedHost, isWildcard } from '../platform/advertised-host';
import { APP_CONFIG, AppConfig } from '../platform/config';

export const MEDIA_ENGINE = Symbol('MEDIA_ENGINE');

export const mediaEngineProvider: Provider = {
  provide: MEDIA_ENGINE,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig): MediaEngine => {
    const listen = config.sipListen.host;
    const inactivityTimeoutMs = config.calls.mediaInactivitySeconds * 1000;
    const builtin = new BuiltinEngine({
      publicAddress: advertisedHost(config),
      bindAddress: isWildcard(listen) ? '0.0.0.0' : listen,
      portMin: config.rtpPortMin,
      portMax: config.rtpPortMax,
      inactivityTimeoutMs,
      allowLoopback: config.mediaAllowLoopback,
    });
    if (config.media.engine === 'builtin') return builtin;
    const log = new Logger('media');
    return new RtpengineEngine({
      engines: config.media.rtpengines,
      timeoutMs: config.media.rtpengineTimeoutMs,
      inactivityTimeoutMs,
      policy: { allowLoopback: config.mediaAllowLoopback },
      webrtc: builtin,
      warn: (fields, message) => log.warn(fields, message),
    });
  },
};
