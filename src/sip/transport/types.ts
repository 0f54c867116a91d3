// Owns the vocabulary shared by the transports and the layer that picks one.
// Must not import anything outside src/sip.

export type TransportName = 'UDP' | 'TCP' | 'WS' | 'WSS';

/** Transports that keep a connection per peer: responses and requests to that peer go down it (RFC 3261 §18, RFC 7118). */
export function isConnectionTransport(name: TransportName): boolean {
  return name !== 'UDP';
}

/** WebSocket transports: the gateway can only send down a connection the peer opened, never open one (RFC 7118 §5). */
export function isWebSocket(name: TransportName): name is 'WS' | 'WSS' {
  return name === 'WS' || name === 'WSS';
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Where to send a message. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly transport: TransportName;
}

/** Where a message came from: the peer, and the local listener it reached. */
export interface Source extends Endpoint {
  readonly transport: TransportName;
  readonly local: Endpoint;
  /** WebSocket only: this process's id for the connection the message came on (unique per process start). */
  readonly connection?: string;
}

/** Something the application should log; the stack itself carries on. */
export interface TransportReport {
  readonly kind: 'malformed' | 'oversize' | 'socket-error' | 'send-error' | 'refused';
  readonly reason: string;
  readonly source?: Source;
  /** For malformed input: the status sent back (400/505), or undefined when the bytes were dropped. */
  readonly answered?: number;
}

/** What a single transport hands to the layer above: one whole message's bytes at a time. */
export interface FrameSink {
  frame(data: Buffer, source: Source): void;
  report(report: TransportReport): void;
  /** A connection-oriented peer went away (WebSocket: its bindings must go at once). */
  closed?(source: Source): void;
}

export interface SendOptions {
  /** Open a connection when none to that peer exists (TCP; default true). */
  readonly connect?: boolean;
}

/** One transport bound to one local address. */
export interface Transport {
  readonly name: TransportName;
  /** The bound address; the port is the real one after listening on port 0. */
  local(): Endpoint;
  listen(): Promise<void>;
  /**
   * Sends bytes; TCP reuses a connection to that peer (inbound or outbound) and opens one only when
   * `connect` is not false. Responses pass `connect: false`: they go on the request's own connection or nowhere.
   */
  send(data: Buffer, to: Endpoint, options?: SendOptions): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 65535;

/**
 * One SIP message as it crossed the wire (received and parsed, or sent), for capture and tracing:
 * the exact bytes, the parsed message, the two ends and the local time. Retransmissions are
 * separate traces; malformed input is not traced (it has no reliable Call-ID).
 */
export interface WireTrace {
  readonly direction: 'in' | 'out';
  readonly transport: TransportName;
  readonly message: import('../message').SipMessage;
  readonly data: Buffer;
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly at: Date;
  /** A request over its source's rate limit, or the stateless 503 that refused it (a flood: not worth keeping). */
  readonly limited?: boolean;
}
