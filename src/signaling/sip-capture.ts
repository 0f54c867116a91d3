/**
 * SIP capture: every SIP message of a call, both legs, in and out, retransmissions and refusals
 * included, as the transport layer saw it (SipServer feeds it every WireTrace), filed under the
 * gateway's call id (the caller's Call-ID, as in CDRs): the B2BUA links each callee leg's own
 * Call-ID to it (link/unlink). Served by GET /v1/calls/{callId}/sip (sip-capture.controller.ts).
 *
 * Kept off the call path: a message is turned into its stored form and buffered; the buffer goes
 * to Redis (sip-capture.store.ts) in one pipeline every FLUSH_MS or FLUSH_AT messages. While Redis
 * is slow or down the buffer stops at MAX_PENDING and further messages are dropped and counted
 * (gateway_sip_capture_dropped_total), never queued without bound.
 *
 * Only call dialogs are stored (CSeq method INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO, REFER):
 * REGISTER and OPTIONS would crowd calls out of the capped store; so would requests over their
 * source's rate limit (and their stateless 503s), which are not stored either. With HEP_URL every message,
 * REGISTER included, also goes to a Homer collector as HEPv3 (hep.ts), correlated by call id.
 *
 * Imports nothing of the domain: the calls module tells it which Call-IDs belong together.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { WireTrace } from '../sip/transport/types';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { GatewayMetrics } from '../platform/metrics';
import { createRedis } from '../platform/redis';
import { encodeHep3 } from './hep';
import { type CapturedMessage, SipCaptureStore } from './sip-capture.store';

const CALL_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'PRACK', 'UPDATE', 'INFO', 'REFER']);
const FLUSH_MS = 100;
const FLUSH_AT = 500;
/** Messages waiting for Redis at most; beyond, new ones are dropped. */
const MAX_PENDING = 20_000;
/** Leg links at most (a leak guard: the B2BUA unlinks each leg when it is forgotten). */
const MAX_LINKS = 500_000;

/**
 * The capture's own Redis connection: its batches must not queue in front of the call path's
 * commands (credit control, registrations) on the shared connection.
 */
export const SIP_CAPTURE_REDIS = Symbol('SIP_CAPTURE_REDIS');
export const sipCaptureRedisProvider = {
  provide: SIP_CAPTURE_REDIS,
  inject: [APP_CONFIG],
  useFactory: async (config: AppConfig): Promise<Redis | undefined> => {
    if (!config.capture.enabled) return undefined;
    const redis = createRedis(config.redisUrl, 'sip-capture');
    await redis.connect();
    return redis;
  },
};

/** `ip:port`, IPv6 in brackets. */
export const hostPort = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

@Injectable()
export class SipCapture implements OnApplicationShutdown {
  private readonly log = new Logger('sip-capture');
  private readonly store?: SipCaptureStore;
  private readonly links = new Map<string, string>();
  private pending = new Map<string, CapturedMessage[]>();
  private pendingCount = 0;
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private hep?: Socket;
  private lastStoreError = 0;

  constructor(
    @Inject(SIP_CAPTURE_REDIS) private readonly redis: Redis | undefined,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    const c = config.capture;
    if (redis && c.enabled) this.store = new SipCaptureStore(redis, config.redisPrefix, { retentionSeconds: c.retentionHours * 3600, maxCalls: c.maxCalls, maxMessagesPerCall: c.maxMessagesPerCall });
    if (c.hep) {
      this.hep = createSocket(c.hep.host.includes(':') ? 'udp6' : 'udp4');
      this.hep.on('error', (err) => this.log.warn({ err: err.message }, 'HEP socket error'));
      this.hep.unref();
    }
  }

  /** Whether anything consumes traces (SipServer subscribes only then). */
  get active(): boolean {
    return this.store !== undefined || this.hep !== undefined;
  }

  /** A callee leg's Call-ID belongs to the call `callId`. */
  link(legCallId: string, callId: string): void {
    if (legCallId === callId) return;
    if (this.links.size >= MAX_LINKS) this.links.delete(this.links.keys().next().value!);
    this.links.set(legCallId, callId);
  }

  /** The call a SIP Call-ID belongs to: its own for the caller's leg and for messages of no call. */
  callIdOf(sipCallId: string): string {
    return this.links.get(sipCallId) ?? sipCallId;
  }

  unlink(legCallId: string): void {
    this.links.delete(legCallId);
  }

  /** One message off the wire; `publicHost` names the gateway where the socket is bound to a wildcard. */
  observe(t: WireTrace, publicHost: string): void {
    const sipCallId = t.message.callId;
    const linked = this.links.get(sipCallId);
    const callId = linked ?? sipCallId;
    const src = isWildcard(t.src.address) ? { address: publicHost, port: t.src.port } : t.src;
    const dst = isWildcard(t.dst.address) ? { address: publicHost, port: t.dst.port } : t.dst;
    if (this.hep) this.sendHep(t, src, dst, callId);
    // A flood over the per-source rate limit would only push real calls out of the capped store.
    if (!this.store || t.limited || !CALL_METHODS.has(t.message.cseq.method)) return;
    if (this.pendingCount >= MAX_PENDING) {
      this.metrics.captureDropped('backlog');
      return;
    }
    const max = this.config.capture.maxMessageBytes;
    let text = t.data.subarray(0, max).toString('utf8');
    if (t.data.length > max) text += `\r\n[truncated: ${t.data.length} bytes in all]`;
    const eol = text.indexOf('\r\n');
    const m = t.message;
    const entry: CapturedMessage = {
      at: t.at.toISOString(),
      direction: t.direction,
      leg: linked ? 'b' : 'a',
      transport: t.transport.toLowerCase() as CapturedMessage['transport'],
      src: hostPort(src.address, src.port),
      dst: hostPort(dst.address, dst.port),
      // A response names the method it answers (its CSeq's).
      method: m.kind === 'request' ? m.method : m.cseq.method,
      status: m.kind === 'response' ? m.status : null,
      summary: eol >= 0 ? text.slice(0, eol) : text.slice(0, 200),
      text,
    };
    const list = this.pending.get(callId);
    if (list) list.push(entry);
    else this.pending.set(callId, [entry]);
    this.pendingCount++;
    if (this.pendingCount >= FLUSH_AT) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Writes what is buffered (one flush at a time); resolves when it is stored or dropped. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(async () => {
      if (this.pendingCount === 0) return;
      const batch = this.pending;
      const count = this.pendingCount;
      this.pending = new Map();
      this.pendingCount = 0;
      try {
        await this.store!.append(batch);
      } catch (err) {
        this.metrics.captureDropped('store', count);
        // One line per minute at most while Redis fails.
        if (Date.now() - this.lastStoreError > 60_000) {
          this.lastStoreError = Date.now();
          this.log.warn({ err: (err as Error).message, messages: count }, 'SIP capture not stored');
        }
      }
    });
    return this.flushing;
  }

  /** What was captured for a call, oldest first; messages still buffered on this node are written first. */
  async messages(callId: string): Promise<CapturedMessage[]> {
    if (!this.store) return [];
    if (this.pending.has(callId)) await this.flush();
    return this.store.messages(callId);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
    this.hep?.close();
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }

  private sendHep(t: WireTrace, src: { address: string; port: number }, dst: { address: string; port: number }, callId: string): void {
    const hep = this.config.capture.hep!;
    const packet = encodeHep3({ transport: t.transport, src, dst, at: t.at, payload: t.data, captureId: hep.captureId, authKey: hep.authKey, correlationId: callId });
    this.hep!.send(packet, hep.port, hep.host, (err) => {
      if (err) this.metrics.captureDropped('hep');
    });
  }
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}
