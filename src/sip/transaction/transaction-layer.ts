// Owns matching messages to transactions: it creates server transactions for new requests, feeds
// retransmissions, ACKs and responses to the right state machine, links CANCEL to its INVITE, and
// hands the TU only what is new. It also caps open server transactions, per source and in total:
// a request over a cap is answered 503 with Retry-After, statelessly, and never reaches the TU.
// Must not import anything outside src/sip.
import { createResponse } from '../builders';
import { newTag } from '../identifiers';
import type { SipRequest, SipResponse } from '../message';
import { responseTarget } from '../transport/nat';
import type { Inbound } from '../transport/transport-layer';
import type { Source, Target } from '../transport/types';
import type { ClientTransactionEvents } from './client-transaction';
import { ClientInviteTransaction } from './client-invite';
import { ClientNonInviteTransaction } from './client-non-invite';
import { clientKey, hasTransactionBranch, serverKey, serverKeyOfResponse } from './keys';
import { ServerInviteTransaction } from './server-invite';
import { ServerNonInviteTransaction } from './server-non-invite';
import { type Clock, DEFAULT_TIMERS, type TimerConfig, systemClock } from './timers';
import type { MessageSender, TransactionContext } from './transaction';

export interface TransportPort extends MessageSender {
  onMessage(listener: (inbound: Inbound) => void): () => void;
}

export interface TransactionLayerOptions {
  readonly timers?: Partial<TimerConfig>;
  readonly clock?: Clock;
  /** Send 100 Trying as soon as an INVITE arrives (default true): the B2BUA always takes longer than 200 ms. */
  readonly sendTrying?: boolean;
  /** Live server transactions at most (0: unlimited): bounds the memory a flood from many sources can take. */
  readonly maxServerTransactions?: number;
  /**
   * Server transactions one source IP may have open (0: unlimited): requests not yet finally answered,
   * i.e. work the TU is doing for it (lookups, ringing calls). Answered ones only wait out their timers.
   */
  readonly maxServerTransactionsPerSource?: number;
  /** Sources exempt from the per-source cap (trunks); the total cap still applies. */
  readonly isTrusted?: (address: string) => boolean;
  /** Retry-After (seconds) in the 503 for a request over a cap (default 5). */
  readonly retryAfterSeconds?: number;
  /** Told about each request refused by a cap (for a rate-limited log line). */
  readonly onRefused?: (request: SipRequest, source: Source, cap: 'total' | 'per-source') => void;
}

export type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;
export type ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction;

export interface IncomingRequest {
  readonly request: SipRequest;
  readonly source: Source;
  readonly transaction: ServerTransaction;
}

type Listener<T> = (value: T) => void;

export class TransactionLayer {
  private readonly servers = new Map<string, ServerTransaction>();
  /** Open (not finally answered) server transactions per source IP. */
  private readonly openBySource = new Map<string, number>();
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly requestListeners = new Set<Listener<IncomingRequest>>();
  private readonly ackListeners = new Set<Listener<Inbound>>();
  private readonly strayListeners = new Set<Listener<Inbound>>();
  private readonly context: TransactionContext;
  private readonly unsubscribe: () => void;

  constructor(
    transport: TransportPort,
    private readonly options: TransactionLayerOptions = {},
  ) {
    this.context = { sender: transport, timers: { ...DEFAULT_TIMERS, ...options.timers }, clock: options.clock ?? systemClock };
    this.unsubscribe = transport.onMessage((inbound) => this.receive(inbound));
  }

  /** New requests (never retransmissions, never ACKs for non-2xx). */
  onRequest(listener: Listener<IncomingRequest>): () => void {
    this.requestListeners.add(listener);
    return () => this.requestListeners.delete(listener);
  }

  /** ACKs that belong to no transaction: ACKs for 2xx, which the dialog layer handles (§17.2.3, §13.3.1.4). */
  onAck(listener: Listener<Inbound>): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  /** Responses that match no client transaction (late 2xx retransmissions, forked answers). */
  onStrayResponse(listener: Listener<Inbound>): () => void {
    this.strayListeners.add(listener);
    return () => this.strayListeners.delete(listener);
  }

  /** Starts a client transaction. Timeout and transport failure come back as local 408 and 503 responses. */
  sendRequest(request: SipRequest, target: Target, events: ClientTransactionEvents): ClientTransaction {
    if (request.method === 'ACK') throw new Error('ACK is not sent in a client transaction; send it through the transport');
    const key = clientKey(request);
    const tx =
      request.method === 'INVITE'
        ? new ClientInviteTransaction(key, request, target, this.context, events)
        : new ClientNonInviteTransaction(key, request, target, this.context, events);
    this.clients.set(key, tx);
    tx.onTerminated(() => {
      if (this.clients.get(key) === tx) this.clients.delete(key);
    });
    tx.start();
    return tx;
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), or undefined (then the TU answers 481). */
  inviteFor(cancel: SipRequest): ServerInviteTransaction | undefined {
    const tx = this.servers.get(serverKey(cancel, 'INVITE'));
    return tx instanceof ServerInviteTransaction ? tx : undefined;
  }

  /** Where the responses of the server transaction this response belongs to go, when it is still known. */
  replyTargetFor(response: SipResponse): Target | undefined {
    const key = serverKeyOfResponse(response);
    return key === undefined ? undefined : this.servers.get(key)?.replyTo;
  }

  /** Live transactions, for metrics and tests. */
  count(): { server: number; client: number } {
    return { server: this.servers.size, client: this.clients.size };
  }

  close(): void {
    this.unsubscribe();
    for (const tx of [...this.servers.values(), ...this.clients.values()]) tx.terminate();
  }

  private receive(inbound: Inbound): void {
    const { message } = inbound;
    if (message.kind === 'response') {
      this.receiveResponse(message, inbound);
      return;
    }
    if (message.method === 'ACK') {
      this.receiveAck(message, inbound);
      return;
    }
    const key = serverKey(message);
    const existing = this.servers.get(key);
    if (existing) {
      existing.receiveRetransmission();
      return;
    }
    const { source } = inbound;
    const replyTo = responseTarget(message.via[0], source);
    const cap = this.overCap(source.address);
    if (cap) {
      this.refuse(message, replyTo);
      this.options.onRefused?.(message, source, cap);
      return;
    }
    const reliable = source.transport !== 'UDP';
    const tx =
      message.method === 'INVITE'
        ? new ServerInviteTransaction(key, message, reliable, this.context, replyTo)
        : new ServerNonInviteTransaction(key, message, reliable, this.context, replyTo);
    this.servers.set(key, tx);
    this.countOpen(tx, source.address);
    tx.onTerminated(() => {
      if (this.servers.get(key) === tx) this.servers.delete(key);
    });
    if (tx instanceof ServerInviteTransaction && this.options.sendTrying !== false) tx.respond(createResponse(message, 100));
    for (const listener of this.requestListeners) listener({ request: message, source: inbound.source, transaction: tx });
  }

  private overCap(address: string): 'total' | 'per-source' | undefined {
    const total = this.options.maxServerTransactions ?? 0;
    if (total > 0 && this.servers.size >= total) return 'total';
    const perSource = this.options.maxServerTransactionsPerSource ?? 0;
    if (perSource > 0 && (this.openBySource.get(address) ?? 0) >= perSource && !(this.options.isTrusted?.(address) ?? false)) return 'per-source';
    return undefined;
  }

  /** Counts the transaction as open for its source until its final response or its end. */
  private countOpen(tx: ServerTransaction, address: string): void {
    if (!this.options.maxServerTransactionsPerSource) return;
    this.openBySource.set(address, (this.openBySource.get(address) ?? 0) + 1);
    let open = true;
    const settle = (state: string) => {
      if (!open || state === 'trying' || state === 'proceeding') return;
      open = false;
      const left = (this.openBySource.get(address) ?? 1) - 1;
      if (left <= 0) this.openBySource.delete(address);
      else this.openBySource.set(address, left);
    };
    tx.onStateChange(settle);
  }

  private refuse(request: SipRequest, replyTo: Target): void {
    const response = createResponse(request, 503, {
      reason: 'Too Many Transactions',
      toTag: newTag(),
      headers: [{ name: 'Retry-After', value: String(this.options.retryAfterSeconds ?? 5) }],
    });
    // The transport reports a failed send; a stateless refusal has nothing to retry.
    this.context.sender.sendResponse(response, replyTo).catch((err: unknown) => void err);
  }

  private receiveAck(ack: SipRequest, inbound: Inbound): void {
    const tx = this.servers.get(serverKey(ack));
    // RFC 2543 peers: the ACK also has to carry the To tag of our response (§17.2.3).
    const tagMatches = hasTransactionBranch(ack) || tx?.response?.to.params.get('tag') === ack.to.params.get('tag');
    if (tx instanceof ServerInviteTransaction && tagMatches && tx.receiveAck()) return;
    for (const listener of this.ackListeners) listener(inbound);
  }

  private receiveResponse(response: SipResponse, inbound: Inbound): void {
    const tx = this.clients.get(clientKey(response));
    if (tx) tx.receive(response);
    else for (const listener of this.strayListeners) listener(inbound);
  }
}
