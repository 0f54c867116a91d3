/** Feeds the CDR queue gauges (platform/metrics.ts: depth by state, age of the oldest waiting job) from BullMQ, read at scrape time. */
import { Injectable } from '@nestjs/common';
import { GatewayMetrics } from '../platform/metrics';
import { BillingQueues } from './billing-queues';

@Injectable()
export class CdrQueueMetrics {
  constructor(queues: BillingQueues, metrics: GatewayMetrics) {
    metrics.readCdrQueueFrom(async () => {
      const [counts, [oldest]] = await Promise.all([queues.cdrs.getJobCounts('waiting', 'active', 'delayed'), queues.cdrs.getJobs(['waiting'], 0, 0, true)]);
      return {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        oldestWaitingSeconds: oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0,
      };
    });
  }
}
