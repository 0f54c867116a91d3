/**
 * The billing queues on BullMQ: `cdr-rating` (one job per CDR, job id = CDR id) and `number-rental`
 * (a repeatable job). Owns the BullMQ Queue and Worker objects and their Redis connections; every
 * queue key carries config.redisPrefix. Processors only decode the payload and call a service.
 * Workers, the pending-CDR sweep and the rental schedule run only where config.roles has 'worker'.
 * Imports nothing from other domain modules.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../platform/config';
import { createRedis } from '../platform/redis';
import { hashTagged } from '../platform/redis-keys';
import type { CdrQueuePort } from './cdr-queue.port';
import { CdrsService, RateOutcome, RatingError } from './cdrs.service';
import { RentalService } from './rental.service';

export const CDR_QUEUE = 'cdr-rating';
export const RENTAL_QUEUE = 'number-rental';
/** CDRs still pending after this long are queued again by the sweep. */
export const SWEEP_AFTER_SECONDS = 60;
export const SWEEP_EVERY_MS = 30_000;
export const RATING_ATTEMPTS = 8;
export const RATING_CONCURRENCY = 64;
/** CDRs rated per transaction at most: the jobs in flight on one worker are rated together. */
export const RATING_BATCH = 100;

export interface CdrJob {
  cdrId: string;
}

/**
 * The BullMQ key prefix for this deployment: `<REDIS_PREFIX>:{bull}`, hash-tagged so every queue key
 * is in one Redis Cluster slot (BullMQ's scripts span a queue's keys; src/platform/redis-keys.ts).
 * Before issue 15 it was `<REDIS_PREFIX>:bull`: jobs left there after an upgrade are not lost, the
 * sweep queues their pending CDRs again from PostgreSQL.
 */
export const bullPrefix = (config: Pick<AppConfig, 'redisPrefix'>) => hashTagged(config.redisPrefix, 'bull');

/** Producer side: exists in every process (the API and SIP roles record CDRs). */
@Injectable()
export class BillingQueues implements CdrQueuePort, OnApplicationShutdown {
  readonly connection: Redis;
  readonly cdrs: Queue<CdrJob>;
  readonly rental: Queue;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.connection = createRedis(config.redisUrl, 'billing-queues');
    const prefix = bullPrefix(config);
    this.cdrs = new Queue<CdrJob>(CDR_QUEUE, {
      connection: this.connection,
      prefix,
      defaultJobOptions: {
        attempts: RATING_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 10_000 },
      },
    });
    this.rental = new Queue(RENTAL_QUEUE, { connection: this.connection, prefix, defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 60_000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } });
  }

  async enqueue(cdrIds: string[]): Promise<void> {
    for (let i = 0; i < cdrIds.length; i += 1000) {
      await this.cdrs.addBulk(cdrIds.slice(i, i + 1000).map((cdrId) => ({ name: 'rate', data: { cdrId }, opts: { jobId: cdrId } })));
    }
  }

  /**
   * For the sweep: CDRs still pending long after they were queued. Their job may be gone (Redis lost
   * it), or failed without the CDR being marked (a crash in between): add it again or retry it.
   */
  async requeue(cdrIds: string[]): Promise<void> {
    const missing: string[] = [];
    for (const id of cdrIds) {
      const state = await this.cdrs.getJobState(id);
      if (state === 'unknown') missing.push(id);
      else if (state === 'failed') await (await this.cdrs.getJob(id))?.retry('failed');
      else if (state === 'completed') {
        await this.cdrs.remove(id);
        missing.push(id);
      }
    }
    await this.enqueue(missing);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cdrs.close();
    await this.rental.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

/**
 * Gathers the CDR ids of the jobs a worker runs at once and rates them in one transaction: a
 * commit per CDR is what limited throughput, not rating. Each job still succeeds or fails alone.
 */
export class RatingBatcher {
  private waiting = new Map<string, { resolve: (r: RateOutcome) => void; reject: (e: Error) => void }[]>();
  private inFlight = 0;

  constructor(
    private readonly rateMany: (ids: string[]) => Promise<Map<string, RateOutcome | Error>>,
    private readonly maxBatch = RATING_BATCH,
    private readonly maxInFlight = 2,
  ) {}

  rate(cdrId: string): Promise<RateOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.set(cdrId, [...(this.waiting.get(cdrId) ?? []), { resolve, reject }]);
      // Let the other jobs fetched in this tick join; a batch already running lets more gather.
      if (this.inFlight < this.maxInFlight) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight || this.waiting.size === 0) return;
    const batch = [...this.waiting].slice(0, this.maxBatch);
    for (const [id] of batch) this.waiting.delete(id);
    this.inFlight++;
    try {
      const results = await this.rateMany(batch.map(([id]) => id));
      for (const [id, waiters] of batch) {
        const r = results.get(id);
        for (const w of waiters) r === undefined ? w.reject(new Error(`no rating result for ${id}`)) : r instanceof Error ? w.reject(r) : w.resolve(r);
      }
    } catch (e) {
      for (const [, waiters] of batch) for (const w of waiters) w.reject(e as Error);
    } finally {
      this.inFlight--;
      if (this.waiting.size) setImmediate(() => void this.flush());
    }
  }
}

/** Consumer side: the rating and rental workers, and the sweep. */
@Injectable()
export class BillingWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('billing-worker');
  private workers: Worker[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private connection?: Redis;
  private batcher?: RatingBatcher;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queues: BillingQueues,
    private readonly cdrs: CdrsService,
    private readonly rental: RentalService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.roles.includes('worker')) return;
    await this.start();
  }

  /** Starts the workers (also used by tests and the bench, which run them in-process on demand). */
  async start(options: { concurrency?: number; sweep?: boolean } = {}): Promise<void> {
    this.connection = createRedis(this.config.redisUrl, 'billing-workers');
    this.batcher = new RatingBatcher((ids) => this.cdrs.rateMany(ids));
    const prefix = bullPrefix(this.config);
    const rating = new Worker<CdrJob>(CDR_QUEUE, (job) => this.rateJob(job), { connection: this.connection, prefix, concurrency: options.concurrency ?? RATING_CONCURRENCY });
    rating.on('error', (err) => this.log.warn({ err: err.message }, 'rating worker error'));
    const rentals = new Worker(RENTAL_QUEUE, async () => this.rental.chargeMonth(), { connection: this.connection, prefix, concurrency: 1 });
    rentals.on('error', (err) => this.log.warn({ err: err.message }, 'rental worker error'));
    this.workers = [rating, rentals];
    await this.scheduleRentals();
    if (options.sweep !== false) {
      this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
      this.sweepTimer.unref();
      void this.sweep();
    }
  }

  /**
   * Decodes the job and calls the service. Only a RatingError (no rate, no account: retrying cannot
   * help) marks the CDR `failed`, here, before BullMQ moves the job to failed, so a crash in between
   * leaves the CDR pending (the sweep retries it), never a failed job behind a CDR that still says
   * pending. Any other error (the database or Redis away for a while) is transient: BullMQ retries
   * with backoff, and once the attempts are spent the CDR stays `pending` and the sweep queues it
   * again every SWEEP_EVERY_MS, for as long as the fault lasts. It is never marked failed for it.
   */
  private async rateJob(job: Job<CdrJob>): Promise<unknown> {
    const cdrId = job.data?.cdrId;
    if (typeof cdrId !== 'string') throw new UnrecoverableError('job without a cdrId');
    try {
      return await this.batcher!.rate(cdrId);
    } catch (e) {
      const err = e as Error;
      if (e instanceof RatingError) {
        await this.cdrs.markFailed(cdrId, err.message);
        throw new UnrecoverableError(err.message);
      }
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (last) this.log.error({ err: err.message, cdrId, attempts: job.attemptsMade + 1 }, 'CDR not rated after its last attempt; it stays pending and the sweep queues it again');
      else this.log.warn({ err: err.message, cdrId, attempt: job.attemptsMade + 1 }, 'CDR not rated (transient); retrying');
      throw e;
    }
  }

  /**
   * Hourly: a month's rentals are charged within the first hour of the month, and a number assigned
   * later in the month within the hour. Upserting is idempotent across nodes, and the sweep repeats
   * it so a Redis that lost the schedule gets it back.
   */
  private scheduleRentals() {
    return this.queues.rental.upsertJobScheduler('monthly-rental', { pattern: '7 * * * *' }, { name: 'charge' });
  }

  private async sweep(): Promise<void> {
    try {
      await this.scheduleRentals();
      const n = await this.cdrs.requeuePending(SWEEP_AFTER_SECONDS);
      if (n) this.log.warn({ requeued: n }, 'pending CDRs queued again');
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'pending-CDR sweep failed');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers = [];
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }
}
