/**
 * The registrar (RFC 3261 §10.3): authenticates REGISTER with digest (401), checks the user may
 * register the address-of-record in To, applies the binding rules of `planRegister`, and answers
 * 200 with every current binding and its remaining time. The B2BUA asks it for a user's bindings.
 *
 * A binding made over a WebSocket (RFC 7118) records this node and the connection, and is removed
 * the moment that connection closes: nothing else can reach the browser behind it.
 */
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { REDIS } from '../platform/redis';
import { formatNameAddr, type NameAddr } from '../sip/address';
import { contactQ, isWildcardContact, requestedExpires } from '../sip/contact';
import { headerValue, type SipRequest, type SipResponse } from '../sip/message';
import type { IncomingRequest } from '../sip/transaction/transaction-layer';
import { formatUri, isSipUri } from '../sip/uri';
import { type Source, isWebSocket } from '../sip/transport/types';
import { clientBehindEdge, pathOf, pathReceived } from '../signaling/edge';
import { SipServer } from '../signaling/sip-server';
import { UsersService } from '../users/users.service';
import { BindingStore } from './binding-store';
import { Binding, bindingKey, instanceKey, planRegister, RequestedContact, remainingSeconds } from './registration';
import { SipAuthenticator } from './sip-authenticator';

const withoutExpires = (c: NameAddr): NameAddr => ({ ...c, params: new Map([...c.params].filter(([k]) => k !== 'expires')) });

@Injectable()
export class RegistrarService implements OnModuleInit {
  private readonly logger = new Logger('registrar');
  private readonly store: BindingStore;
  /** WebSocket connections of this node → the users that registered over them (to unbind on close). */
  private readonly byConnection = new Map<string, Set<string>>();
  /** Connections closed in the last minute: a REGISTER still in flight when its socket closed is unbound too. */
  private readonly recentlyClosed = new Set<string>();

  constructor(
    private readonly sip: SipServer,
    private readonly auth: SipAuthenticator,
    @Inject(REDIS) redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    users: UsersService,
  ) {
    this.store = new BindingStore(redis, config.redisPrefix);
    // A device registered with credentials that are no longer valid must not keep the user's calls.
    users.onCredentialsRevoked(async (userId) => {
      await this.store.clear(userId);
      this.logger.log({ userId }, 'credentials revoked: bindings removed');
    });
  }

  onModuleInit(): void {
    this.sip.handle('REGISTER', (incoming) => this.register(incoming));
    this.sip.onConnectionClosed((source) => void this.connectionClosed(source));
  }

  /** A WebSocket closed: every binding made over it goes now (the browser is unreachable). */
  private async connectionClosed(source: Source): Promise<void> {
    const connection = source.connection;
    if (!connection) return;
    this.recentlyClosed.add(connection);
    setTimeout(() => this.recentlyClosed.delete(connection), 60_000).unref();
    const users = this.byConnection.get(connection);
    this.byConnection.delete(connection);
    await this.unbind([...(users ?? [])], connection, source);
  }

  private async unbind(userIds: string[], connection: string, source: Source): Promise<void> {
    for (const userId of userIds) {
      try {
        const { bindings } = await this.store.update(
          userId,
          (existing) => {
            const gone = existing.filter((b) => b.connection === connection && b.node === this.sip.nodeId).map(bindingKey);
            return gone.length > 0 ? { kind: 'change', upserts: [], removals: gone } : { kind: 'query' };
          },
          { callId: '', cseq: 0, source: { address: source.address, port: source.port, transport: source.transport } },
        );
        this.logger.log({ userId, connection, source: `${source.address}:${source.port}`, bindings: bindings.length }, 'WebSocket closed: its bindings removed');
      } catch (err) {
        // Redis down: the bindings expire on their own; ringUser skips a WebSocket binding whose connection is gone.
        this.logger.error({ err: err instanceof Error ? err.message : String(err), userId, connection }, 'WebSocket closed: bindings not removed');
      }
    }
  }

  /** A user's live bindings, best q first: where to ring the user. */
  bindings(userId: string): Promise<Binding[]> {
    return this.store.list(userId);
  }

  /** Every user's live bindings, at most `maxUsers` users (BindingStore.all). */
  allBindings(maxUsers: number): ReturnType<BindingStore['all']> {
    return this.store.all(maxUsers);
  }

  async register({ request, source }: IncomingRequest): Promise<SipResponse> {
    // Behind a trusted edge (SIP_TRUSTED_EDGES) the REGISTER carries the edge's Path (RFC 3327) and
    // the device's address in the edge's Via stamps; from anyone else a Path is not believed.
    const edge = this.sip.isTrustedEdge(source.address);
    const path = edge ? pathOf(request) : [];
    if (!path) return this.sip.reply(request, 400, { reason: 'Malformed Path Header' });
    if (!edge && headerValue(request, 'Path') !== undefined) this.logger.debug({ source: source.address }, 'Path from a source not in SIP_TRUSTED_EDGES ignored');
    const received = edge ? (pathReceived(path) ?? clientBehindEdge(request)) : undefined;
    const auth = await this.auth.authenticate(request, this.sip.originOf(request, source), 'www');
    if (!auth.ok) return this.sip.reply(request, auth.status, { reason: auth.reason, headers: auth.headers });
    const user = auth.user;
    const aor = request.to.uri;
    if (!isSipUri(aor) || aor.user !== user.username) {
      this.logger.warn({ username: user.username, to: formatUri(aor), source: source.address }, 'REGISTER for another address-of-record refused');
      return this.sip.reply(request, 403, { reason: 'Not Allowed To Register This Address' });
    }
    const contacts: RequestedContact[] = request.contact.map((c) => ({
      uri: formatUri(c.uri),
      key: instanceKey(c.params.get('+sip.instance'), c.params.get('reg-id')),
      contact: formatNameAddr(withoutExpires(c)),
      expires: requestedExpires(c, request, this.config.sip.maxExpires),
      q: contactQ(c),
    }));
    const now = Date.now();
    const { plan, bindings } = await this.store.update(
      user.id,
      (existing) =>
        planRegister({
          wildcard: isWildcardContact(request),
          contacts,
          expiresHeader: request.expires,
          callId: request.callId,
          cseq: request.cseq.seq,
          existing,
          minExpires: this.config.sip.minExpires,
          maxExpires: this.config.sip.maxExpires,
        }),
      {
        callId: request.callId,
        cseq: request.cseq.seq,
        source: { address: source.address, port: source.port, transport: source.transport },
        userAgent: headerValue(request, 'User-Agent'),
        ...(isWebSocket(source.transport) && source.connection ? { node: this.sip.nodeId, connection: source.connection } : {}),
        ...(path.length > 0 ? { path } : {}),
        ...(received ? { received } : {}),
      },
      now,
    );
    if (plan.kind === 'change' && source.connection && isWebSocket(source.transport)) {
      if (this.recentlyClosed.has(source.connection)) {
        // The socket closed while this REGISTER was being served: what it bound is already unreachable.
        await this.unbind([user.id], source.connection, source);
        return this.sip.reply(request, 480, { reason: 'Connection Closed' });
      }
      const users = this.byConnection.get(source.connection) ?? new Set<string>();
      users.add(user.id);
      this.byConnection.set(source.connection, users);
    }
    if (plan.kind === 'reject') {
      const headers = plan.minExpires ? [{ name: 'Min-Expires', value: String(plan.minExpires) }] : [];
      return this.sip.reply(request, plan.status, { reason: plan.reason, headers });
    }
    if (plan.kind === 'change') {
      const via = received ? { behind: `${received.address}:${received.port}` } : {};
      this.logger.log({ username: user.username, added: plan.upserts.length, removed: plan.removals.length, bindings: bindings.length, source: `${source.address}:${source.port}`, ...via }, 'registration updated');
    }
    return this.ok(request, bindings, now, path);
  }

  private ok(request: SipRequest, bindings: Binding[], now: number, path: readonly string[]): SipResponse {
    const headers = bindings.map((b) => ({ name: 'Contact', value: `${b.contact};expires=${remainingSeconds(b, now)}` }));
    headers.push({ name: 'Date', value: new Date(now).toUTCString() });
    // RFC 3327 §5.3: the Path stored is echoed, so the edge and the device see it was honoured.
    if (path.length > 0) headers.push(...path.map((value) => ({ name: 'Path', value })), { name: 'Supported', value: 'path' });
    return this.sip.reply(request, 200, { headers });
  }
}
