/**
 * The media relay as a Nest provider: one MediaRelay per process, with the RTP port range, the
 * address written into SDP (SIP_PUBLIC_ADDRESS, else the SIP listening address) and the inactivity
 * timeout from the configuration. src/media stays free of Nest; this is its only wiring.
 */
import type { Provider } from '@nestjs/common';
import { networkInterfaces } from 'node:os';
import { MediaRelay } from '../media';
import { APP_CONFIG, AppConfig } from '../platform/config';

export const MEDIA_RELAY = Symbol('MEDIA_RELAY');

export const mediaRelayProvider: Provider = {
  provide: MEDIA_RELAY,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) => {
    const listen = config.sipListen.host;
    const wildcard = listen === '0.0.0.0' || listen === '::';
    // Same choice as SipServer.advertisedAddress: the SDP must name an address peers can reach.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const publicAddress = config.sipPublicAddress ?? (wildcard ? (external ?? '127.0.0.1') : listen);
    return new MediaRelay({
      publicAddress,
      bindAddress: wildcard ? '0.0.0.0' : listen,
      portMin: config.rtpPortMin,
      portMax: config.rtpPortMax,
      inactivityTimeoutMs: config.calls.mediaInactivitySeconds * 1000,
    });
  },
};
