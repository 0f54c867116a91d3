// Owns picking a transport: it binds the configured listeners, asks the source guard about each
// packet (dropping floods unparsed, answering sources over their rate with a stateless 503),
// parses what they receive, answers malformed requests, applies the NAT rules, and sends a message
// to a target over the matching transport. It knows nothing of transactions.
// Must not import anything outside src/sip.
import { createResponse } from '../builders';
import { newTag } from '../identifiers';
import { responseForMalformed } from '../malformed';
import type { SipMessage, SipRequest, SipResponse } from '../message';
import { parseMessage } from '../parser';
import { serialize } from '../serializer';
import { createVia, type Via } from '../via';
import { ConnectionGuard } from './connection-guard';
import { responseTarget, stampReceived } from './nat';
import type { SourceGuard } from './source-guard';
import { TcpTransport } from './tcp';
import { type Endpoint, type FrameSink, type Source, type Target, type Transport, type TransportName, type TransportReport, type WireTrace, DEFAULT_MAX_MESSAGE_SIZE } from './types';
import { UdpTransport } from './udp';
import { type WsOriginPolicy, WsTransport } from './ws';

export interface ListenSpec {
  readonly address: string;
  readonly port: number;
  readonly transports: readonly TransportName[];
}

export interface TransportLayerOptions {
  readonly listen: readonly ListenSpec[];
  readonly maxMessageSize?: number;
  /** Per-source request limits; none when absent. */
  readonly guard?: SourceGuard;
  /** TCP connections per IP (0: unlimited) and idle timeout (0: none); both off when absent. */
  readonly tcp?: { readonly maxConnectionsPerIp: number; readonly idleMs: number };
  /**
   * SIP over WebSocket (RFC 7118) listeners, for ListenSpecs naming WS or WSS: the origin policy,
   * the per-IP cap and idle time of their own (0: unlimited / none), the ping interval, and the
   * certificate for WSS.
   */
  readonly ws?: {
    readonly origins: WsOriginPolicy;
    readonly maxConnectionsPerIp: number;
    readonly idleMs: number;
    readonly pingMs: number;
    readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  };
  /** Retry-After (seconds) in the 503 sent to a source over its rate (default 5). */
  readonly retryAfterSeconds?: number;
}

/** Seconds between the log summaries of refused and dropped packets while a flood lasts. */
const SUMMARY_FLUSH_MS = 10_000;

export interface Inbound {
  readonly message: SipMessage;
  readonly source: Source;
}

export interface Listening extends Endpoint {
  readonly transport: TransportName;
}

type Listener<T> = (value: T) => void;

export class TransportLayer {
  private readonly transports: Transport[] = [];
  private readonly messageListeners = new Set<Listener<Inbound>>();
  private readonly reportListeners = new Set<Listener<TransportReport>>();
  private readonly closeListeners = new Set<Listener<Source>>();
  private readonly traceListeners = new Set<Listener<WireTrace>>();
  private readonly maxMessageSize: number;
  private readonly connections: ConnectionGuard;
  private readonly wsConnections: ConnectionGuard;
  private readonly retryAfter: string;
  private flush?: NodeJS.Timeout;

  constructor(private readonly options: TransportLayerOptions) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    const guard = options.guard;
    this.connections = new ConnectionGuard({
      maxPerIp: options.tcp?.maxConnectionsPerIp ?? 0,
      idleMs: options.tcp?.idleMs ?? 0,
      isTrusted: guard ? (address) => guard.isTrusted(address) : undefined,
    });
    this.wsConnections = new ConnectionGuard({
      maxPerIp: options.ws?.maxConnectionsPerIp ?? 0,
      idleMs: options.ws?.idleMs ?? 0,
      isTrusted: guard ? (address) => guard.isTrusted(address) : undefined,
    });
    this.retryAfter = String(options.retryAfterSeconds ?? 5);
  }

  /** A WebSocket connection closed (its source carries the connection id): its registrations end now. */
  onConnectionClosed(listener: Listener<Source>): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  onMessage(listener: Listener<Inbound>): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /**
   * Every message received (parsed) and sent, retransmissions included: for SIP capture and
   * per-message logs. Costs nothing while nobody listens; a listener must be quick and not throw.
   */
  onTrace(listener: Listener<WireTrace>): () => void {
    this.traceListeners.add(listener);
    return () => this.traceListeners.delete(listener);
  }

  onReport(listener: Listener<TransportReport>): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  async start(): Promise<void> {
    for (const spec of this.options.listen) {
      for (const name of spec.transports) {
        const sink = {
          frame: (data: Buffer, source: Source) => this.receive(data, source),
          report: (r: TransportReport) => this.report(r),
          closed: (source: Source) => this.closed(source),
        };
        const bind = { address: spec.address, port: spec.port };
        const transport = this.create(name, bind, sink);
        await transport.listen();
        this.transports.push(transport);
      }
    }
    if (this.options.guard) {
      // The tail of a flood is logged even when no further packet comes to trigger the summary.
      this.flush = setInterval(() => this.reportRefusals(), SUMMARY_FLUSH_MS);
      this.flush.unref();
    }
  }

  private create(name: TransportName, bind: Endpoint, sink: FrameSink): Transport {
    if (name === 'UDP') return new UdpTransport(bind, sink);
    if (name === 'TCP') return new TcpTransport(bind, sink, this.maxMessageSize, this.connections);
    const ws = this.options.ws;
    return new WsTransport(bind, sink, {
      secure: name === 'WSS',
      tls: ws?.tls,
      maxMessageSize: this.maxMessageSize,
      origins: ws?.origins ?? { allowed: 'same-host' },
      pingMs: ws?.pingMs ?? 0,
      guard: this.wsConnections,
    });
  }

  private closed(source: Source): void {
    for (const listener of this.closeListeners) {
      try {
        listener(source);
      } catch (err) {
        this.report({ kind: 'socket-error', reason: `connection-closed listener failed: ${err instanceof Error ? err.message : String(err)}`, source });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.flush) clearInterval(this.flush);
    await Promise.all(this.transports.splice(0).map((t) => t.close()));
  }

  listening(): Listening[] {
    return this.transports.map((t) => ({ ...t.local(), transport: t.name }));
  }

  /** A Via naming this element as sent-by for the given transport (the TU supplies the branch). */
  via(transport: TransportName, branch: string): Via {
    const local = this.pick(transport).local();
    return createVia({ transport, host: local.address, port: local.port, params: new Map([['branch', branch], ['rport', null]]) });
  }

  /** Sends a message to a target; rejects (and reports) when no transport fits or the socket fails. */
  async send(message: SipMessage, target: Target): Promise<void> {
    const data = serialize(message);
    await this.sendBytes(data, target);
    this.traceOut(message, data, target);
  }

  /**
   * Sends a response to the target computed from its request's source (nat.ts responseTarget). Over
   * TCP and WebSocket only the request's own connection is used: when it is gone the response is dropped, reported,
   * and the promise rejects; no connection is ever opened for a response.
   */
  async sendResponse(response: SipResponse, target: Target): Promise<void> {
    const data = serialize(response);
    await this.sendBytes(data, target, false);
    this.traceOut(response, data, target);
  }

  private traceOut(message: SipMessage, data: Buffer, target: Target, limited = false): void {
    if (this.traceListeners.size === 0) return;
    const local = this.transports.find((t) => t.name === target.transport)?.local() ?? { address: '0.0.0.0', port: 0 };
    this.trace({ direction: 'out', transport: target.transport, message, data, src: local, dst: { address: target.host, port: target.port }, at: new Date(), ...(limited ? { limited } : {}) });
  }

  private trace(t: WireTrace): void {
    for (const listener of this.traceListeners) {
      try {
        listener(t);
      } catch (err) {
        this.report({ kind: 'socket-error', reason: `trace listener failed: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
  }

  private async sendBytes(data: Buffer, target: Target, connect = true): Promise<void> {
    try {
      await this.pick(target.transport).send(data, { address: target.host, port: target.port }, { connect });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.report({ kind: 'send-error', reason: `${target.transport} ${target.host}:${target.port}: ${reason}` });
      throw err;
    }
  }

  private pick(name: TransportName): Transport {
    const transport = this.transports.find((t) => t.name === name);
    if (!transport) throw new Error(`no ${name} transport is listening`);
    return transport;
  }

  private receive(data: Buffer, source: Source): void {
    const guard = this.options.guard;
    let refuse = false;
    if (guard) {
      // Decided on the first bytes, before parsing: a flood costs no parse. Responses ("SIP/2.0 ...")
      // and ACKs are not new work and cannot be refused, only dropped with the rest of a flood.
      const other = data[0] === 0x53 || (data[0] === 0x41 && data[1] === 0x43 && data[2] === 0x4b && data[3] === 0x20);
      const verdict = other ? guard.other(source.address) : guard.request(source.address);
      if (verdict !== 'admit') this.reportRefusals();
      if (verdict === 'drop') return;
      refuse = verdict === 'refuse';
    }
    const parsed = parseMessage(data, { maxSize: this.maxMessageSize });
    if (!parsed.ok) {
      const reply = responseForMalformed(data, parsed.error);
      // Where it came from, and over TCP only on its own connection (never a new one).
      if (reply) this.sendQuietly(reply.data, { host: source.address, port: source.port, transport: source.transport }, false);
      this.report({ kind: 'malformed', reason: `${parsed.error.code}: ${parsed.error.reason}`, source, answered: reply?.status });
      return;
    }
    const message = parsed.value.kind === 'request' ? stampReceived(parsed.value, source) : parsed.value;
    if (this.traceListeners.size > 0) this.trace({ direction: 'in', transport: source.transport, message, data, src: { address: source.address, port: source.port }, dst: source.local, at: new Date(), ...(refuse ? { limited: true } : {}) });
    if (refuse) {
      if (message.kind === 'request') this.refuse(message, source);
      return;
    }
    for (const listener of this.messageListeners) {
      try {
        listener({ message, source });
      } catch (err) {
        // A failing listener must not stop the others or the socket.
        this.report({ kind: 'socket-error', reason: `message listener failed: ${err instanceof Error ? err.message : String(err)}`, source });
      }
    }
  }

  /** The stateless 503 for a source over its rate: no transaction, no TU, answered where it came from. */
  private refuse(request: SipRequest, source: Source): void {
    if (request.method === 'ACK') return;
    const response = createResponse(request, 503, {
      reason: 'Rate Limit Exceeded',
      toTag: newTag(),
      headers: [{ name: 'Retry-After', value: this.retryAfter }],
    });
    const target = responseTarget(request.via[0], source);
    const data = serialize(response);
    this.sendQuietly(data, target, false);
    this.traceOut(response, data, target, true);
  }

  /** A send whose failure is already reported by sendBytes and needs nothing more. */
  private sendQuietly(data: Buffer, target: Target, connect = true): void {
    this.sendBytes(data, target, connect).catch((err: unknown) => {
      // sendBytes has reported it; a reply that could not go out changes nothing else.
      void err;
    });
  }

  /** Logs (through the report listeners) what the source guard turned away, at most once per 10 s. */
  private reportRefusals(): void {
    const s = this.options.guard?.summary();
    if (!s) return;
    this.report({
      kind: 'refused',
      reason: `over the per-source rate limit: ${s.refused} requests answered 503 and ${s.dropped} packets dropped in ${s.seconds} s; most from ${s.top.address} (${s.top.count})`,
    });
  }

  private report(report: TransportReport): void {
    for (const listener of this.reportListeners) listener(report);
  }
}
