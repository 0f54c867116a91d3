// Owns SIP over WebSocket (RFC 7118), plain (WS) and over TLS (WSS), with the `ws` library: it
// accepts upgrades, checks them, and hands each WebSocket message to the layer above as one whole
// SIP message (no stream framing: a message is a frame). It never opens a connection: requests to a
// WebSocket peer (a browser behind NAT) go down the connection that peer opened, or nowhere.
// Must not import anything outside src/sip (and `ws`, node's http/https).
//
// What an upgrade must pass before `ws` sees it, answered with an HTTP error and closed otherwise:
// - the per-IP connection cap (ConnectionGuard), counted from the TCP accept, so half-open HTTP
//   connections count too; the idle timer closes a handshake that never completes;
// - path `/` (the only path, RFC 7118 leaves it to the server);
// - `Sec-WebSocket-Protocol` offering `sip`: `ws` alone would accept a connection with no
//   subprotocol, or the first one offered (426 otherwise);
// - the Origin allow-list (WsOriginPolicy): a browser page of another site must not use a logged-in
//   user's browser to reach us (403 otherwise).
// After the upgrade: a bare CRLF (or CRLFCRLF, RFC 5626 §4.4.1 style keep-alive) is a keep-alive,
// not a message; a message over `maxPayload` closes the connection (1009) and is reported; pings
// every `pingMs` and a connection that misses a pong is terminated; pongs and messages reset the
// idle timer.
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { ConnectionGuard, type ConnectionLease } from './connection-guard';
import { listenServer } from './listen';
import type { Endpoint, FrameSink, SendOptions, Source, Transport } from './types';

/** Who may open a WebSocket, by the Origin header browsers send. */
export interface WsOriginPolicy {
  /**
   * 'same-host' (the default): no Origin (not a browser) or an Origin whose host is the host the
   * browser connected to (the gateway's own /phone page, on any port or scheme). 'any': everyone.
   * A list: those origins exactly (scheme://host[:port], lower case), plus clients sending none.
   */
  readonly allowed: 'same-host' | 'any' | readonly string[];
}

export interface WsTransportOptions {
  readonly secure: boolean;
  /** PEM certificate and key, for WSS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly maxMessageSize: number;
  readonly origins: WsOriginPolicy;
  /** Ping interval; a connection that has not answered the previous ping is terminated. 0: no pings. */
  readonly pingMs: number;
  readonly guard?: ConnectionGuard;
}

interface Connection {
  readonly ws: WebSocket;
  readonly source: Source;
  alive: boolean;
}

function key(address: string, port: number): string {
  return `${address.replace(/^::ffff:/, '')}:${port}`;
}

/** True for a message that is only CR and LF: a keep-alive (RFC 7118 §6 lets either side send one). */
function isKeepAlive(data: Buffer): boolean {
  if (data.length === 0) return true;
  for (const b of data) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}

/** Does the upgrade request offer the `sip` subprotocol (a comma-separated token list)? */
function offersSip(req: IncomingMessage): boolean {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((p) => p.trim().toLowerCase() === 'sip');
}

/** The Origin check of WsOriginPolicy; `undefined` when allowed, else why not. */
export function originRefusal(policy: WsOriginPolicy, origin: string | undefined, host: string | undefined): string | undefined {
  // Only browsers send Origin; anything else can forge it anyway, so the check guards browsers only.
  if (origin === undefined) return undefined;
  if (policy.allowed === 'any') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return 'unreadable Origin';
  }
  if (policy.allowed === 'same-host') {
    const connected = (host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
    const from = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    return connected !== '' && from === connected ? undefined : `Origin ${parsed.origin} is not this host (${connected || 'no Host header'})`;
  }
  return policy.allowed.includes(parsed.origin.toLowerCase()) ? undefined : `Origin ${parsed.origin} is not in SIP_WS_ALLOWED_ORIGINS`;
}

/** Writes an HTTP error on a socket that asked to upgrade, and closes it. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, extra = ''): void {
  if (socket.writable) {
    const body = `${reason}\n`;
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
  }
  socket.destroy();
}

export class WsTransport implements Transport {
  readonly name: 'WS' | 'WSS';
  private server?: HttpServer;
  private wss?: WebSocketServer;
  private bound: Endpoint;
  private pinger?: NodeJS.Timeout;
  private readonly connections = new Map<string, Connection>();
  private readonly guard: ConnectionGuard;
  private readonly leases = new WeakMap<Duplex, ConnectionLease>();
  /** Distinguishes this process's connection ids from another node's or an earlier start's. */
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;

  constructor(
    private readonly bind: Endpoint,
    private readonly sink: FrameSink,
    private readonly options: WsTransportOptions,
  ) {
    this.name = options.secure ? 'WSS' : 'WS';
    this.bound = bind;
    this.guard = options.guard ?? new ConnectionGuard({ maxPerIp: 0, idleMs: 0 });
  }

  local(): Endpoint {
    return this.bound;
  }

  listen(): Promise<void> {
    const { secure, tls } = this.options;
    if (secure && !tls) return Promise.reject(new Error('WSS needs TLS_CERT_FILE and TLS_KEY_FILE'));
    const server = secure ? createHttpsServer({ cert: tls!.cert, key: tls!.key, handshakeTimeout: 10_000 }) : createHttpServer();
    // A handshake is small: slow or endless headers are an attack, not a client.
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    this.server = server;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxMessageSize,
      // Checked in onUpgrade already; this answers with it.
      handleProtocols: () => 'sip',
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Plain HTTP on the WebSocket port: say what is expected instead of hanging.
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
      res.end('SIP over WebSocket (RFC 7118): upgrade with Sec-WebSocket-Protocol: sip\n');
    });
    // Over TLS the upgrade arrives on the TLS socket, so that is the one counted.
    server.on(secure ? 'secureConnection' : 'connection', (socket: Duplex) => this.admit(socket));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err, socket) => {
      this.sink.report({ kind: 'malformed', reason: `${this.name} handshake: ${err.message}` });
      socket.destroy();
    });
    if (this.options.pingMs > 0) {
      this.pinger = setInterval(() => this.pingAll(), this.options.pingMs);
      this.pinger.unref();
    }
    return listenServer(server, this.bind, this.sink).then((bound) => {
      this.bound = bound;
    });
  }

  /** Counts a new TCP (or TLS) connection against its IP's cap, before any HTTP is read. */
  private admit(socket: Duplex & { remoteAddress?: string; remotePort?: number }): void {
    const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const source: Source = { address, port: socket.remotePort ?? 0, transport: this.name, local: this.bound };
    const lease = this.guard.admit(address, () => {
      this.sink.report({ kind: 'refused', reason: `${this.name} connection idle too long; closed`, source });
      socket.destroy();
    });
    if (!lease) {
      this.sink.report({ kind: 'refused', reason: `too many ${this.name} connections from this address; connection closed`, source });
      socket.destroy();
      return;
    }
    socket.once('close', () => lease.release());
    this.leases.set(socket, lease);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const lease = this.leases.get(socket);
    const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const port = req.socket.remotePort ?? 0;
    const source: Source = { address, port, transport: this.name, local: this.bound };
    const refuse = (status: number, reason: string, extra = '') => {
      this.sink.report({ kind: 'refused', reason: `${this.name} upgrade refused: ${reason}`, source });
      refuseUpgrade(socket, status, reason, extra);
    };
    if (!lease) return refuse(503, 'Service Unavailable');
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') return refuse(404, 'Not Found');
    if (!offersSip(req)) return refuse(426, 'Upgrade Required', 'Sec-WebSocket-Protocol: sip\r\n');
    const origin = originRefusal(this.options.origins, req.headers.origin, req.headers.host);
    if (origin) {
      this.sink.report({ kind: 'refused', reason: `${this.name} upgrade refused: ${origin}`, source });
      refuseUpgrade(socket, 403, 'Forbidden');
      return;
    }
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(ws, source, lease));
  }

  private accept(ws: WebSocket, remote: Source, lease: ConnectionLease): void {
    const source: Source = { ...remote, connection: `${this.name.toLowerCase()}-${this.idPrefix}-${++this.nextId}` };
    const id = key(source.address, source.port);
    const conn: Connection = { ws, source, alive: true };
    this.connections.set(id, conn);
    lease.touch();
    ws.on('message', (data: RawData) => {
      lease.touch();
      conn.alive = true;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (isKeepAlive(bytes)) return;
      this.sink.frame(bytes, source);
    });
    ws.on('pong', () => {
      conn.alive = true;
      lease.touch();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // `ws` closes the connection itself after a protocol error (1002) or an oversize message (1009).
      const kind = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'oversize' : 'malformed';
      this.sink.report({ kind, reason: `${this.name}: ${err.message}; connection closed`, source });
    });
    ws.on('close', () => {
      lease.release();
      if (this.connections.get(id) === conn) this.connections.delete(id);
      try {
        this.sink.closed?.(source);
      } catch (err) {
        this.sink.report({ kind: 'socket-error', reason: `close listener failed: ${err instanceof Error ? err.message : String(err)}`, source });
      }
    });
  }

  private pingAll(): void {
    for (const conn of this.connections.values()) {
      if (!conn.alive) {
        this.sink.report({ kind: 'refused', reason: `${this.name} peer missed a pong; connection closed`, source: conn.source });
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        // The socket is closing; its close event cleans up.
      }
    }
  }

  /** Sends down the peer's own connection; never opens one (`connect` does not apply). */
  async send(data: Buffer, to: Endpoint, _options: SendOptions = {}): Promise<void> {
    const conn = this.connections.get(key(to.address, to.port));
    if (!conn || conn.ws.readyState !== conn.ws.OPEN) throw new Error(`no open ${this.name} connection from ${to.address}:${to.port}`);
    // SIP is text (RFC 7118 §5.1 lets either be used; browsers' libraries expect text frames).
    await new Promise<void>((resolve, reject) => conn.ws.send(data.toString('utf8'), (err) => (err ? reject(err) : resolve())));
  }

  /** The open connections (for tests and the connection count). */
  get size(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.pinger) clearInterval(this.pinger);
    for (const conn of this.connections.values()) conn.ws.terminate();
    this.connections.clear();
    this.wss?.close();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
