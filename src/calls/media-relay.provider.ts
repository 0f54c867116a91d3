/**
 * The media relay as a Nest provider: one MediaRelay per process, with the RTP port range, the
 * address written into SDP (the same as SIP's, platform/advertised-host.ts) and the inactivity
 * timeout from the configuration. src/media stays free of Nest; this is its only wiring.
 */
import type { Provider } from '@nestjs/common';
import { MediaRelay } from '../media';
import { advertisedHost, isWildcard } from '../platform/advertised-host';
import { APP_CONFIG, AppConfig } from '../platform/config';

export const MEDIA_RELAY = Symbol('MEDIA_RELAY');

export const mediaRelayProvider: Provider = {
  provide: MEDIA_RELAY,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) => {
    const listen = config.sipListen.host;
    return new MediaRelay({
      publicAddress: advertisedHost(config),
      bindAddress: isWildcard(listen) ? '0.0.0.0' : listen,
      portMin: config.rtpPortMin,
      portMax: config.rtpPortMax,
      inactivityTimeoutMs: config.calls.mediaInactivitySeconds * 1000,
      allowLoopback: config.mediaAllowLoopback,
    });
  },
};
