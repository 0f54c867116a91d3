/**
 * Storage of the cdrs table: every query billing makes on it. Services call this, never SQL.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SqlRepository, Tx } from './sql.repository';

@Injectable()
export class CdrsRepository extends SqlRepository {
  constructor(@InjectDataSource() db: DataSource) {
    super(db);
  }

  /** Σ cost of the account's rated CDRs that started at or after `since` (decimal string). */
  async ratedCostSince(tx: Tx, accountId: string, since: Date): Promise<string> {
    const [{ spent }] = (await tx.query(
      `SELECT coalesce(sum(cost), 0)::numeric(20,6)::text AS spent FROM cdrs WHERE account_id = $1 AND status = 'rated' AND started_at >= $2`,
      [accountId, since],
    )) as { spent: string }[];
    return spent;
  }
}
