/**
 * Call metrics for Prometheus, per direction and trunk (trunk name, "" for calls that use none):
 * calls in progress, attempts, answered calls, ASR and ACD (also derivable in PromQL from the
 * counters and the duration histogram; exported ready-made because operators read them directly),
 * post-dial delay, and how attempts ended. One attempt is one INVITE towards a callee.
 * Also the calls refused by a fraud limit or the blocked destinations, per limit
 * (gateway_fraud_refusals_total{reason}: allowedCountries, maxRatePerMinute, dailySpendLimit,
 * maxConcurrentCalls, blockedDestinations; each starts at 0 so alerts see the series at once).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface CallLabels {
  direction: 'outbound' | 'inbound' | 'internal';
  trunk: string;
}

type Key = string;
export const FRAUD_REASONS = ['allowedCountries', 'maxRatePerMinute', 'dailySpendLimit', 'maxConcurrentCalls', 'blockedDestinations'] as const;
const keyOf = (l: CallLabels): Key => `${l.direction}|${l.trunk}`;

export class CallMetrics {
  private readonly inProgress: Gauge<'direction' | 'trunk'>;
  private readonly attempts: Counter<'direction' | 'trunk'>;
  private readonly answeredCount: Counter<'direction' | 'trunk'>;
  private readonly endings: Counter<'direction' | 'trunk' | 'disposition'>;
  private readonly duration: Histogram<'direction' | 'trunk'>;
  private readonly pdd: Histogram<'direction' | 'trunk'>;
  private readonly fraud: Counter<'reason'>;
  private readonly tally = new Map<Key, { labels: CallLabels; attempts: number; answered: number; seconds: number }>();

  constructor(registry: Registry, mediaStats?: () => { sessions: number; portPairsFree: number }) {
    const labelNames = ['direction', 'trunk'] as const;
    this.inProgress = new Gauge({ name: 'gateway_calls_in_progress', help: 'Calls set up or answered, not yet ended', labelNames, registers: [registry] });
    this.attempts = new Counter({ name: 'gateway_call_attempts_total', help: 'INVITEs sent towards a callee (trunk or device set)', labelNames, registers: [registry] });
    this.answeredCount = new Counter({ name: 'gateway_calls_answered_total', help: 'Attempts answered with 2xx', labelNames, registers: [registry] });
    this.endings = new Counter({
      name: 'gateway_call_attempt_endings_total',
      help: 'Attempts by CDR disposition',
      labelNames: ['direction', 'trunk', 'disposition'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'gateway_call_duration_seconds',
      help: 'Answered call duration',
      labelNames,
      buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    });
    this.pdd = new Histogram({
      name: 'gateway_post_dial_delay_seconds',
      help: 'From the INVITE reaching the gateway to the first ringing or answer sent back',
      labelNames,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    });
    this.fraud = new Counter({
      name: 'gateway_fraud_refusals_total',
      help: 'Calls refused by an account fraud limit or the blocked destinations, by limit',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of FRAUD_REASONS) this.fraud.inc({ reason }, 0);
    const tally = this.tally;
    new Gauge({
      name: 'gateway_call_asr_ratio',
      help: 'Answer-seizure ratio since start: answered / attempts',
      labelNames,
      registers: [registry],
      collect() {
        for (const t of tally.values()) if (t.attempts > 0) this.set(t.labels, t.answered / t.attempts);
      },
    });
    new Gauge({
      name: 'gateway_call_acd_seconds',
      help: 'Average call duration of answered calls since start',
      labelNames,
      registers: [registry],
      collect() {
        for (const t of tally.values()) if (t.answered > 0) this.set(t.labels, t.seconds / t.answered);
      },
    });
    if (mediaStats) {
      new Gauge({
        name: 'gateway_media_sessions',
        help: 'RTP relay sessions open',
        registers: [registry],
        collect() {
          this.set(mediaStats().sessions);
        },
      });
      new Gauge({
        name: 'gateway_media_port_pairs_free',
        help: 'RTP port pairs left in RTP_PORT_MIN..RTP_PORT_MAX',
        registers: [registry],
        collect() {
          this.set(mediaStats().portPairsFree);
        },
      });
    }
  }

  private entry(labels: CallLabels) {
    const k = keyOf(labels);
    let t = this.tally.get(k);
    if (!t) {
      t = { labels: { ...labels }, attempts: 0, answered: 0, seconds: 0 };
      this.tally.set(k, t);
    }
    return t;
  }

  fraudRefused(reason: string): void {
    this.fraud.inc({ reason });
  }

  callStarted(labels: CallLabels): void {
    this.inProgress.inc({ ...labels });
  }

  callEnded(labels: CallLabels): void {
    this.inProgress.dec({ ...labels });
  }

  attempted(labels: CallLabels): void {
    this.attempts.inc({ ...labels });
    this.entry(labels).attempts++;
  }

  postDialDelay(labels: CallLabels, seconds: number): void {
    this.pdd.observe({ ...labels }, seconds);
  }

  attemptEnded(labels: CallLabels, disposition: string, answeredSeconds?: number): void {
    this.endings.inc({ ...labels, disposition });
    if (disposition === 'answered') {
      this.answeredCount.inc({ ...labels });
      const t = this.entry(labels);
      t.answered++;
      t.seconds += answeredSeconds ?? 0;
      this.duration.observe({ ...labels }, answeredSeconds ?? 0);
    }
  }
}
