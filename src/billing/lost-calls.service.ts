/**
 * Closing the calls of a gateway node that died, on the billing side: the per-instance heartbeat
 * in PostgreSQL, finding instances whose heartbeat lapsed, and closing their open CDRs so that each
 * is rated once and its credit hold released at once (lost-calls.ts has the rules). The trunk
 * channels they held are the B2BUA's to free (calls/lost-calls-sweep.ts), as is the Redis
 * heartbeat that confirms a lapse. Imports nothing from calls/ or other domain modules.
 */
import { Injectable, Logger } from '@nestjs/common';
import { CdrsService } from './cdrs.service';
import { hasLapsed, lostCallEnd, lostReason, nodeOfInstance } from './lost-calls';
import { type ClosedCdr, LostCallsRepository, type OpenCallsHolder } from './lost-calls.repository';

/** An instance's row in call_nodes is forgotten this long after its last heartbeat, once it holds no open CDR. */
const FORGET_AFTER_MS = 3600_000;

export type { ClosedCdr, OpenCallsHolder };

@Injectable()
export class LostCallsService {
  private readonly log = new Logger('lost-calls');

  constructor(
    private readonly repo: LostCallsRepository,
    private readonly cdrs: CdrsService,
  ) {}

  /** This instance is alive at `at` and beats every `intervalSeconds`. */
  beat(instance: string, nodeId: string, at: Date, intervalSeconds: number): Promise<void> {
    return this.repo.beat(instance, nodeId, at, intervalSeconds);
  }

  /**
   * Instances other than `self` holding open CDRs that PostgreSQL says are lost: their heartbeat
   * lapsed or is unknown, or (sameNode) they are an earlier start of this node's NODE_ID, which
   * a restarted node knows to be dead. The caller confirms a lapse with the Redis heartbeat.
   */
  async lostHolders(self: string, now: Date, sameNode: string | null): Promise<{ holder: OpenCallsHolder; earlierStart: boolean }[]> {
    const holders = await this.repo.holders(self);
    return holders.flatMap((holder) => {
      const earlierStart = sameNode !== null && nodeOfInstance(holder.instance) === sameNode;
      const lapsed = holder.heartbeat_at === null || hasLapsed(holder.heartbeat_at, holder.interval_seconds!, now);
      return earlierStart || lapsed ? [{ holder, earlierStart }] : [];
    });
  }

  /**
   * Closes the open CDRs of a lost instance: each ends at its last heartbeat (lostCallEnd), hung
   * up by the gateway with reason `node lost: <NODE_ID>`, becomes `pending`; then, for the rows this
   * call closed (never one twice), the call's hold becomes its exact cost and the CDR is queued for
   * rating. Answers the closed rows (their trunk channels are still to free).
   */
  async close(holder: OpenCallsHolder): Promise<ClosedCdr[]> {
    const open = await this.repo.openCdrs(holder.instance);
    const ends = open.map((c) => ({ id: c.id, ...lostCallEnd(c.answered_at!, holder.heartbeat_at, c.max_seconds) }));
    const nodeId = holder.node_id ?? nodeOfInstance(holder.instance);
    const closed = await this.repo.close(ends, lostReason(nodeId));
    await Promise.all(
      closed.map((c) => {
        const rate = c.rate_per_minute === null ? null : { ratePerMinute: c.rate_per_minute, connectionFee: c.connection_fee ?? '0', firstIncrement: c.first_increment ?? 1, nextIncrement: c.next_increment ?? 1 };
        const reservation = c.reservation_id && c.account_id ? { id: c.reservation_id, accountId: c.account_id, rate } : null;
        return this.cdrs.ended(c, reservation);
      }),
    );
    if (closed.length) this.log.warn({ node: nodeId, instance: holder.instance, lastHeartbeat: holder.heartbeat_at?.toISOString() ?? null, calls: closed.length }, 'calls of a lost node closed');
    return closed;
  }

  /** Forgets long-dead instances that hold nothing any more. */
  prune(now: Date): Promise<number> {
    return this.repo.prune(new Date(now.getTime() - FORGET_AFTER_MS));
  }
}
