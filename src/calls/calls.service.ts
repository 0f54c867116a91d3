/**
 * The call flows of the B2BUA (docs/calls.md): it classifies each new INVITE (trunk, user or
 * stranger), decides whom to ring (outbound through least-cost trunks with failover, inbound to a
 * DID's user and its forwarding rule, internal user to user), and hands the wire work to a Call.
 * It keeps the calls in progress on this node, matches in-dialog requests, CANCELs, ACKs and stray
 * answers to them, and drains them on shutdown.
 *
 * Imports the domain services it orchestrates; none of them imports calls/.
 */
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { CdrsService, type CallSummary } from '../billing/cdrs.service';
import { CreditControlService, MAX_CALL_SECONDS, SETUP_ALLOWANCE_SECONDS } from '../billing/credit-control.service';
import { type MediaEngine, isWebRtcSdp } from '../media';
import { normaliseNumber } from '../numbers/number-format';
import { NumbersService } from '../numbers/numbers.service';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { METRICS } from '../platform/metrics';
import { NodeLifecycle } from '../platform/node-lifecycle';
import { DomainError } from '../platform/problem';
import { REDIS } from '../platform/redis';
import { SipAuthenticator } from '../registrar/sip-authenticator';
import { RegistrarService } from '../registrar/registrar.service';
import { RoutesService } from '../routing/routes.service';
import type { Trunk } from '../routing/trunk.entity';
import { type TrunkAttempt, TrunksService } from '../routing/trunks.service';
import { SipServer } from '../signaling/sip-server';
import { type IncomingRequest, type SipHeader, type SipRequest, type SipResponse, type Source, type Target, escapeUser, isSipUri, isWebSocket, newTag, parseUri } from '../sip';
import { TollFreeService } from '../tollfree/tollfree.service';
import { UsersService } from '../users/users.service';
import { type CallView, callView } from './call-view';
import { Call, type CallFacts, type CallHost, type RingOutcome, type RingTarget } from './call';
import { CallHeartbeat } from './call-heartbeat';
import { logCallEnd, logInviteRefused } from './call-log';
import { CallMetrics } from './call-metrics';
import { type ForwardingRule, type UnreachableReason, DEFAULT_BLOCKED_PREFIXES, blockedReason, cleanDialled, failsOver, forwardingTarget, fraudLabel, mediaRefusal, refusalAnswer, reject, ringVerdict, type SipAnswer, unreachableStatus } from './call-policy';
import { defaultEmergencyNumbers, emergencyNumber, emergencyRoutes } from './emergency';
import { hasSdp } from './leg';
import { MEDIA_ENGINE } from './media-relay.provider';
import { intervalTooSmall } from './session-timer';
import { TrunkChannels } from './trunk-channels';
import type { UacLeg } from './uac-leg';
import { UasLeg } from './uas-leg';

/** How long a finished leg's key stays known, to ACK and BYE late 2xx retransmissions (64*T1). */
const LINGER_MS = 32_000;

/** The DID lookup could not be answered (see didRouting). */
const LOOKUP_FAILED = Symbol('lookup failed');
/** Retry-After of the 503 for a database outage during the DID lookup. */
const LOOKUP_RETRY_AFTER_SECONDS = 30;

@Injectable()
export class CallsService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('calls');
  private readonly calls = new Map<string, Call>();
  /** Leg keys (Call-ID|our tag) → call, for in-dialog requests, ACKs and stray answers. */
  private readonly legs = new Map<string, Call>();
  /** Our UAC legs by the same key: a stray 2xx (lost ACK, late or second answer) is theirs to ACK or hang up. */
  private readonly uacLegs = new Map<string, UacLeg>();
  /** Caller INVITE transactions → call, for CANCEL. */
  private readonly byInvite = new WeakMap<object, Call>();
  private readonly cancelledEarly = new WeakSet<object>();
  private readonly channels: TrunkChannels;
  private readonly metrics: CallMetrics;
  private readonly host: CallHost;

  constructor(
    private readonly sip: SipServer,
    private readonly authenticator: SipAuthenticator,
    private readonly users: UsersService,
    private readonly numbers: NumbersService,
    private readonly tollfree: TollFreeService,
    private readonly routes: RoutesService,
    private readonly trunks: TrunksService,
    private readonly credit: CreditControlService,
    private readonly cdrs: CdrsService,
    private readonly registrar: RegistrarService,
    @Inject(MEDIA_ENGINE) private readonly media: MediaEngine,
    @Inject(REDIS) redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS) registry: Registry,
    private readonly heartbeat: CallHeartbeat,
    private readonly lifecycle: NodeLifecycle,
  ) {
    this.channels = new TrunkChannels(redis, config.redisPrefix);
    this.metrics = new CallMetrics(registry, () => media.totals());
    this.host = {
      sip,
      log: this.log,
      metrics: this.metrics,
      register: (key, call, leg) => {
        this.legs.set(key, call);
        if (leg) this.uacLegs.set(key, leg);
        if (leg) this.sip.capture.link(leg.callId, call.callId);
      },
      unregister: (key) =>
        setTimeout(() => {
          this.legs.delete(key);
          this.uacLegs.delete(key);
          this.sip.capture.unlink(key.slice(0, key.lastIndexOf('|')));
        }, LINGER_MS).unref(),
      record: (summary, call) => this.record(summary, call),
      answered: (call) => this.heartbeat.answered(call),
      ended: (call) => this.ended(call),
    };
  }

  onModuleInit(): void {
    this.sip.handle('INVITE', async (incoming) => {
      const response = await this.onInvite(incoming);
      // A refusal before any call exists (a new INVITE's): its call log line.
      if (response && !incoming.request.to.params.has('tag')) logInviteRefused(this.log, incoming.request, incoming.source, response);
      return response;
    });
    this.sip.handle('CANCEL', async (incoming) => this.onCancel(incoming));
    for (const method of ['BYE', 'INFO', 'UPDATE']) this.sip.handle(method, (incoming) => this.inDialog(incoming));
    this.sip.onAck(({ message }) => {
      if (message.kind !== 'request') return;
      const key = `${message.callId}|${message.to.params.get('tag') ?? ''}`;
      this.legs.get(key)?.acknowledged(key);
    });
    // A browser that closed its WebSocket cannot send BYE any more, nor receive one: its calls end now.
    this.sip.onConnectionClosed((source) => this.connectionClosed(source));
    this.sip.onStrayResponse(({ message }) => {
      if (message.kind !== 'response' || message.status < 200 || message.status >= 300 || message.cseq.method !== 'INVITE') return;
      const key = `${message.callId}|${message.from.params.get('tag') ?? ''}`;
      const leg = this.uacLegs.get(key);
      try {
        leg?.strayAnswer(message);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, callId: message.callId }, 'stray answer not handled');
      }
    });
  }

  // ---- operations -------------------------------------------------------------------------

  /** Calls in progress on this node, newest first like every list of the API (a Map keeps insertion order). */
  list(): CallView[] {
    return [...this.calls.values()].reverse().map((c) => callView(c));
  }

  get(id: string): CallView | undefined {
    const c = this.calls.get(id);
    return c && callView(c);
  }

  /** Fresh media counters for the views (rtpengine: a `query` per call; the built-in relay counts in place). */
  async refreshMediaStats(id?: string): Promise<void> {
    const calls = id === undefined ? [...this.calls.values()] : [this.calls.get(id)].filter((c) => c !== undefined);
    await Promise.all(calls.map((c) => c.refreshMediaStats()));
  }

  /** Operator hangup: BYE to both sides (or a refusal while ringing); the CDR says `gateway`. */
  hangUp(id: string): boolean {
    const c = this.calls.get(id);
    if (!c) return false;
    c.terminate('hung up by operator');
    return true;
  }

  get inProgress(): number {
    return this.calls.size;
  }

  /**
   * SIGTERM: refuse new calls (503 with Retry-After), let the ones in progress run up to
   * CALL_DRAIN_SECONDS, then hang them up and write their CDRs. Runs before any module closes its
   * SIP sockets, database or Redis (Nest calls every beforeApplicationShutdown first).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.lifecycle.startDraining();
    const deadline = Date.now() + this.config.calls.drainSeconds * 1000;
    if (this.calls.size > 0) this.log.log({ calls: this.calls.size, drainSeconds: this.config.calls.drainSeconds }, 'draining calls');
    while (this.calls.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    for (const c of [...this.calls.values()]) c.terminate('gateway shutting down', 503);
    // Give BYEs and CDR writes a moment to leave.
    const until = Date.now() + 3000;
    while (this.pendingRecords > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.media.close();
  }

  private pendingRecords = 0;

  private async record(summary: CallSummary, call: Call): Promise<void> {
    this.pendingRecords++;
    try {
      await this.cdrs.record(await this.heartbeat.atEnd(call, summary));
    } catch (err) {
      // The CDR is the call's money: log all of it so it can be replayed by hand.
      this.log.error({ err: (err as Error).message, cdr: summary }, 'CDR not written');
    } finally {
      this.pendingRecords--;
    }
  }

  private ended(call: Call): void {
    logCallEnd(this.log, call);
    this.calls.delete(call.id);
    for (const key of [call.caller.key, call.callee?.key]) if (key) this.host.unregister(key);
  }

  /** Ends the calls of a WebSocket connection that closed: its caller leg or its answered callee leg. */
  private connectionClosed(source: Source): void {
    const same = (t: { host: string; port: number; transport: string }) => t.transport === source.transport && t.host === source.address && t.port === source.port;
    for (const call of [...this.calls.values()]) {
      if (call.caller.source.connection === source.connection && source.connection) {
        this.log.log({ callId: call.callId, connection: source.connection }, 'caller WebSocket closed: call ended');
        if (call.state === 'answered') call.hangup('caller', 'WebSocket closed');
        else call.callerCancelled();
      } else if (call.state === 'answered' && call.callee && same(call.callee.peer)) {
        this.log.log({ callId: call.callId, connection: source.connection }, 'callee WebSocket closed: call ended');
        call.hangup('callee', 'WebSocket closed');
      }
    }
  }

  // ---- SIP entry points -------------------------------------------------------------------

  private async inDialog(incoming: IncomingRequest): Promise<SipResponse> {
    const { request } = incoming;
    const key = `${request.callId}|${request.to.params.get('tag') ?? ''}`;
    const call = this.legs.get(key);
    if (!call) return this.answer(request, reject(481));
    return call.inDialog(key, incoming);
  }

  private onCancel(incoming: IncomingRequest): SipResponse {
    const { request } = incoming;
    const tx = this.sip.transactionLayer?.inviteFor(request);
    if (!tx) return this.answer(request, reject(481));
    const call = this.byInvite.get(tx);
    if (call) call.callerCancelled();
    else {
      // Cancelled while we were still authenticating or routing: answer now, the flow stops when it looks.
      this.cancelledEarly.add(tx);
      tx.respond(this.answer(tx.request, reject(487)));
    }
    return this.sip.reply(request, 200);
  }

  private async onInvite(incoming: IncomingRequest): Promise<SipResponse | void> {
    const { request, source } = incoming;
    if (request.to.params.has('tag')) return this.inDialog(incoming);
    if (this.lifecycle.draining) return this.refuseWhileDraining(incoming);
    if (request.contact.length === 0) return this.answer(request, reject(400, 'missing Contact'));
    if (!hasSdp(request)) return this.answer(request, reject(488, 'an SDP offer is required'));
    const minSe = intervalTooSmall(request);
    if (minSe) return this.answer(request, reject(422), minSe);

    const trunk = await this.trunks.fromAddress(source.address);
    if (trunk) {
      return this.start(incoming, { direction: 'inbound', trunkId: trunk.id, trunkName: trunk.name }, (call) => {
        call.callerMediaSources = [...trunk.inboundAddresses, trunk.host];
        return this.inbound(call, trunk);
      });
    }

    if (!this.isOurs(request)) {
      this.log.warn({ source: `${source.transport} ${source.address}:${source.port}`, from: request.headers.find((h) => h.name === 'From')?.value, callId: request.callId }, 'INVITE from an address on no allow-list refused');
      return this.answer(request, reject(403, 'source address not allowed'));
    }
    const auth = await this.authenticator.authenticate(request, this.sip.originOf(request, source), 'proxy');
    if (!auth.ok) return this.sip.reply(request, auth.status, { reason: auth.reason, headers: auth.headers });
    if (!auth.user.active) return this.answer(request, reject(403, 'user disabled'));
    const user = auth.user;
    return this.start(incoming, { direction: 'outbound', userId: user.id, accountId: user.accountId }, (call) => this.fromUser(call, user));
  }

  /**
   * A new INVITE while the node drains: 503 with Retry-After, before any authentication (another
   * node can take it now). Trunks' calls and calls addressed to us get a `rejected` CDR, so the
   * refusal shows in the call records; a stranger's INVITE gets the 503 and no record.
   */
  private async refuseWhileDraining(incoming: IncomingRequest): Promise<SipResponse | void> {
    const { request, source } = incoming;
    const retryAfter: SipHeader[] = [{ name: 'Retry-After', value: '30' }];
    const trunk = await this.trunks.fromAddress(source.address).catch(() => undefined);
    if (!trunk && !this.isOurs(request)) return this.answer(request, reject(503, 'shutting down'), retryAfter);
    const facts: CallFacts = trunk ? { direction: 'inbound', trunkId: trunk.id, trunkName: trunk.name } : { direction: 'outbound' };
    facts.caller = isSipUri(request.from.uri) ? (request.from.uri.user ?? null) : null;
    facts.dialed = isSipUri(request.uri) ? cleanDialled(request.uri.user ?? '') : null;
    return this.start(incoming, facts, async (call) => call.reject(reject(503, 'shutting down'), { headers: retryAfter, disposition: 'rejected' }));
  }

  /** Creates the call and runs its flow; any failure in the flow ends the call with 500, never the process. */
  private start(incoming: IncomingRequest, facts: CallFacts, flow: (call: Call) => Promise<void>): void {
    if (this.cancelledEarly.has(incoming.transaction) || incoming.transaction.state !== 'proceeding') return;
    const call = new Call(this.host, new UasLeg(this.sip, incoming, newTag()), facts);
    this.calls.set(call.id, call);
    this.byInvite.set(incoming.transaction, call);
    this.host.register(call.caller.key, call);
    flow(call).catch((err: unknown) => {
      this.log.error({ err, callId: call.callId }, 'call flow failed');
      if (call.state === 'answered') call.hangup('gateway', 'internal error');
      else call.reject(reject(500), { disposition: 'failed' });
    });
  }

  // ---- flows ---------------------------------------------------------------------------------

  /** A user dialled something: another user, one of our DIDs, or the PSTN. */
  private async fromUser(call: Call, user: { id: string; username: string; accountId: string }): Promise<void> {
    const request = call.caller.invite;
    const dialled = cleanDialled(isSipUri(request.uri) ? (request.uri.user ?? '') : '');
    call.facts.dialed = dialled;
    call.facts.username = user.username;
    call.facts.caller = (await this.numbers.firstOfUser(user.id)) ?? user.username;
    if (!dialled) return call.reject(reject(484, 'no number dialled'));
    const emergency = emergencyNumber(dialled, this.config.calls.emergencyNumbers ?? defaultEmergencyNumbers(this.config.defaultCountry));
    if (emergency) return this.emergency(call, emergency, user);

    const targetId = await this.users.idOfUsername(dialled);
    if (targetId) {
      call.facts.direction = 'internal';
      call.facts.callee = dialled;
      return this.ringUser(call, targetId, undefined, user.accountId);
    }
    const n = normaliseNumber(dialled, this.config.defaultCountry);
    if (!n.ok) return call.reject(reject(484, n.message));
    call.facts.callee = n.number.e164;
    const did = await this.didRouting(call, n.number.e164);
    if (did === LOOKUP_FAILED) return;
    if (did) {
      call.facts.direction = 'internal';
      return this.ringUser(call, did.userId, did.forwarding as ForwardingRule, user.accountId);
    }
    const translated = await this.translateTollFree(call, n.number.e164);
    if (!translated) return;
    return this.toTrunks(call, translated.destination, translated.payer ?? user.accountId);
  }

  /** A trunk delivers a call to one of our numbers. */
  private async inbound(call: Call, trunk: Trunk): Promise<void> {
    const request = call.caller.invite;
    const from = request.from.uri;
    const fromUser = isSipUri(from) ? from.user : undefined;
    const callerNumber = fromUser ? normaliseNumber(cleanDialled(fromUser), this.config.defaultCountry) : undefined;
    call.facts.caller = callerNumber?.ok ? callerNumber.number.e164 : (fromUser ?? null);
    const dialled = cleanDialled(isSipUri(request.uri) ? (request.uri.user ?? '') : '');
    call.facts.dialed = dialled;

    // Nothing refreshes the hold (trunk-channels.ts): an inbound call longer than this stops counting.
    const hold = SETUP_ALLOWANCE_SECONDS + 4 * 3600;
    if (!(await this.channels.acquire(trunk.id, call.id, trunk.maxChannels, hold))) {
      return call.reject(reject(503, `trunk ${trunk.name} at its channel limit`));
    }
    call.onEnd(() => this.channels.release(trunk.id, call.id));

    const n = normaliseNumber(dialled, this.config.defaultCountry);
    if (!n.ok) return call.reject(reject(404, n.message));
    call.facts.callee = n.number.e164;
    const translated = await this.translateTollFree(call, n.number.e164);
    if (!translated) return;
    const { destination, payer } = translated;
    const did = await this.didRouting(call, destination);
    if (did === LOOKUP_FAILED) return;
    if (did) {
      call.facts.userId = did.userId;
      if (payer && !(await this.authorize(call, payer, destination))) return;
      return this.ringUser(call, did.userId, did.forwarding as ForwardingRule, payer);
    }
    if (payer) return this.toTrunks(call, destination, payer);
    return call.reject(reject(404, 'no such number'));
  }

  /**
   * Toll-free translation when the number has an entry: the target to route, and the entry's
   * account as payer. Undefined when a rule blocked the call (the caller has its answer).
   */
  private async translateTollFree(call: Call, e164: string): Promise<{ destination: string; payer?: string } | undefined> {
    if (!(await this.tollfree.isTollFreeNumber(e164))) return { destination: e164 };
    const t = await this.tollfree.translateNumber(e164, { caller: call.facts.caller ?? null, at: new Date(), callId: call.callId });
    if (!t) return { destination: e164 };
    if ('blocked' in t) {
      // The rule's code with its own phrase: 603 is Decline (RFC 3261 §21.6.2), not Forbidden.
      call.reject(reject(t.sipCode, t.reason));
      return undefined;
    }
    call.facts.translatedTo = t.target;
    call.facts.accountId = t.accountId;
    return { destination: t.target, payer: t.accountId };
  }

  /** The DID a number rings, or LOOKUP_FAILED when the database could not say (the call is answered 503). */
  private async didRouting(call: Call, e164: string): Promise<Awaited<ReturnType<NumbersService['routing']>> | typeof LOOKUP_FAILED> {
    try {
      return await this.numbers.routing(e164);
    } catch (err) {
      this.lookupFailed(call, err);
      return LOOKUP_FAILED;
    }
  }

  /**
   * The DID or user lookup failed (database down, refusing, timing out): 503 with Retry-After, so a
   * carrier retries or routes elsewhere, instead of 480, which says the user is away.
   */
  private lookupFailed(call: Call, err: unknown): void {
    this.log.error({ err: err instanceof Error ? err.message : String(err), callId: call.callId, callee: call.facts.callee ?? null }, 'DID lookup failed: database unavailable');
    call.reject(reject(503, 'database unavailable'), { headers: [{ name: 'Retry-After', value: String(LOOKUP_RETRY_AFTER_SECONDS) }], disposition: 'failed' });
  }

  /**
   * Rings every live binding of a user; when the user cannot be reached, applies the forwarding
   * rule (billed to `forwardPayer`, else the user's own account) or answers 480/486/408.
   */
  private async ringUser(call: Call, userId: string, forwarding: ForwardingRule | undefined, forwardPayer?: string): Promise<void> {
    let user: Awaited<ReturnType<UsersService['get']>> | undefined;
    try {
      user = await this.users.get(userId);
    } catch (err) {
      // A user deleted since is offline; a database that cannot answer is our outage, not the user's.
      if (!(err instanceof DomainError && err.code === 'not_found')) return this.lookupFailed(call, err);
    }
    call.facts.userId = userId;
    if (user) call.facts.username ??= user.username;
    const unreachable = async (reason: UnreachableReason) => {
      const target = forwardingTarget(forwarding, reason);
      if (target) return this.forward(call, target, forwarding!.redirect, forwardPayer ?? user?.accountId);
      return notReached(call, reason);
    };
    const always = forwardingTarget(forwarding, 'always');
    if (always) return this.forward(call, always, forwarding!.redirect, forwardPayer ?? user?.accountId);
    if (!user || user.status !== 'active') return unreachable('offline');
    // A WebSocket binding is reachable only from the node holding its socket (RFC 7118: never reopened).
    const bindings = (await this.registrar.bindings(userId)).filter((b) => !isWebSocket(b.source.transport) || b.node === this.sip.nodeId);
    if (bindings.length === 0) return unreachable('offline');
    if (!(await this.attachMedia(call, bindings.some((b) => isWebSocket(b.source.transport))))) return;

    const { host } = this.sip.advertisedAddress();
    const callerId: string = call.facts.caller ?? 'anonymous';
    const target: RingTarget = {
      userId,
      // The registered Contact is the Request-URI; a WebSocket binding's target is its connection (RFC 7118 §5.3).
      legs: bindings.map((b) => ({
        target: { host: b.source.address, port: b.source.port, transport: b.source.transport },
        requestUri: b.uri,
        from: `<sip:${escapeUser(callerId)}@${host}>`,
        to: `<sip:${user.username}@${this.config.sipRealm}>`,
        // Registered through an edge: back through it along the Path (RFC 3327 §5.4), to where the
        // REGISTER came from (the edge as this node reaches it; its Path URI may be a public address).
        ...(b.path && b.path.length > 0 ? { headers: b.path.map((value) => ({ name: 'Route', value })) } : {}),
        ...(isWebSocket(b.source.transport) ? { webrtc: true } : {}),
      })),
    };
    const ringSeconds = forwarding && forwarding.mode !== 'none' ? forwarding.noAnswerSeconds : this.config.calls.ringTimeoutSeconds;
    const outcome = await call.ring(target, ringSeconds * 1000);
    // A paid call to one of our users (a toll-free number translated to a DID): its payer's
    // reservation granted maxSeconds and the CDR is rated at that; the call must end there too.
    if (outcome.kind === 'answered' && call.facts.reservation) call.limitDuration(call.facts.reservation.maxSeconds);
    return afterRing(call, outcome, 'user', unreachable);
  }

  private async forward(call: Call, target: string, redirect: boolean, payer: string | undefined): Promise<void> {
    const uri = /^sips?:/i.test(target) ? target : `tel:${target}`;
    if (redirect) return call.reject(reject(302), { headers: [{ name: 'Contact', value: `<${uri}>` }], disposition: 'rejected' });
    call.facts.translatedTo = target;
    if (uri.startsWith('tel:')) {
      if (!payer) return call.reject(reject(480, 'no account pays for forwarding'));
      if (call.facts.reservation) {
        // Held for the first destination (e.g. a toll-free call to this DID): the forward is rated anew.
        await this.credit.release(call.facts.reservation);
        call.facts.reservation = undefined;
      }
      call.facts.accountId = payer;
      return this.toTrunks(call, target, payer);
    }
    const parsed = parseUri(target);
    if (!parsed.ok || !isSipUri(parsed.value)) return call.reject(reject(480, 'bad forwarding target'));
    const u = parsed.value;
    if (!(await this.attachMedia(call))) return;
    const peer: Target = { host: u.host, port: u.port ?? 5060, transport: (u.params.get('transport') ?? '').toLowerCase() === 'tcp' ? 'TCP' : 'UDP' };
    const outcome = await call.ring(
      { legs: [{ target: peer, requestUri: target, from: this.fromHeader(call), to: `<${target}>`, setupTimeoutMs: this.config.calls.trunkSetupTimeoutMs }] },
      this.config.calls.ringTimeoutSeconds * 1000,
    );
    return afterRing(call, outcome, 'peer');
  }

  /** Credit control for a paid call; answers the refusal itself. */
  private async authorize(call: Call, payer: string, destination: string): Promise<boolean> {
    const auth = await this.credit.authorize(payer, destination);
    if (!auth.allowed) {
      const answer = refusalAnswer(auth.reason, auth.message);
      const label = fraudLabel(auth.reason);
      if (label) {
        this.metrics.fraudRefused(label);
        this.log.warn({ callId: call.callId, accountId: payer, destination, limit: auth.limit, detail: auth.message }, 'call refused by an account limit');
      }
      call.reject(answer);
      return false;
    }
    if (call.state === 'ended' || call.cancelledByCaller) {
      await this.credit.release(auth);
      if (call.state !== 'ended') call.reject(reject(487));
      return false;
    }
    call.facts.reservation = auth;
    call.facts.accountId ??= payer;
    return true;
  }

  /**
   * Least-cost trunks in order, with failover: every call to the PSTN (a user's, a forwarding leg,
   * a toll-free target) passes the blocked destinations and credit control (with the payer's fraud
   * limits) first.
   */
  private async toTrunks(call: Call, destination: string, payer: string): Promise<void> {
    const blocked = blockedReason(destination, this.typeOf(destination), this.destinationPolicy());
    if (blocked) {
      this.metrics.fraudRefused(fraudLabel('blocked_destination')!);
      this.log.warn({ callId: call.callId, accountId: payer, destination, detail: blocked }, 'call to a blocked destination refused');
      return call.reject(reject(403, blocked));
    }
    if (!call.facts.reservation && !(await this.authorize(call, payer, destination))) return;
    const reservation = call.facts.reservation!;
    const candidates = await this.routes.candidates(destination, call.callId);
    if (candidates.length === 0) return call.reject(reject(503, 'no route'));
    return this.ringTrunks(call, await this.trunks.attempts(destination, candidates), reservation.maxSeconds);
  }

  /**
   * An emergency number dialled by an authenticated user: no balance, fraud limit, blocked list or
   * account status applies, and nothing is reserved (the CDR has no E.164 callee, so the worker
   * charges it to no destination: cost 0). Routed only by a route whose prefix is the number, sent
   * unchanged, with the user's DID as caller ID; no such route is an operator error (503, logged).
   */
  private async emergency(call: Call, number: string, user: { id: string; accountId: string }): Promise<void> {
    const log = { callId: call.callId, userId: user.id, accountId: user.accountId, dialled: number, callerId: call.facts.caller };
    this.log.warn(log, 'emergency call');
    const candidates = emergencyRoutes(number, await this.routes.candidates(number, call.callId));
    if (candidates.length === 0) {
      this.log.error(log, `emergency call to ${number} has no route: add a route with prefix ${number}`);
      return call.reject(reject(503, `no route for emergency number ${number}`), { disposition: 'failed' });
    }
    return this.ringTrunks(call, await this.trunks.attempts(number, candidates), undefined);
  }

  /** Rings the trunks in order with failover; `maxSeconds` (the grant) ends the answered call. */
  private async ringTrunks(call: Call, attempts: readonly TrunkAttempt[], maxSeconds: number | undefined): Promise<void> {
    if (!(await this.attachMedia(call))) return;
    let tried = 0;
    let full = 0;
    for (const trunk of attempts) {
      if (call.state === 'ended' || call.cancelledByCaller) return call.reject(reject(487));
      const legId = newId();
      // As long as the call may last (it is cut at its grant); nothing refreshes the hold.
      const hold = (maxSeconds ?? MAX_CALL_SECONDS) + SETUP_ALLOWANCE_SECONDS + 60;
      if (!(await this.channels.acquire(trunk.trunkId, legId, trunk.maxChannels, hold))) {
        this.log.log({ trunk: trunk.trunkName, callId: call.callId }, 'trunk at its channel limit: skipped');
        full++;
        continue;
      }
      tried++;
      const target = { ...this.trunkTarget(call, trunk, () => this.channels.release(trunk.trunkId, legId)), channel: legId };
      const outcome = await call.ring(target, this.config.calls.ringTimeoutSeconds * 1000);
      if (outcome.kind === 'answered') {
        if (maxSeconds !== undefined) call.limitDuration(maxSeconds);
        return;
      }
      if (outcome.kind !== 'failed' || !failsOver(outcome.status, outcome.origin)) return afterRing(call, outcome, 'peer');
      this.log.log({ trunk: trunk.trunkName, status: outcome.status, origin: outcome.origin, callId: call.callId }, 'trunk failed: next trunk');
    }
    const why = tried > 0 ? 'no trunk could take the call' : full > 0 ? 'every trunk is at its channel limit' : 'no usable trunk on the route';
    return call.reject(reject(503, why), { disposition: 'failed' });
  }

  private trunkTarget(call: Call, trunk: TrunkAttempt, release: () => Promise<void>): RingTarget {
    return {
      trunkId: trunk.trunkId,
      trunkName: trunk.trunkName,
      release,
      mediaSources: trunk.mediaSources,
      legs: [
        {
          target: trunk.target,
          requestUri: trunk.requestUri,
          from: this.fromHeader(call),
          to: `<${trunk.toUri}>`,
          credentials: trunk.credentials,
          setupTimeoutMs: this.config.calls.trunkSetupTimeoutMs,
        },
      ],
    };
  }

  /** A media session for the call (MediaEngine): WebRTC when the caller or a callee device is a browser. */
  private async attachMedia(call: Call, browserCallee = false): Promise<boolean> {
    if (call.hasMedia) return true;
    try {
      const webrtc = browserCallee || (hasSdp(call.caller.invite) && isWebRtcSdp(call.caller.invite.body.toString('utf8')));
      await call.attachMedia(await this.media.open(call.id, { webrtc }));
      return true;
    } catch (err) {
      const refusal = mediaRefusal(err);
      if (refusal.status >= 500) this.log.error({ err: (err as Error).message, callId: call.callId }, 'no media relay session');
      else this.log.warn({ err: (err as Error).message, callId: call.callId }, 'caller SDP refused');
      call.reject(refusal, { disposition: refusal.status >= 500 ? 'failed' : 'rejected' });
      return false;
    }
  }

  /** A stateless answer to a request no call owns yet. */
  private answer(request: SipRequest, a: SipAnswer, headers?: SipHeader[]): SipResponse {
    return this.sip.reply(request, a.status, { reason: a.reason, headers });
  }

  private fromHeader(call: Call): string {
    const { host } = this.sip.advertisedAddress();
    return `<sip:${escapeUser(call.facts.caller ?? 'anonymous')}@${host}>`;
  }

  private destinationPolicy() {
    return { blockedPrefixes: this.config.calls.blockedDestinations ?? DEFAULT_BLOCKED_PREFIXES, blockPremiumRate: this.config.calls.blockPremiumRate };
  }

  private typeOf(e164: string): string | undefined {
    const n = normaliseNumber(e164, this.config.defaultCountry);
    return n.ok ? n.number.type : undefined;
  }

  /** Is the From host one of our names? Then the INVITE is a user's, to be challenged. */
  private isOurs(request: SipRequest): boolean {
    if (request.headers.some((h) => h.name.toLowerCase() === 'proxy-authorization')) return true;
    const from = request.from.uri;
    if (!isSipUri(from)) return false;
    const host = from.host.toLowerCase();
    // A user agent puts its configured domain in both (sip:user@domain calling sip:number@domain),
    // whatever name the operator gave the gateway in DNS; a trunk or a scanner names itself in From.
    if (isSipUri(request.uri) && request.uri.host.toLowerCase() === host) return true;
    const ours = new Set([this.config.sipRealm.toLowerCase(), this.sip.advertisedAddress().host.toLowerCase(), ...this.sip.listening().map((l) => l.address)]);
    return ours.has(host);
  }
}

/** Answers the caller after a ring that did not fail over (call-policy's ringVerdict); `unreachable` is a user's forwarding. */
function afterRing(call: Call, outcome: RingOutcome, callee: 'user' | 'peer', unreachable?: (reason: UnreachableReason) => Promise<void>): Promise<void> | void {
  const verdict = ringVerdict(outcome, callee);
  if (verdict.kind === 'answered') return;
  if (verdict.kind === 'refused') return call.reject(verdict.answer);
  return unreachable ? unreachable(verdict.reason) : notReached(call, verdict.reason);
}

/** The callee could not be reached and nothing forwards the call: 480, 486 or 408. */
function notReached(call: Call, reason: UnreachableReason): void {
  call.reject(unreachableStatus(reason), { disposition: reason === 'offline' ? 'failed' : reason });
}
