/**
 * This node's part in "no CDR lost to a crash" (issue 15, docs/scaling.md "When a node dies"):
 * it names this start of the node (an instance: NODE_ID plus a random boot id), writes each
 * answered call's CDR start record (`open`, through CdrsService.open) and has it completed in
 * place at the end, and refreshes the instance's heartbeat every CALL_HEARTBEAT_SECONDS:
 *
 *   Redis       <REDIS_PREFIX>:calls:node:<instance>  = last beat (epoch ms), expiring after two
 *               intervals. One key per node, one SET per interval: no Redis command per call.
 *   PostgreSQL  call_nodes(instance) heartbeat_at: one row per node, one upsert per interval,
 *               whatever its number of calls. A lost node's calls end at this time.
 *
 * A survivor (lost-calls-sweep.ts) closes an instance's open CDRs once both heartbeats lapsed.
 * While this node's PostgreSQL heartbeat fails, it writes no start record (the call's CDR is
 * written at its end, as before): an open CDR whose node never beat would be closed at once.
 * Runs only where ROLES has `sip` (the nodes that take calls).
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type CallSummary, CdrsService } from '../billing/cdrs.service';
import { instanceOf, LAPSE_HEARTBEATS } from '../billing/lost-calls';
import { LostCallsService } from '../billing/lost-calls.service';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { newId } from '../platform/ids';
import { REDIS } from '../platform/redis';
import type { Call } from './call';

/** The Redis heartbeat key of an instance (one key: nothing to keep together on a Redis Cluster). */
export const heartbeatKey = (prefix: string, instance: string) => `${prefix}:calls:node:${instance}`;

@Injectable()
export class CallHeartbeat implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('call-heartbeat');
  /** This start of this node: its open CDRs carry it. */
  readonly instance: string;
  /** The start record of each answered call: its CDR id, and whether the row is durable. */
  private readonly starts = new WeakMap<Call, Promise<{ id: string; durable: boolean }>>();
  private timer?: NodeJS.Timeout;
  private redisBeat?: Promise<void>;
  private pgBeat?: Promise<void>;
  /** The last PostgreSQL heartbeat succeeded: start records may be written. */
  private beatStored = false;

  constructor(
    private readonly cdrs: CdrsService,
    private readonly lost: LostCallsService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.instance = instanceOf(config.node.id, randomBytes(4).toString('hex'));
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.roles.includes('sip')) return;
    // Not awaited: a store that is away at start must not hold the start up (no start records until a beat lands).
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.config.node.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  /** Heartbeats stop with the process; the row stays until a sweep forgets it (it holds no open CDR after a drain). */
  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * One heartbeat, in Redis and PostgreSQL, each on its own: a store that hangs (ioredis queues
   * commands while Redis is away) neither doubles its beats nor holds up the other's.
   */
  async beat(now = new Date()): Promise<void> {
    const seconds = this.config.node.heartbeatSeconds;
    this.redisBeat ??= this.redis
      .set(heartbeatKey(this.config.redisPrefix, this.instance), String(now.getTime()), 'PX', LAPSE_HEARTBEATS * seconds * 1000)
      .then(
        () => undefined,
        (e: Error) => this.log.warn({ err: e.message }, 'Redis heartbeat not written'),
      )
      .finally(() => (this.redisBeat = undefined));
    this.pgBeat ??= this.lost
      .beat(this.instance, this.config.node.id, now, seconds)
      .then(
        () => void (this.beatStored = true),
        (e: Error) => {
          this.beatStored = false;
          this.log.warn({ err: e.message }, 'PostgreSQL heartbeat not written: no CDR start records until it is');
        },
      )
      .finally(() => (this.pgBeat = undefined));
    await Promise.all([this.redisBeat, this.pgBeat]);
  }

  /** The call was answered: write its CDR start record (in the background; the call does not wait). */
  answered(call: Call): void {
    const summary = call.answeredSummary();
    if (!summary || !this.beatStored) return;
    const id = newId();
    const durable = this.cdrs
      .open({ ...summary, cdrId: id }, { node: this.instance, maxSeconds: call.facts.reservation?.maxSeconds ?? null, trunkChannel: call.trunkChannel ?? null })
      .then(
        () => true,
        (e: Error) => {
          this.log.warn({ err: e.message, callId: call.callId, cdrId: id }, 'CDR start record not written: the CDR is written at the end');
          return false;
        },
      );
    this.starts.set(call, durable.then((ok) => ({ id, durable: ok })));
  }

  /** The call's end summary, pointing at its start record when it has one (CdrsService.record completes it). */
  async atEnd(call: Call, summary: CallSummary): Promise<CallSummary> {
    const start = summary.answeredAt ? this.starts.get(call) : undefined;
    if (!start) return summary;
    const { id, durable } = await start;
    return { ...summary, cdrId: id, startRecorded: durable };
  }
}
