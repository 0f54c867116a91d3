/**
 * Symmetric latching of one flow (RTP or RTCP) of one side: where the relay
 * sends it, and the one source it accepts it from. Imports nothing of the domain.
 *
 * Until the side's first packet, the destination is what its SDP declared; the
 * first packet's source then becomes both the destination (so a user behind NAT
 * is reached through its mapping) and the only accepted source (so nobody can
 * inject media into the call). Only a new SDP from the side resets it.
 * As with rtpengine, whoever sends first after an SDP wins the latch: someone
 * who knows the relay port and beats the real side by a packet can take the
 * flow, which the side's own next packets then reveal as drops.
 * `admit` runs per packet: it compares and assigns fields, allocating nothing.
 */
import type { RemoteInfo } from 'node:dgram';

export class Latch {
  address = '';
  /** 0 while there is nowhere to send (no SDP yet, hold, or an ICE placeholder). */
  port = 0;
  latched = false;

  reset(address: string | null, port: number): void {
    this.address = address ?? '';
    this.port = address === null ? 0 : port;
    this.latched = false;
  }

  /** True when the packet may pass; the first admitted packet latches. `host`, when given, must be its source address. */
  admit(rinfo: RemoteInfo, host: string | null): boolean {
    if (this.latched) return rinfo.port === this.port && rinfo.address === this.address;
    if (host !== null && rinfo.address !== host) return false;
    this.address = rinfo.address;
    this.port = rinfo.port;
    this.latched = true;
    return true;
  }
}
