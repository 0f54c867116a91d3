/**
 * Storage for closing a lost node's calls: the `call_nodes` heartbeats (one row per gateway
 * instance, written every CALL_HEARTBEAT_SECONDS) and the open CDRs they hold. Services call this,
 * never SQL. Imports nothing from other modules.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { type CdrRow, rowsOf } from './cdrs.repository';
import { SqlRepository } from './sql.repository';

/** An instance that holds open CDRs, with its last heartbeat (all null: it never beat, or its row is gone). */
export interface OpenCallsHolder {
  instance: string;
  node_id: string | null;
  heartbeat_at: Date | null;
  interval_seconds: number | null;
}

/** An open CDR of a lost instance, as closing it needs. */
export type OpenCdr = Pick<CdrRow, 'id' | 'answered_at' | 'max_seconds'>;

/** A CDR just closed for a lost node: what releasing its hold and channel needs. */
export type ClosedCdr = Pick<
  CdrRow,
  'id' | 'account_id' | 'reservation_id' | 'trunk_id' | 'trunk_channel' | 'duration_seconds' | 'answered_at' | 'rate_per_minute' | 'connection_fee' | 'first_increment' | 'next_increment'
>;

@Injectable()
export class LostCallsRepository extends SqlRepository {
  constructor(@InjectDataSource() db: DataSource) {
    super(db);
  }

  /** The instance's heartbeat (one row per instance, whatever its number of calls). */
  async beat(instance: string, nodeId: string, at: Date, intervalSeconds: number): Promise<void> {
    await this.db.query(
      `INSERT INTO call_nodes (instance, node_id, heartbeat_at, interval_seconds) VALUES ($1, $2, $3, $4)
       ON CONFLICT (instance) DO UPDATE SET heartbeat_at = GREATEST(call_nodes.heartbeat_at, EXCLUDED.heartbeat_at), interval_seconds = EXCLUDED.interval_seconds`,
      [instance, nodeId, at, intervalSeconds],
    );
  }

  /** Every instance but `except` that holds open CDRs, with its heartbeat (cdrs_open_node_idx: open rows only). */
  async holders(except: string): Promise<OpenCallsHolder[]> {
    return (await this.db.query(
      `SELECT o.instance, n.node_id, n.heartbeat_at, n.interval_seconds
       FROM (SELECT DISTINCT node_instance AS instance FROM cdrs WHERE status = 'open' AND node_instance IS NOT NULL) o
       LEFT JOIN call_nodes n ON n.instance = o.instance
       WHERE o.instance <> $1`,
      [except],
    )) as OpenCallsHolder[];
  }

  async openCdrs(instance: string): Promise<OpenCdr[]> {
    return (await this.db.query(`SELECT id, answered_at, max_seconds FROM cdrs WHERE status = 'open' AND node_instance = $1`, [instance])) as OpenCdr[];
  }

  /**
   * Closes open CDRs (status `pending`, hung up by the gateway with `reason`) at the given ends, in
   * one statement. Only rows still open change, so two sweepers (or the node's own late
   * completion) never close one twice; the answer is the rows this call closed.
   */
  async close(ends: { id: string; endedAt: Date; durationSeconds: number }[], reason: string): Promise<ClosedCdr[]> {
    if (!ends.length) return [];
    const r = (await this.db.query(
      `UPDATE cdrs SET status = 'pending', ended_at = u.ended, duration_seconds = u.duration, hangup_by = 'gateway', sip_reason = $4
       FROM unnest($1::uuid[], $2::timestamptz[], $3::int[]) AS u(id, ended, duration)
       WHERE cdrs.id = u.id AND cdrs.status = 'open'
       RETURNING cdrs.id, cdrs.account_id, cdrs.reservation_id, cdrs.trunk_id, cdrs.trunk_channel, cdrs.duration_seconds, cdrs.answered_at,
                 cdrs.rate_per_minute, cdrs.connection_fee, cdrs.first_increment, cdrs.next_increment`,
      [ends.map((e) => e.id), ends.map((e) => e.endedAt), ends.map((e) => e.durationSeconds), reason],
    )) as [ClosedCdr[], number] | ClosedCdr[];
    return rowsOf(r);
  }

  /** Forgets instances whose heartbeat is older than `before` and that hold no open CDR. */
  async prune(before: Date): Promise<number> {
    const r = (await this.db.query(
      `DELETE FROM call_nodes n WHERE n.heartbeat_at < $1
         AND NOT EXISTS (SELECT 1 FROM cdrs c WHERE c.status = 'open' AND c.node_instance = n.instance) RETURNING n.instance`,
      [before],
    )) as [unknown[], number] | unknown[];
    return rowsOf(r).length;
  }
}
