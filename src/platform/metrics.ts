/**
 * Prometheus metrics: one registry per application (so two gateways in one test process do not
 * share counters), the process's default metrics, and `GET /metrics` in the text exposition format.
 * Modules register their own metrics on the injected registry (see calls/call-metrics.ts).
 * `/metrics` needs no API key, as scrapers expect; who may read it (METRICS_ALLOW, by default
 * loopback and private networks, and optionally METRICS_BEARER_TOKEN) is checked in front of it
 * (endpoint-access.ts).
 */
import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { Public } from '../auth/roles.decorator';

export const METRICS = Symbol('METRICS');

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  return registry;
}

@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS) private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** SIP methods that get their own label value; anything else is `other` (label cardinality stays bounded whatever peers send). */
export const SIP_METHOD_LABELS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);
export const AUTH_FAILURE_REASONS = [
  'wrong-response',
  'unknown-user',
  'stale-nonce',
  'invalid-nonce',
  'replayed-nonce-count',
  'uri-mismatch',
  'wrong-realm',
  'unsupported-algorithm',
  'qop-required',
  'source-blocked',
  'username-blocked',
  'user-disabled',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];
export interface CdrQueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  /** Age of the oldest job waiting to be rated, 0 when none waits. */
  oldestWaitingSeconds: number;
}

const methodLabel = (method: string) => (SIP_METHOD_LABELS.has(method) ? method : 'other');
/** A code as its number when it is a SIP status (100-699), else `other`. */
const codeLabel = (code: number) => (Number.isInteger(code) && code >= 100 && code <= 699 ? String(code) : 'other');
/** Collectors that ask Redis must not hold a scrape for long: past this, the gauge keeps its last value. */
const COLLECT_TIMEOUT_MS = 2000;

function within<T>(p: Promise<T>): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((ok) => setTimeout(() => ok(undefined), COLLECT_TIMEOUT_MS).unref())]).catch(() => undefined);
}

/**
 * The gateway's own metrics beyond the calls' (calls/call-metrics.ts): SIP messages on the wire by
 * method and status (retransmissions included: they are traffic), REGISTER outcomes and the
 * bindings stored, digest authentication failures, and the CDR rating queue. The modules that know
 * feed them: the SIP server each message, the registrar and authenticator their outcomes, and the
 * registrar and billing modules register the sources read at scrape time (they live in Redis,
 * shared: every node reports the same value; aggregate with max(), not sum()).
 */
export class GatewayMetrics {
  private readonly requests: Counter<'direction' | 'method'>;
  private readonly responses: Counter<'direction' | 'method' | 'class' | 'code'>;
  private readonly registers: Counter<'code'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly captureDrops: Counter<'reason'>;
  private registrationSource?: () => Promise<number>;
  private cdrQueueSource?: () => Promise<CdrQueueDepth>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'gateway_sip_requests_total', help: 'SIP requests received (direction="in") and sent ("out"), by method; retransmissions included', labelNames: ['direction', 'method'], registers });
    this.responses = new Counter({
      name: 'gateway_sip_responses_total',
      help: 'SIP responses received (direction="in") and sent ("out"), by the method answered (CSeq), class (1xx..6xx) and code; retransmissions included',
      labelNames: ['direction', 'method', 'class', 'code'],
      registers,
    });
    this.registers = new Counter({ name: 'gateway_sip_register_total', help: 'REGISTER requests answered, by final status (200 bound/refreshed/removed, 401 challenged, 403 refused, 423 interval too brief...)', labelNames: ['code'], registers });
    this.authFailures = new Counter({ name: 'gateway_sip_auth_failures_total', help: 'Digest authentication failures (REGISTER and INVITE), by reason', labelNames: ['reason'], registers });
    for (const reason of AUTH_FAILURE_REASONS) this.authFailures.inc({ reason }, 0);
    this.captureDrops = new Counter({ name: 'gateway_sip_capture_dropped_total', help: 'SIP messages not captured (backlog: Redis too slow; store: Redis refused; hep: the HEP send failed)', labelNames: ['reason'], registers });
    for (const reason of ['backlog', 'store', 'hep']) this.captureDrops.inc({ reason }, 0);
    const metrics = this;
    new Gauge({
      name: 'gateway_registrations_active',
      help: 'Contact bindings stored (every node shares them: aggregate with max)',
      registers,
      async collect() {
        const n = metrics.registrationSource && (await within(metrics.registrationSource()));
        if (n !== undefined) this.set(n);
      },
    });
    let depth: Promise<CdrQueueDepth | undefined> | undefined;
    // One Redis read per scrape for both gauges.
    const readDepth = () => {
      depth ??= within(metrics.cdrQueueSource ? metrics.cdrQueueSource() : Promise.resolve(undefined)).finally(() => setTimeout(() => (depth = undefined), 100).unref());
      return depth;
    };
    new Gauge({
      name: 'gateway_cdr_queue_jobs',
      help: 'CDR rating jobs by state (waiting, active, delayed: a retry after a failure); shared by every node',
      labelNames: ['state'],
      registers,
      async collect() {
        const d = await readDepth();
        if (!d) return;
        this.set({ state: 'waiting' }, d.waiting);
        this.set({ state: 'active' }, d.active);
        this.set({ state: 'delayed' }, d.delayed);
      },
    });
    new Gauge({
      name: 'gateway_cdr_queue_oldest_waiting_seconds',
      help: 'Age of the oldest CDR waiting to be rated (0 when none waits): the rating lag',
      registers,
      async collect() {
        const d = await readDepth();
        if (d) this.set(d.oldestWaitingSeconds);
      },
    });
  }

  /** One SIP message on the wire. */
  sipMessage(direction: 'in' | 'out', message: { kind: 'request'; method: string } | { kind: 'response'; status: number; cseq: { method: string } }): void {
    if (message.kind === 'request') this.requests.inc({ direction, method: methodLabel(message.method) });
    else {
      const code = codeLabel(message.status);
      this.responses.inc({ direction, method: methodLabel(message.cseq.method), class: code === 'other' ? 'other' : `${code[0]}xx`, code });
    }
  }

  registerAnswered(status: number): void {
    this.registers.inc({ code: codeLabel(status) });
  }

  captureDropped(reason: 'backlog' | 'store' | 'hep', count = 1): void {
    this.captureDrops.inc({ reason }, count);
  }

  authFailed(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  /** The registrar's count of stored bindings, read at scrape time. */
  readRegistrationsFrom(source: () => Promise<number>): void {
    this.registrationSource = source;
  }

  /** The billing queue's depth, read at scrape time. */
  readCdrQueueFrom(source: () => Promise<CdrQueueDepth>): void {
    this.cdrQueueSource = source;
  }
}
