// Owns picking a transport: it binds the configured listeners, parses what they receive, answers
// malformed requests, applies the NAT rules, and sends a message to a target over the matching
// transport. It knows nothing of transactions. Must not import anything outside src/sip.
import { responseForMalformed } from '../malformed';
import type { SipMessage, SipResponse } from '../message';
import { parseMessage } from '../parser';
import { serialize } from '../serializer';
import { createVia, type Via } from '../via';
import { responseTarget, stampReceived } from './nat';
import { TcpTransport } from './tcp';
import { type Endpoint, type Source, type Target, type Transport, type TransportName, type TransportReport, DEFAULT_MAX_MESSAGE_SIZE } from './types';
import { UdpTransport } from './udp';

export interface ListenSpec {
  readonly address: string;
  readonly port: number;
  readonly transports: readonly TransportName[];
}

export interface TransportLayerOptions {
  readonly listen: readonly ListenSpec[];
  readonly maxMessageSize?: number;
}

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
  private readonly maxMessageSize: number;

  constructor(private readonly options: TransportLayerOptions) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  onMessage(listener: Listener<Inbound>): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  onReport(listener: Listener<TransportReport>): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  async start(): Promise<void> {
    for (const spec of this.options.listen) {
      for (const name of spec.transports) {
        const sink = { frame: (data: Buffer, source: Source) => this.receive(data, source), report: (r: TransportReport) => this.report(r) };
        const bind = { address: spec.address, port: spec.port };
        const transport = name === 'UDP' ? new UdpTransport(bind, sink) : new TcpTransport(bind, sink, this.maxMessageSize);
        await transport.listen();
        this.transports.push(transport);
      }
    }
  }

  async stop(): Promise<void> {
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
    await this.sendBytes(serialize(message), target);
  }

  /** Sends a response where RFC 3261 §18.2.2 and RFC 3581 say it goes (TCP: the connection the request came on). */
  async sendResponse(response: SipResponse): Promise<void> {
    await this.send(response, responseTarget(response.via[0]));
  }

  private async sendBytes(data: Buffer, target: Target): Promise<void> {
    try {
      await this.pick(target.transport).send(data, { address: target.host, port: target.port });
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
    const parsed = parseMessage(data, { maxSize: this.maxMessageSize });
    if (!parsed.ok) {
      const reply = responseForMalformed(data, parsed.error);
      if (reply) this.sendBytes(reply.data, { host: source.address, port: source.port, transport: source.transport }).catch(() => undefined);
      this.report({ kind: 'malformed', reason: `${parsed.error.code}: ${parsed.error.reason}`, source, answered: reply?.status });
      return;
    }
    const message = parsed.value.kind === 'request' ? stampReceived(parsed.value, source) : parsed.value;
    for (const listener of this.messageListeners) {
      try {
        listener({ message, source });
      } catch (err) {
        // A failing listener must not stop the others or the socket.
        this.report({ kind: 'socket-error', reason: `message listener failed: ${err instanceof Error ? err.message : String(err)}`, source });
      }
    }
  }

  private report(report: TransportReport): void {
    for (const listener of this.reportListeners) listener(report);
  }
}
