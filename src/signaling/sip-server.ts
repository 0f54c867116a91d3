/**
 * The gateway's SIP endpoint inside the Nest application: binds SIP_LISTEN (UDP and TCP) in
 * processes with the `sip` role, runs the transaction layer, and hands each new request to the
 * handler its method is registered for (the registrar registers REGISTER; the calls module registers
 * INVITE, CANCEL and the in-dialog methods). What no handler owns is answered here: OPTIONS (200),
 * Max-Forwards 0 (483), loops (482), known methods we do not serve (405), unknown methods (501);
 * OPTIONS gets 503 while the node drains (NodeLifecycle), so a SIP edge stops sending it calls.
 *
 * With SIP_WS_LISTEN / SIP_WSS_LISTEN it also serves SIP over WebSocket (RFC 7118, see
 * src/sip/transport/ws.ts); `onConnectionClosed` tells the registrar when a WebSocket goes, and
 * `nodeId` names this process in the bindings it owns, since no other node can reach its sockets.
 *
 * Requests from SIP_TRUSTED_EDGES (a Kamailio edge in front of many nodes) are the users' requests
 * relayed: `originOf` gives the user's own address from the edge's Via stamps, and the registrar
 * keeps their Path (src/signaling/edge.ts).
 *
 * It also applies the per-source limits of SIP_RATE_LIMIT_PER_SECOND and friends (see
 * src/sip/transport/source-guard.ts): the addresses that get the trunk limits are set from the
 * domain side with setTrustedSources(), since this module knows nothing of trunks.
 *
 * Every message in and out (WireTrace) is counted (GatewayMetrics), goes to the SIP capture (sip-capture.ts) and, with
 * LOG_LEVEL=debug, to one debug line each (the text too with SIP_TRACE=true).
 *
 * It owns no domain rule; domain modules import it, never the reverse.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createResponse } from '../sip/builders';
import { newBranch, newTag } from '../sip/identifiers';
import { AnswerRetransmission } from '../sip/transaction/answer-retransmission';
import { DEFAULT_TIMERS, systemClock } from '../sip/transaction/timers';
import { type Via, createVia } from '../sip/via';
import type { SipMessage, SipRequest, SipResponse } from '../sip/message';
import type { IncomingRequest } from '../sip/transaction/transaction-layer';
import { TransactionLayer } from '../sip/transaction/transaction-layer';
import { stampedTarget } from '../sip/transport/nat';
import { SourceGuard, trustList } from '../sip/transport/source-guard';
import { TransportLayer } from '../sip/transport/transport-layer';
import type { Inbound, ListenSpec, Listening } from '../sip/transport/transport-layer';
import type { Source, Target, TransportName, WireTrace } from '../sip/transport/types';
import { advertisedHost } from '../platform/advertised-host';
import { bindFailure } from '../platform/bind-failure';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { NodeLifecycle } from '../platform/node-lifecycle';
import { GatewayMetrics } from '../platform/metrics';
import { SipCapture, hostPort } from './sip-capture';
import { clientBehindEdge } from './edge';

export type SipRequestHandler = (incoming: IncomingRequest) => Promise<SipResponse | void>;

/** Methods of RFC 3261 and its common extensions: known, so 405 (not 501) when nobody serves them. */
const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

export const SIP_SERVER_HEADER = { name: 'Server', value: 'pstn-gateway' };

@Injectable()
export class SipServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('sip');
  private readonly handlers = new Map<string, SipRequestHandler>();
  private readonly ackListeners: ((inbound: Inbound) => void)[] = [];
  private readonly strayListeners: ((inbound: Inbound) => void)[] = [];
  private readonly closeListeners: ((source: Source) => void)[] = [];
  /** This process, in the WebSocket bindings it owns: unique per start, so a restarted node's old bindings are not its own. */
  readonly nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private transport?: TransportLayer;
  private transactions?: TransactionLayer;
  private readonly guard: SourceGuard;
  /** SIP_TRUSTED_EDGES: sources whose Path and Via received/rport are believed (see edge.ts). */
  private readonly edges: ReturnType<typeof trustList>;
  /** Per kind of refusal: how many since its last log line, and when that was (one line per 10 s at most). */
  private readonly refusals = new Map<string, { count: number; lastLog: number }>();

  /** Computed once: every message the gateway builds names it. */
  private readonly host: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly lifecycle: NodeLifecycle,
    /** The B2BUA links each callee leg's Call-ID to its call here (capture.link). */
    readonly capture: SipCapture,
    private readonly metrics: GatewayMetrics,
  ) {
    this.host = advertisedHost(config);
    const limits = config.sip.limits;
    this.guard = new SourceGuard({ ratePerSecond: limits.ratePerSecond, trustedRatePerSecond: limits.trunkRatePerSecond });
    this.edges = trustList(config.sip.trustedEdges);
    // An edge carries every user's traffic from one address: it gets the trunk limits, not a user's.
    this.guard.setTrusted(config.sip.trustedEdges);
  }

  /** True when `address` is one of SIP_TRUSTED_EDGES. */
  isTrustedEdge(address: string): boolean {
    const plain = address.replace(/^::ffff:/, '');
    return this.edges.check(plain, plain.includes(':') ? 'ipv6' : 'ipv4');
  }

  /**
   * Who sent the request: behind a trusted edge, the user's address as the edge stamped it in the
   * user's Via (received/rport); otherwise the source itself. For per-address limits and logs;
   * responses and requests still go to the source (the edge).
   */
  originOf(request: SipRequest, source: Source): Source {
    if (!this.isTrustedEdge(source.address)) return source;
    const client = clientBehindEdge(request);
    return client ? { ...source, address: client.address, port: client.port } : source;
  }

  /**
   * The addresses (IPs or CIDRs) that get the trunk limits instead of the per-source ones: the
   * domain side calls this with every trunk's inbound addresses, and again when they change.
   * Throws on an entry that is not an address or CIDR, leaving the previous list in force.
   */
  setTrustedSources(cidrs: readonly string[]): void {
    this.guard.setTrusted([...this.config.sip.trustedEdges, ...cidrs]);
  }

  /** Registers the handler for a method; call it from a module's constructor or onModuleInit. */
  handle(method: string, handler: SipRequestHandler): void {
    if (this.handlers.has(method)) throw new Error(`a SIP handler for ${method} is already registered`);
    this.handlers.set(method, handler);
  }

  /** Methods some handler serves, plus OPTIONS: the Allow header. */
  allowed(): string[] {
    return ['OPTIONS', ...this.handlers.keys()].sort();
  }

  /** ACKs for 2xx (they belong to no transaction, RFC 3261 §17.2.3): the dialog owner's to match. */
  onAck(listener: (inbound: Inbound) => void): void {
    this.ackListeners.push(listener);
  }

  /** Responses no client transaction matches: retransmitted 2xx whose ACK was lost, late forked answers. */
  onStrayResponse(listener: (inbound: Inbound) => void): void {
    this.strayListeners.push(listener);
  }

  /** A WebSocket connection closed; the source carries its connection id. */
  onConnectionClosed(listener: (source: Source) => void): void {
    this.closeListeners.push(listener);
  }

  /** Sends outside any transaction: the ACK for a 2xx (§13.2.2.4). */
  async sendStateless(message: SipMessage, target: Target): Promise<void> {
    if (!this.transport) throw new Error('SIP is not listening in this process');
    await this.transport.send(message, target);
  }

  /** The address and port the gateway puts in its Via and Contact (see platform/advertised-host.ts). */
  advertisedAddress(transport: TransportName = 'UDP'): { host: string; port: number } {
    const listening = this.listening();
    const l = listening.find((x) => x.transport === transport) ?? listening[0];
    return { host: this.host, port: l?.port ?? this.config.sipListen.port };
  }

  /** A fresh top Via for a request the gateway originates (new branch, rport asked for). */
  newVia(transport: TransportName): Via {
    const { host, port } = this.advertisedAddress(transport);
    return createVia({ transport, host, port, params: new Map<string, string | null>([['branch', newBranch()], ['rport', null]]) });
  }

  /** The gateway's Contact for dialogs it takes part in. */
  contact(transport: TransportName): string {
    const { host, port } = this.advertisedAddress(transport);
    const h = host.includes(':') ? `[${host}]` : host;
    // Over WebSocket the URI only says which transport: the browser sends everything down its socket (RFC 7118 §5.3).
    return `<sip:gw@${h}:${port}${transport === 'UDP' ? '' : `;transport=${transport.toLowerCase()}`}>`;
  }

  /** Keeps a 2xx to INVITE alive until its ACK (RFC 3261 §13.3.1.4); `onGiveUp` after 64*T1. */
  retransmitAnswer(response: SipResponse, reliable: boolean, onGiveUp: () => void): AnswerRetransmission {
    if (!this.transport) throw new Error('SIP is not listening in this process');
    const t1 = this.config.sip.t1Ms;
    // The INVITE's server transaction knows where its responses go; without it (an RFC 2543 peer),
    // the Via as we stamped it on arrival (received/rport, never maddr) is all there is.
    const target = this.transactions?.replyTargetFor(response) ?? stampedTarget(response.via[0]);
    const r = new AnswerRetransmission(this.transport, response, { ...DEFAULT_TIMERS, t1, t2: Math.max(4000, 8 * t1), t4: Math.max(5000, 10 * t1) }, systemClock, onGiveUp, target);
    r.start(reliable);
    return r;
  }

  listening(): Listening[] {
    return this.transport?.listening() ?? [];
  }

  get transactionLayer(): TransactionLayer | undefined {
    return this.transactions;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.roles.includes('sip')) return;
    const { host, port } = this.config.sipListen;
    const limits = this.config.sip.limits;
    const ws = this.config.sipWs;
    if (ws.secureListen && !(ws.tlsCertFile && ws.tlsKeyFile)) throw new Error('SIP_WSS_LISTEN needs TLS_CERT_FILE and TLS_KEY_FILE (PEM files)');
    const listen: ListenSpec[] = [{ address: host, port, transports: ['UDP', 'TCP'] }];
    if (ws.listen) listen.push({ address: ws.listen.host, port: ws.listen.port, transports: ['WS'] });
    if (ws.secureListen) listen.push({ address: ws.secureListen.host, port: ws.secureListen.port, transports: ['WSS'] });
    this.transport = new TransportLayer({
      listen,
      guard: this.guard,
      tcp: { maxConnectionsPerIp: limits.tcpMaxConnectionsPerIp, idleMs: limits.tcpIdleSeconds * 1000 },
      ws: {
        origins: { allowed: ws.allowedOrigins },
        maxConnectionsPerIp: ws.maxConnectionsPerIp,
        // The idle limit of TCP; pongs count as activity, so it ends dead peers and stalled handshakes.
        idleMs: limits.tcpIdleSeconds * 1000,
        pingMs: ws.pingSeconds * 1000,
        tls: ws.secureListen ? { cert: readFileSync(ws.tlsCertFile!), key: readFileSync(ws.tlsKeyFile!) } : undefined,
      },
    });
    this.transport.onConnectionClosed((source) => {
      for (const l of this.closeListeners) l(source);
    });
    this.transport.onReport((r) => {
      const source = r.source ? `${r.source.transport} ${r.source.address}:${r.source.port}` : undefined;
      if (r.kind === 'malformed' || r.kind === 'oversize') this.logger.warn({ kind: r.kind, reason: r.reason, source, answered: r.answered }, 'bad SIP input');
      // The source guard summarises floods itself (no source); per-connection refusals are rate-limited here.
      else if (r.kind === 'refused' && !r.source) this.logger.warn({ reason: r.reason }, 'SIP source limited');
      else if (r.kind === 'refused') this.warnLimited(r.reason, { reason: r.reason, last: source }, 'SIP source limited');
      // A peer can cause these at its rate (a TCP request, then closing before the answer).
      else if (r.kind === 'send-error') this.warnLimited('send-error', { kind: r.kind, reason: r.reason, source }, 'SIP transport problem');
      else this.logger.warn({ kind: r.kind, reason: r.reason, source }, 'SIP transport problem');
    });
    const debugLines = this.config.logLevel === 'debug' || this.config.logLevel === 'trace';
    this.transport.onTrace((t) => this.traced(t, debugLines));
    try {
      await this.transport.start();
    } catch (e) {
      await this.transport.stop().catch(() => undefined);
      throw this.bindError(e as NodeJS.ErrnoException);
    }
    const t1 = this.config.sip.t1Ms;
    this.transactions = new TransactionLayer(this.transport, {
      timers: { t1, t2: Math.max(4000, 8 * t1), t4: Math.max(5000, 10 * t1) },
      maxServerTransactions: limits.maxTransactions,
      maxServerTransactionsPerSource: limits.maxTransactionsPerSource,
      isTrusted: (address) => this.guard.isTrusted(address),
      onRefused: (request, source, cap) =>
        this.warnLimited(
          `transactions-${cap}`,
          { cap, last: `${request.method} from ${source.address}`, maxPerSource: limits.maxTransactionsPerSource, maxTotal: limits.maxTransactions },
          'SIP requests refused 503: too many open transactions',
        ),
    });
    this.transactions.onRequest((incoming) => void this.dispatch(incoming));
    this.transactions.onAck((inbound) => {
      for (const l of this.ackListeners) l(inbound);
    });
    this.transactions.onStrayResponse((inbound) => {
      for (const l of this.strayListeners) l(inbound);
    });
    this.logger.log({ listening: this.listening() }, 'SIP listening');
  }

  /** A listener that could not bind, named by the variable that configures it (SIP_LISTEN, SIP_WS_LISTEN, SIP_WSS_LISTEN). */
  private bindError(e: NodeJS.ErrnoException & { port?: number }): Error {
    const why = bindFailure(e.code);
    if (!why) return e;
    const ws = this.config.sipWs;
    const candidates: [string, { host: string; port: number } | undefined][] = [['SIP_LISTEN', this.config.sipListen], ['SIP_WS_LISTEN', ws.listen], ['SIP_WSS_LISTEN', ws.secureListen]];
    const [name, at] = candidates.find(([, l]) => l && l.port === e.port) ?? candidates[0];
    return new Error(`${name}: cannot listen on ${at!.host}:${at!.port}: ${why} (${e.code}); set ${name}`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.transactions?.close();
    await this.transport?.stop();
  }

  private traced(t: WireTrace, debugLine: boolean): void {
    this.metrics.sipMessage(t.direction, t.message);
    if (this.capture.active) this.capture.observe(t, this.host);
    if (!debugLine) return;
    const m = t.message;
    this.logger.debug(
      {
        direction: t.direction,
        transport: t.transport,
        ...(m.kind === 'request' ? { method: m.method } : { status: m.status, method: m.cseq.method }),
        // The gateway's call id (as in the call log and CDRs) for both legs; the leg's own Call-ID beside it.
        callId: this.capture.callIdOf(m.callId),
        sipCallId: m.callId,
        src: hostPort(t.src.address, t.src.port),
        dst: hostPort(t.dst.address, t.dst.port),
        ...(this.config.capture.trace ? { text: t.data.toString('utf8') } : {}),
      },
      'sip message',
    );
  }

  /** A warn line for the first event of a kind after a quiet period, then at most one per 10 s with the count since the last. */
  private warnLimited(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const r = this.refusals.get(kind) ?? { count: 0, lastLog: -Infinity };
    r.count++;
    this.refusals.set(kind, r);
    if (now - r.lastLog < 10_000) return;
    this.logger.warn({ ...fields, refused: r.count }, msg);
    r.count = 0;
    r.lastLog = now;
  }

  private async dispatch(incoming: IncomingRequest): Promise<void> {
    const { request, transaction } = incoming;
    let response: SipResponse | void;
    try {
      response = this.precheck(request) ?? (await this.route(incoming));
    } catch (err) {
      this.logger.error({ err, method: request.method, callId: request.callId }, 'SIP handler failed');
      response = this.reply(request, 500);
    }
    if (response) transaction.respond(response);
    if (request.method === 'REGISTER' && response) this.metrics.registerAnswered(response.status);
  }

  private precheck(request: SipRequest): SipResponse | undefined {
    if (request.maxForwards === 0) return this.reply(request, 483);
    if (this.isLoop(request)) return this.reply(request, 482);
    return undefined;
  }

  private route(incoming: IncomingRequest): Promise<SipResponse | void> | SipResponse {
    const { request } = incoming;
    const handler = this.handlers.get(request.method);
    if (handler) return handler(incoming);
    if (request.method === 'OPTIONS') {
      // A SIP edge's health check (Kamailio dispatcher) takes a draining node out of rotation, as /health/ready does for HTTP.
      if (this.lifecycle.draining) return this.reply(request, 503, { reason: 'Service Unavailable (shutting down)', headers: [{ name: 'Retry-After', value: '30' }] });
      return this.reply(request, 200, {
        headers: [
          { name: 'Accept', value: 'application/sdp' },
          { name: 'Accept-Encoding', value: 'identity' },
          { name: 'Accept-Language', value: 'en' },
          // Path (RFC 3327) is honoured on REGISTERs from SIP_TRUSTED_EDGES only.
          { name: 'Supported', value: this.config.sip.trustedEdges.length > 0 ? 'path' : '' },
        ],
      });
    }
    if (KNOWN_METHODS.has(request.method)) return this.reply(request, 405);
    return this.reply(request, 501);
  }

  /** A request that already went through one of our own client transactions has come back. */
  private isLoop(request: SipRequest): boolean {
    const mine = new Set(this.listening().map((l) => `${l.address}:${l.port}`));
    if (this.config.sipPublicAddress) mine.add(`${this.config.sipPublicAddress}:${this.config.sipListen.port}`);
    return request.via.some((v) => mine.has(`${v.host}:${v.port ?? 5060}`) && (v.params.get('branch') ?? '').startsWith('z9hG4bK'));
  }

  /** A response of ours: the reason phrase from sip/reasons.ts unless given, To tag for final responses, Allow and Server headers always. */
  reply(request: SipRequest, status: number, options: { reason?: string; headers?: { name: string; value: string }[] } = {}): SipResponse {
    const headers = [{ name: 'Allow', value: this.allowed().join(', ') }, SIP_SERVER_HEADER, ...(options.headers ?? []).filter((h) => h.value !== '')];
    return createResponse(request, status, { reason: options.reason, toTag: status >= 200 ? newTag() : undefined, headers });
  }
}
